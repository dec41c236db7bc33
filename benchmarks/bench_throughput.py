"""Image mean and dictionary encoding against the model's own speed, in one run, one table.

For each model (random weights: the built-in organism, ``ViT-B-32``, ``ViT-L-14``):

(a) **image limit** — the image tower alone on pre-decoded, pre-resized pixels already on
    the device, at the command's precision, best of ``--image-batches``;
(b) **``sith image-mean``** — the command as a user runs it, on generated webdataset shards
    of photo-like JPEGs (``--photo`` pixels, quality 90: smooth colour fields, shapes,
    grain), with its default workers: images/s with start-up (process start to exit) and in
    steady state (after the first batch, from ``image_mean.json``), and the stage times the
    command records (worker read/decode/resize/collate, main wait/transfer/forward);
(c) **text limit** — the text tower alone on pre-tokenised, length-sorted batches, against
    **``sith encode-dictionary``** on a pool cut from the seed's concept lists
    (``/work/shared/dictionaries``, padded to ``--pool-size`` with two-word phrases; big
    models encode an every-k-th-line subset of it, ``--concepts``).

Per image and per concept it also times each stage alone in this process (read, decode,
resize, collate, transfer, forward; tokenise, forward) and names the stage that bounds
the command. Ratios are the same run's (b)/(a) and (c); the load average is recorded
because the CPU may be shared. The draft-decoding option is run once per model and its
mean compared with the default's.

One command (CPU, this machine)::

    OMP_NUM_THREADS=2 python benchmarks/bench_throughput.py

writes ``benchmarks/results/throughput.json`` and the table between the ``throughput``
markers of ``benchmarks/README.md``. On a GPU: ``--device cuda`` (bf16 with
``--precision bf16``; then the limit runs at that precision too).
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
from types import SimpleNamespace
from typing import Any

import torch

import sith.api  # noqa: F401  (registers the organism)
from sith.encode.images import autocast
from sith.encode.loader import unit_samples
from sith.encode.pixels import make_pixels
from sith.encode.sources import make_units
from sith.encode.text import length_order
from sith.io import save_json
from sith.load import load_clip
from sith.load.registry import backend

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))  # benchmarks.photos, benchmarks.throughput_report
from benchmarks.photos import SEED_DICTIONARIES, make_pool, make_shards  # noqa: E402
from benchmarks.throughput_report import (  # noqa: E402
    BEGIN,
    END,
    forward_share,
    machine,
    table,
    write_readme,
)

RESULTS = HERE / "results" / "throughput.json"
ORGANISM = "organism"
__all__ = ["BEGIN", "END", "SEED_DICTIONARIES", "image_bound", "make_pool", "make_shards"]


# --------------------------------------------------------------------------- limits


def timed(fn: Any, *, min_seconds: float, min_reps: int = 2, sync: Any = None) -> float:
    """Best seconds per call of ``fn`` after one warm-up call."""
    fn()
    best, spent, reps = float("inf"), 0.0, 0
    while reps < min_reps or spent < min_seconds:
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        dt = time.perf_counter() - t0
        best, spent, reps = min(best, dt), spent + dt, reps + 1
    return best


def image_limit(clip: Any, batches: list[int], precision: str, min_seconds: float) -> dict[str, Any]:
    """(a): images/s of the image tower on pixels already on the device, per batch size."""
    dev = torch.device(clip.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else None
    rates = {}
    for b in batches:
        x = torch.randn(b, 3, clip.image_size, clip.image_size, device=dev)

        def forward(x: torch.Tensor = x) -> None:
            with torch.no_grad(), autocast(dev, precision):
                clip.encode_images(x)

        rates[b] = b / timed(forward, min_seconds=min_seconds, sync=sync)
    best = max(rates, key=rates.get)
    return {"images_per_s": round(rates[best], 2), "best_batch": best,
            "by_batch": {str(k): round(v, 2) for k, v in rates.items()}}


def image_stages(clip: Any, shards: str, n: int, batch: int) -> dict[str, float]:
    """Milliseconds per image of each loader stage, alone in this process (one core)."""
    pixels = make_pixels(clip)
    blobs: list[bytes] = []
    t0 = time.perf_counter()
    for unit in make_units(shards):
        for _, data in unit_samples(unit):
            if data is not None:
                blobs.append(data)
        if len(blobs) >= n:
            break
    read = (time.perf_counter() - t0) / max(1, len(blobs))
    pixels.timings.clear()
    tensors = [pixels.image(b) for b in blobs]
    t0 = time.perf_counter()
    stacked = [torch.stack(tensors[i:i + batch]) for i in range(0, len(tensors), batch)]
    collate = (time.perf_counter() - t0) / len(tensors)
    dev = torch.device(clip.device)
    t0 = time.perf_counter()
    for s in stacked:
        pixels.finish(s, dev)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    transfer = (time.perf_counter() - t0) / len(tensors)
    ms = {"read": read, "decode": pixels.timings["decode"] / len(blobs),
          "resize": pixels.timings["resize"] / len(blobs), "collate": collate, "transfer": transfer}
    return {k: round(v * 1e3, 3) for k, v in ms.items()}


def text_limit(clip: Any, strings: list[str], batch: int, precision: str,
               orders: tuple[str, ...] = ("sorted", "pool_order")) -> dict[str, Any]:
    """(c) limit: concepts/s of the text tower on pre-tokenised batches (length-sorted; pool order)."""
    dev = torch.device(clip.device)
    encode = backend(clip.info.source).encode_text
    out: dict[str, Any] = {}
    for name in orders:
        order = length_order(strings) if name == "sorted" else list(range(len(strings)))
        texts = [strings[i] for i in order]
        t0 = time.perf_counter()
        tokens = [clip.tokenizer(texts[i:i + batch]).to(dev) for i in range(0, len(texts), batch)]
        tokenise = time.perf_counter() - t0

        def forward(tokens: list[torch.Tensor] = tokens) -> None:
            with torch.no_grad(), autocast(dev, precision):
                for tok in tokens:
                    encode(SimpleNamespace(model=clip.model, device=dev, tokenizer=lambda _t, tok=tok: tok),
                           ["x"] * tok.shape[0])

        forward(tokens[:1])  # warm-up
        t0 = time.perf_counter()
        forward()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        out[name] = {"concepts_per_s": round(len(texts) / seconds, 1),
                     "forward_ms_per_concept": round(seconds / len(texts) * 1e3, 4),
                     "tokenise_ms_per_concept": round(tokenise / len(texts) * 1e3, 4)}
    out["concepts"] = len(strings)
    return out


# --------------------------------------------------------------------------- the commands


def sith_command(model: str, args: argparse.Namespace, data_dir: Path) -> list[str]:
    flags = ["--data-dir", str(data_dir), "--device", args.device]
    if model != ORGANISM:
        flags += ["--model-name", model, "--pretrained", "none"]
    return flags


def run(cmd: list[str]) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return wall, done.stdout.strip().splitlines()[-1]


def image_mean_cli(model: str, args: argparse.Namespace, shards: str, data_dir: Path, batch: int,
                   decode: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "sith", "-q", "image-mean", "--images", shards, "--batch-size", str(batch),
           "--precision", args.precision, "--decode", decode, "--restart",
           *sith_command(model, args, data_dir)]
    wall, path = run(cmd)
    meta = json.loads(Path(path).with_suffix(".json").read_text())
    rank0 = meta["rank0"]
    return {"command": " ".join(cmd[1:]), "images": meta["count"], "wall_s": round(wall, 2),
            "job_s": meta["seconds"], "workers": meta["workers"],
            "images_per_s_with_startup": round(meta["count"] / wall, 2),
            "images_per_s_steady": rank0["steady_images_per_s"],
            "stage_seconds": rank0["stage_seconds"], "mean": torch.load(path, weights_only=True)}


def encode_cli(model: str, args: argparse.Namespace, pool: Path, data_dir: Path, batch: int,
               ) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "sith", "-q", "encode-dictionary", "--dictionary", str(pool),
           "--batch-size", str(batch), "--force", *sith_command(model, args, data_dir)]
    if args.device != "cpu":
        cmd += ["--precision", args.precision]
    wall, path = run(cmd)
    meta = json.loads(Path(path).with_suffix(".json").read_text())
    n = int(meta["n_concepts"])
    return {"command": " ".join(cmd[1:]), "concepts": n, "wall_s": round(wall, 2),
            "encode_s": meta["encode_seconds"], "concepts_per_s_with_startup": round(n / wall, 1),
            "concepts_per_s_steady": round(n / meta["encode_seconds"], 1)}


def image_bound(stages: dict[str, float], workers: int) -> str:
    """The stage that bounds the command: forward unless the main loop waited on the loader
    for more than a fifth of its time; then the slowest worker stage."""
    main = sum(stages[k] for k in ("wait", "transfer", "forward", "reduce"))
    if stages["wait"] <= 0.2 * main:
        return "forward" if stages["forward"] >= stages["transfer"] else "transfer"
    worker = {k: stages[k] for k in ("read", "decode", "resize", "collate")}
    return f"{max(worker, key=worker.get)} ({workers} worker{'s' if workers != 1 else ''})"


# --------------------------------------------------------------------------- one model


def bench_model(model: str, args: argparse.Namespace, shards: dict[str, str], pool: list[str],
                pool_path: Path, scratch: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    names = (None, None) if model == ORGANISM else (model, "none")
    clip = load_clip(*names, device=args.device)
    load_s = time.perf_counter() - t0
    n_images = args.images[model]
    print(f"[{model}] loaded in {load_s:.1f} s; image limit ...", flush=True)
    before = image_limit(clip, args.image_batches[model], args.precision, args.min_seconds)
    batch = before["best_batch"]
    stages = image_stages(clip, shards[model], min(64, n_images), batch)
    data_dir = scratch / f"data-{model}"
    print(f"[{model}] limit {before['images_per_s']} img/s; sith image-mean ...", flush=True)
    cli = image_mean_cli(model, args, shards[model], data_dir, batch, "pil")
    after = image_limit(clip, [batch], args.precision, args.min_seconds)
    limit = {**before, "images_per_s_before": before["images_per_s"],
             "images_per_s_after": after["images_per_s"],
             "images_per_s": round((before["images_per_s"] + after["images_per_s"]) / 2, 2)}
    stages["forward"] = round(1e3 / limit["images_per_s"], 3)
    mean = cli.pop("mean")
    if 2 * clip.image_size <= min(args.photo):  # draft mode decodes at 1/2 or less: other pixels
        draft = image_mean_cli(model, args, shards[model], data_dir, batch, "draft")
        dmean = draft.pop("mean")
        draft_option = {"images_per_s_steady": draft["images_per_s_steady"], "mean_difference_from_default": {
            "max_abs": float((dmean - mean).abs().max()),
            "cosine": float(torch.nn.functional.cosine_similarity(dmean, mean, dim=0))}}
    else:
        draft_option = {"note": f"no reduction keeps both sides >= {clip.image_size} at "
                                f"{args.photo[0]}x{args.photo[1]}: the same pixels as the default"}
    n_text = min(args.concepts[model], len(pool))
    step = max(1, len(pool) // n_text)
    subset = pool[::step][:n_text]
    sub_path = pool_path if len(subset) == len(pool) else pool_path.with_name(f"pool-{model}-{n_text}.txt")
    if sub_path != pool_path:
        sub_path.write_text("\n".join(subset) + "\n", encoding="utf-8")
    print(f"[{model}] text limit on {len(subset)} concepts ...", flush=True)
    tbefore = text_limit(clip, subset, args.text_batch, args.text_precision)
    tcli = encode_cli(model, args, sub_path, data_dir, args.text_batch)
    tafter = text_limit(clip, subset, args.text_batch, args.text_precision, ("sorted",))
    tlimit = {**tbefore, "sorted": {**tbefore["sorted"], "concepts_per_s": round(
        (tbefore["sorted"]["concepts_per_s"] + tafter["sorted"]["concepts_per_s"]) / 2, 1),
        "concepts_per_s_before": tbefore["sorted"]["concepts_per_s"],
        "concepts_per_s_after": tafter["sorted"]["concepts_per_s"]}}
    steady = cli["images_per_s_steady"] or cli["images_per_s_with_startup"]
    tstages = {"tokenise": tlimit["sorted"]["tokenise_ms_per_concept"],
               "forward": tlimit["sorted"]["forward_ms_per_concept"]}
    del clip
    return {
        "model": model, "load_s": round(load_s, 2), "loadavg_1min_after": round(os.getloadavg()[0], 2),
        "image": {
            "limit": limit, "command": cli,
            "ratio_steady": round(steady / limit["images_per_s"], 3),
            "ratio_with_startup": round(cli["images_per_s_with_startup"] / limit["images_per_s"], 3),
            "stage_ms_per_image_alone": stages,
            "bound": image_bound(cli["stage_seconds"], cli["workers"]),
            "forward_share": forward_share(cli["stage_seconds"]),
            "draft_option": draft_option,
        },
        "text": {
            "limit": tlimit, "command": tcli,
            "ratio_steady": round(tcli["concepts_per_s_steady"] / tlimit["sorted"]["concepts_per_s"], 3),
            "ratio_with_startup": round(tcli["concepts_per_s_with_startup"]
                                        / tlimit["sorted"]["concepts_per_s"], 3),
            "stage_ms_per_concept_alone": tstages,
            "bound": max(tstages, key=tstages.get),
        },
    }


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=[ORGANISM, "ViT-B-32", "ViT-L-14"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"))
    p.add_argument("--photo", type=int, nargs=2, default=(512, 384), help="width height of the JPEGs")
    p.add_argument("--per-shard", type=int, default=32)
    p.add_argument("--pool-size", type=int, default=100_000)
    p.add_argument("--images", default=f"{ORGANISM}=512,ViT-B-32=256,ViT-L-14=32",
                   help="images per model (MODEL=N,...)")
    p.add_argument("--concepts", default=f"{ORGANISM}=20000,ViT-B-32=5000,ViT-L-14=500",
                   help="concepts per model (MODEL=N,...; an every-k-th-line subset of the pool)")
    p.add_argument("--image-batches", default=f"{ORGANISM}=32:128,ViT-B-32=16:64,ViT-L-14=8:16",
                   help="batch sizes tried for the limit (MODEL=B:B,...)")
    p.add_argument("--text-batch", type=int, default=256)
    p.add_argument("--min-seconds", type=float, default=3.0, help="timing per limit measurement")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--no-readme", action="store_true")
    p.add_argument("--from-json", type=Path, default=None,
                   help="measure nothing: copy this stored result to --out and redraw the README table")
    args = p.parse_args()

    def per_model(text: str, cast: Any) -> dict[str, Any]:
        return {k: cast(v) for k, v in (item.split("=", 1) for item in text.split(","))}

    args.images = per_model(args.images, int)
    args.concepts = per_model(args.concepts, int)
    args.image_batches = per_model(args.image_batches, lambda v: [int(b) for b in v.split(":")])
    args.text_precision = args.precision if args.device != "cpu" else "fp32"
    return args


def main() -> None:
    args = parse()
    if args.from_json is not None:
        result = json.loads(args.from_json.read_text())
        if args.from_json.resolve() != args.out.resolve():
            save_json(result, args.out)
        write_readme(table(result))
        print(table(result))
        return
    load0 = round(os.getloadavg()[0], 2)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    with tempfile.TemporaryDirectory(prefix="sith-throughput-") as tmp:
        scratch = Path(tmp)
        pool_path = scratch / "pool.txt"
        pool = make_pool(pool_path, args.pool_size)
        shards = {m: make_shards(scratch / f"shards-{args.images[m]}", args.images[m], args.per_shard,
                                 tuple(args.photo)) for m in args.models}
        models = [bench_model(m, args, shards, pool, pool_path, scratch) for m in args.models]
    result = {
        "when": started, "machine": machine(args.device),
        "loadavg_1min": {"start": load0, "end": round(os.getloadavg()[0], 2)},
        "command": "OMP_NUM_THREADS=2 python benchmarks/bench_throughput.py " + " ".join(sys.argv[1:]),
        "settings": {"models": args.models, "photo": list(args.photo), "precision": args.precision,
                     "text_precision": args.text_precision, "images": args.images,
                     "concepts": args.concepts, "pool_size": args.pool_size, "text_batch": args.text_batch,
                     "image_batches": args.image_batches, "pool_source": str(SEED_DICTIONARIES)},
        "models": models,
    }
    save_json(result, args.out)
    text = table(result)
    print(text)
    if not args.no_readme:
        write_readme(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
