"""A random-weight ViT-L-14 explained from nothing, timed per stage, with a projection to full size.

Runs the three commands a user runs, each as its own process (its progress bar shows),
and records each stage's wall time and peak resident memory (``wait4``)::

    sith image-mean        --model-name ViT-L-14 --pretrained none --images SHARDS
    sith encode-dictionary --model-name ViT-L-14 --pretrained none --dictionary POOL
    sith decompose         --model-name ViT-L-14 --pretrained none --dictionary POOL --layers 0
    sith decompose         ... --layers 1 2 ... 23          (all 24 layers in all)

The shards are photo-like JPEGs (benchmarks/bench_throughput.py), the pool the seed's
concept lists padded with two-word phrases. Decomposing layer 0 alone first separates the
start-up (model load, dictionary load) from the time per layer. From the measured steady
rates it projects the full-size run: ``--project-images`` images (CC12M: ~10M) and each
of ``--project-concepts`` dictionary sizes, assuming the time per layer grows with the
number of atoms (the solver's cost is the targets × atoms products), on this machine,
and on a GPU from the H200 numbers in ``benchmarks/results/gpu.json`` where they exist.

CPU here, at reduced counts (a full run is hours)::

    OMP_NUM_THREADS=2 python benchmarks/real_size.py --images 64 --concepts 5000

writes ``benchmarks/results/real_size.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from sith.io import save_json

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.photos import make_pool, make_shards  # noqa: E402

RESULTS = HERE / "results" / "real_size.json"
GPU = HERE / "results" / "gpu.json"
NOT_MEASURED = (
    "GPU: the image tower's limit and the image mean's steady rate (gpu.json's 512 images include "
    "start-up and were 256-px random JPEGs decoded in the main process), a real-size ViT-L-14 run on a "
    "GPU; this machine: the full-size run itself (projected from the rates measured here)")


def stage(cmd: list[str]) -> dict[str, Any]:
    """Run one command (stderr shown: its progress bar); wall seconds, peak RSS (MiB), its output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode})")
    return {"command": " ".join(cmd[1:]), "wall_s": round(wall, 2),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "output": out.strip().splitlines()[-1:]}


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def project(measured: dict[str, Any], n_images: int, n_concepts: int, layers: int) -> dict[str, Any]:
    """Seconds per stage at full size from steady rates and start-ups."""
    img, enc, dec = measured["image_mean"], measured["encode"], measured["decompose"]
    image_s = img["startup_s"] + n_images / img["steady_images_per_s"]
    encode_s = enc["startup_s"] + n_concepts / enc["steady_concepts_per_s"]
    decompose_s = dec["startup_s"] + layers * dec["per_layer_s"] * n_concepts / dec["atoms"]
    total = image_s + encode_s + decompose_s
    return {"images": n_images, "concepts": n_concepts, "image_mean_s": round(image_s),
            "encode_s": round(encode_s), "decompose_s": round(decompose_s), "total_s": round(total),
            "total": hours(total)}


