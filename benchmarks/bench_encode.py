"""W3: concept encoding throughput — sith.encode.encode_pool vs SpLiCE's one concept at a time.

Three ways to embed the same concepts with the same model (open_clip ViT-B-32 loaded by
``sith.load.load_clip(model, "")``: random weights, since throughput does not depend on
them), on CPU:

(a) ``splice``: SpLiCE's way, one forward pass per concept through open_clip's own
    ``model.encode_text(tokenizer([c]))``, i.e. the full 77-token padded context;
(b) ``encode_pool``: the package path, ``sith.encode.encode_pool`` with ``--batch-size``
    concepts per forward pass;
(c) ``sith single``: sith's ``clip.encode_text([c])`` one concept at a time.

``sith.load.openclip.encode_text`` cuts the context to the batch's longest text (exact for
causal towers pooled at a token), so (c)/(a) is the gain from truncation alone and
(b)/(c) the gain from batching on top of it. All variants' unit embeddings are compared
(max abs difference) before anything is reported.

    OMP_NUM_THREADS=1 python benchmarks/bench_encode.py \\
        --pool splice_laion.txt --n 2000 --n-single 300

Writes ``benchmarks/results/encode.json`` (atomically) and prints a table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sith.encode import encode_pool, read_pool
from sith.encode.pools import Pool
from sith.io import save_json, sha256_text
from sith.load import load_clip
from sith.load.clip import LoadedClip

RESULTS = Path(__file__).parent / "results" / "encode.json"
TARGET_SPEEDUP = 10.0


def splice_single(clip: LoadedClip, concepts: list[str]) -> Tensor:
    """(a) ``(n, e)`` unit rows, one open_clip ``model.encode_text`` call (77 tokens) per concept."""
    rows = []
    with torch.no_grad():
        for c in concepts:
            tokens = clip.tokenizer([c]).to(clip.device)
            rows.append(F.normalize(clip.model.encode_text(tokens).float(), dim=-1))
    return torch.cat(rows)


def sith_single(clip: LoadedClip, concepts: list[str]) -> Tensor:
    """(c) ``(n, e)`` unit rows, one sith ``clip.encode_text([c])`` call per concept."""
    return torch.cat([F.normalize(clip.encode_text([c]), dim=-1) for c in concepts])


def sith_pool(clip: LoadedClip, pool: Pool, *, batch_size: int) -> Tensor:
    """(b) ``(N, e)`` unit rows from the package path ``encode_pool`` (no cache)."""
    enc = encode_pool(clip, pool, data_dir=None, batch_size=batch_size, progress=False)
    return enc.embeddings


def timed(fn: Callable[[], Tensor]) -> tuple[Tensor, float]:
    """``(fn(), wall seconds)``."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--pool", required=True, help="concept pool text file (one concept a line)")
    p.add_argument("--n", type=int, default=2000, help="concepts to encode with encode_pool")
    p.add_argument(
        "--n-single",
        type=int,
        default=300,
        help="concepts to encode one at a time (a prefix of the --n concepts)",
    )
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--model", default="ViT-B-32")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    full = read_pool(args.pool, data_dir=Path("."))
    concepts = full.concepts[: args.n]
    pool = Pool(full.name, concepts, sha256_text(concepts), full.path)
    n, n_single = len(concepts), min(args.n_single, len(concepts))
    clip = load_clip(args.model, "", device="cpu")

    warm = concepts[:8]  # first calls allocate; keep them out of the timings
    splice_single(clip, warm)
    sith_single(clip, warm)
    sith_pool(clip, Pool("warm", concepts[:16], "", full.path), batch_size=args.batch_size)

    single = concepts[:n_single]
    runs: dict[str, tuple[Callable[[], Tensor], int]] = {
        "(a) splice: open_clip encode_text, 1/pass, 77 tok": (
            partial(splice_single, clip, single),
            n_single,
        ),
        "(c) sith clip.encode_text, 1/pass, truncated": (partial(sith_single, clip, single), n_single),
        f"(b) sith encode_pool, bs={args.batch_size}, truncated": (
            partial(sith_pool, clip, pool, batch_size=args.batch_size),
            n,
        ),
    }
    rows: dict[str, dict[str, float]] = {}
    embs: dict[str, Tensor] = {}
    for name, (fn, count) in runs.items():
        emb, secs = timed(fn)
        embs[name] = emb[:n_single]
        rows[name] = {"concepts": count, "seconds": secs, "concepts_per_s": count / secs}

    names = list(runs)
    ref = embs[names[0]]
    diffs = {k: float((e - ref).abs().max()) for k, e in embs.items() if k != names[0]}
    max_err = max(diffs.values())
    if max_err > 1e-4:
        raise SystemExit(f"variants disagree: max |diff| {max_err:.2e} vs (a); not reporting")
    rate = {k: v["concepts_per_s"] for k, v in rows.items()}
    a, c, b = (rate[k] for k in names)  # insertion order: (a), (c), (b)
    ratios = {"b_over_a": b / a, "c_over_a": c / a, "b_over_c": b / c}
    result = {
        "benchmark": "W3 encode",
        "model": args.model,
        "weights": "random (sith.load.load_clip(model, ''))",
        "device": "cpu",
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "pool": str(args.pool),
        "n_batched": n,
        "n_single": n_single,
        "batch_size": args.batch_size,
        "rows": {k: {kk: round(vv, 3) for kk, vv in v.items()} for k, v in rows.items()},
        "ratios": {k: round(v, 2) for k, v in ratios.items()},
        "target_b_over_a": TARGET_SPEEDUP,
        "meets_target": ratios["b_over_a"] >= TARGET_SPEEDUP,
        "max_abs_diff_vs_a_unit_rows": diffs,
        "load_average_1min": os.getloadavg()[0],
    }
    save_json(result, args.out)
    print(f"{'mode':<52}{'concepts':>9}{'seconds':>9}{'concepts/s':>12}{'vs (a)':>9}")
    for k, v in rows.items():
        print(
            f"{k:<52}{v['concepts']:>9}{v['seconds']:>9.2f}{v['concepts_per_s']:>12.1f}"
            f"{v['concepts_per_s'] / a:>8.2f}x"
        )
    print(
        f"(b)/(a) = {ratios['b_over_a']:.1f}x (target >= {TARGET_SPEEDUP:.0f}x), "
        f"truncation (c)/(a) = {ratios['c_over_a']:.1f}x, batching (b)/(c) = "
        f"{ratios['b_over_c']:.1f}x; max |diff| of unit rows vs (a) {max_err:.2e}; "
        f"wrote {args.out}"
    )
    return result


if __name__ == "__main__":
    main()
