"""Image-mean throughput: ``sith image-mean`` on 1 process vs N under torchrun (issue 10).

Generates webdataset shards in the seed's layout (``%06d.jpg`` + ``%06d.txt`` samples,
random RGB JPEGs of ``--image-size`` pixels) unless ``--shards`` names real ones, then runs
the command exactly as a user would, once per process count::

    python -m sith -q image-mean --images SHARDS --data-dir TMP ...                 # 1 process
    torchrun --standalone --nproc_per_node N -m sith -q image-mean --images SHARDS ...

and reports images/s two ways: end to end (process start to exit, model loading
included) and in the job (``seconds`` recorded in ``image_mean.json``: from the first
shard listing to the reduced mean). The means of every run are compared (max abs
difference) before anything is reported.

CPU (this machine)::

    OMP_NUM_THREADS=1 python benchmarks/bench_image_mean.py --nprocs 1 2

GPU (one node, one process per GPU; nccl)::

    python benchmarks/bench_image_mean.py --device cuda --precision bf16 --nprocs 1 8 \\
        --model-name ViT-B-32 --pretrained laion2b_s34b_b79k --shards 'cc12m/{00000..00031}.tar'

Writes ``benchmarks/results/image_mean.json`` (atomically) and prints a table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from sith.io import save_json

RESULTS = Path(__file__).parent / "results" / "image_mean.json"


def make_shards(folder: Path, n_shards: int, per_shard: int, size: int) -> str:
    """``folder/{00000..}.tar`` with ``per_shard`` random JPEG samples each; returns the brace pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    key = 0
    for s in range(n_shards):
        with tarfile.open(folder / f"{s:05d}.tar", "w") as tar:
            for _ in range(per_shard):
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG")
                for name, blob in ((f"{key:06d}.jpg", buf.getvalue()), (f"{key:06d}.txt", b"caption")):
                    info = tarfile.TarInfo(name)
                    info.size = len(blob)
                    tar.addfile(info, io.BytesIO(blob))
                key += 1
    return str(folder / f"{{00000..{n_shards - 1:05d}}}.tar")


def command(nproc: int, args: argparse.Namespace, shards: str, data_dir: Path) -> list[str]:
    launcher = [sys.executable, "-m", "sith"] if nproc == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
        "-m", "sith"]
    flags = ["-q", "image-mean", "--images", shards, "--data-dir", str(data_dir),
             "--device", args.device, "--precision", args.precision,
             "--batch-size", str(args.batch_size), "--workers", str(args.workers)]
    if args.model_name:
        flags += ["--model-name", args.model_name]
    if args.pretrained is not None:
        flags += ["--pretrained", args.pretrained]
    return launcher + flags


def run_once(nproc: int, args: argparse.Namespace, shards: str, scratch: Path) -> dict[str, Any]:
    data_dir = scratch / f"data-{nproc}"
    cmd = command(nproc, args, shards, data_dir)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    mean_path = Path(done.stdout.strip().splitlines()[-1])
    meta = json.loads(mean_path.with_suffix(".json").read_text())
    return {
        "nproc": nproc,
        "command": " ".join(cmd),
        "images": meta["count"],
        "skipped": meta["skipped"],
        "wall_s": round(wall, 3),
        "job_s": meta["seconds"],
        "images_per_s_end_to_end": round(meta["count"] / wall, 2),
        "images_per_s_job": round(meta["count"] / meta["seconds"], 2),
        "mean": torch.load(mean_path, weights_only=True),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nprocs", type=int, nargs="+", default=[1, 2], help="process counts to compare")
    p.add_argument("--shards", default=None, help="existing shards (pattern); default: generate")
    p.add_argument("--n-shards", type=int, default=8)
    p.add_argument("--per-shard", type=int, default=96)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--model-name", default=None, help="default: the built-in organism")
    p.add_argument("--pretrained", default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2, help="runs per process count (best is reported)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="sith-bench-") as tmp:
        scratch = Path(tmp)
        shards = args.shards or make_shards(scratch / "shards", args.n_shards, args.per_shard,
                                            args.image_size)
        runs: list[dict[str, Any]] = []
        for _ in range(args.repeats):
            for n in args.nprocs:
                runs.append(run_once(n, args, shards, scratch))
    ref = runs[0]["mean"]
    max_diff = max(float((r["mean"] - ref).abs().max()) for r in runs)
    if max_diff > 1e-5:
        raise SystemExit(f"the means differ between runs by {max_diff:.2e}; not reporting speed")
    best = {n: max((r for r in runs if r["nproc"] == n), key=lambda r: r["images_per_s_job"])
            for n in args.nprocs}
    base = best[args.nprocs[0]]["images_per_s_job"]
    for r in runs:
        r.pop("mean")
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__,
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "settings": {k: v for k, v in vars(args).items() if k != "out"} | {"out": str(args.out)},
        "max_abs_diff_between_means": max_diff,
        "runs": runs,
        "best": {str(n): {k: best[n][k] for k in ("images", "wall_s", "job_s", "images_per_s_end_to_end",
                                                  "images_per_s_job")} | {
                     "speedup_job": round(best[n]["images_per_s_job"] / base, 3)} for n in args.nprocs},
    }
    save_json(result, args.out)
    print(f"{'procs':>5} {'images':>7} {'wall s':>8} {'job s':>8} {'img/s e2e':>10} {'img/s job':>10} "
          f"{'×':>6}")
    for n in args.nprocs:
        b = result["best"][str(n)]
        print(f"{n:>5} {b['images']:>7} {b['wall_s']:>8.2f} {b['job_s']:>8.2f} "
              f"{b['images_per_s_end_to_end']:>10.1f} {b['images_per_s_job']:>10.1f} "
              f"{b['speedup_job']:>6.2f}")
    print(f"means agree to {max_diff:.1e}; wrote {args.out}")


if __name__ == "__main__":
    main()