def project_gpu(n_images: int, n_concepts: int, layers: int) -> dict[str, Any] | None:
    """The same projection from the H200 end-to-end numbers (rates include start-up)."""
    if not GPU.exists():
        return None
    e2e = json.loads(GPU.read_text()).get("end_to_end")
    if not e2e:
        return None
    img_rate = e2e["images"] / e2e["image_mean_s"]
    enc_rate = e2e["concepts"] / e2e["encode_s"]
    per_layer = e2e["decompose_s"] / e2e["layers"]
    image_s, encode_s = n_images / img_rate, n_concepts / enc_rate
    decompose_s = layers * per_layer * n_concepts / e2e["concepts"]
    total = image_s + encode_s + decompose_s
    return {"gpu": json.loads(GPU.read_text()).get("gpu"), "images": n_images, "concepts": n_concepts,
            "image_rate_with_startup": round(img_rate, 1), "concept_rate_with_startup": round(enc_rate),
            "image_mean_s": round(image_s), "encode_s": round(encode_s), "decompose_s": round(decompose_s),
            "total_s": round(total), "total": hours(total)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-name", default="ViT-L-14")
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--concepts", type=int, default=5000)
    p.add_argument("--layers", type=int, default=24, help="layers decomposed (0..L-1)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=16, help="images per forward pass")
    p.add_argument("--photo", type=int, nargs=2, default=(512, 384))
    p.add_argument("--project-images", type=int, default=10_000_000, help="CC12M: about ten million")
    p.add_argument("--project-concepts", type=int, nargs="+", default=[100_000, 500_000])
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    load0 = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="sith-real-size-") as tmp:
        scratch = Path(tmp)
        shards = make_shards(scratch / "shards", args.images, 32, tuple(args.photo))
        pool = scratch / "pool.txt"
        make_pool(pool, args.concepts)
        model = [sys.executable, "-m", "sith"]
        common = ["--model-name", args.model_name, "--pretrained", "none", "--data-dir",
                  str(scratch / "data"), "--device", args.device]
        dec = [*model, "decompose", *common, "--dictionary", str(pool), "--layers"]
        steps = [
            ("image_mean", [*model, "image-mean", *common, "--images", shards,
                            "--batch-size", str(args.batch_size)]),
            ("encode", [*model, "encode-dictionary", *common, "--dictionary", str(pool)]),
            ("decompose_first", [*dec, "0"]),
            ("decompose_rest", [*dec, *[str(i) for i in range(1, args.layers)]]),
        ]
        runs: dict[str, Any] = {}
        for name, cmd in tqdm(steps, desc="real-size run", unit="stage"):
            runs[name] = stage(cmd)
            tqdm.write(f"{name}: {runs[name]['wall_s']} s, peak {runs[name]['peak_rss_mib']} MiB")
        data = scratch / "data" / "models" / args.model_name / "none"
        img_meta = json.loads((data / "image_mean.json").read_text())
        enc_meta = json.loads(next((data / "dictionaries").glob("*.json")).read_text())
    img, enc = runs["image_mean"], runs["encode"]
    first, rest = runs["decompose_first"]["wall_s"], runs["decompose_rest"]["wall_s"]
    per_layer = (rest - first) / max(1, args.layers - 2)
    steady_img = img_meta["rank0"]["steady_images_per_s"] or img_meta["count"] / img_meta["seconds"]
    measured = {
        "image_mean": {**img, "images": img_meta["count"], "job_s": img_meta["seconds"],
                       "steady_images_per_s": steady_img,
                       "startup_s": round(img["wall_s"] - img_meta["count"] / steady_img, 2),
                       "stage_seconds": img_meta["rank0"]["stage_seconds"]},
        "encode": {**enc, "concepts": enc_meta["n_concepts"], "encode_s": enc_meta["encode_seconds"],
                   "steady_concepts_per_s": round(enc_meta["n_concepts"] / enc_meta["encode_seconds"], 1),
                   "startup_s": round(enc["wall_s"] - enc_meta["encode_seconds"], 2)},
        "decompose": {"first_layer": runs["decompose_first"], "other_layers": runs["decompose_rest"],
                      "layers": args.layers, "atoms": args.concepts, "per_layer_s": round(per_layer, 2),
                      "startup_s": round(first - per_layer, 2),
                      "peak_rss_mib": max(runs["decompose_first"]["peak_rss_mib"],
                                          runs["decompose_rest"]["peak_rss_mib"])},
    }
    measured["total_wall_s"] = round(sum(r["wall_s"] for r in runs.values()), 1)
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": "OMP_NUM_THREADS=2 python benchmarks/real_size.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": len(os.sched_getaffinity(0)), "torch_threads": torch.get_num_threads(),
                    "device": args.device, "torch": torch.__version__,
                    "loadavg_1min": {"start": load0, "end": round(os.getloadavg()[0], 2)}},
        "model": args.model_name, "measured": measured,
        "projected_here": [project(measured, args.project_images, n, args.layers)
                           for n in args.project_concepts],
        "projected_gpu_from_gpu_json": [project_gpu(args.project_images, n, args.layers)
                                        for n in args.project_concepts],
        "not_measured": NOT_MEASURED,
    }
    save_json(result, args.out)
    print(json.dumps({k: result[k] for k in ("projected_here", "projected_gpu_from_gpu_json")}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
