"""W3: concept encoding throughput — batched (sith.encode.encode_pool) vs one concept at a time.

SpLiCE-style encoding calls the text tower once per concept; ``encode_pool`` sends
``--batch-size`` concepts per forward pass. Both run the same model (open_clip
ViT-B-32 text tower, random weights: throughput does not depend on the weights) on
the same concepts, on CPU, and both produce unit rows; the benchmark checks that all
variants' embeddings agree before reporting.

Every open_clip tokenizer pads to 77 tokens, so on CPU a forward pass costs the
same per concept whether batched or not. Because the text tower is causal and pools
at the end-of-text token, cutting the padded context to the longest sequence in the
batch gives the same embedding exactly; the ``truncated`` rows measure a handle that
does this (a prototype here, for ``sith.load``'s ``encode_text``).

    OMP_NUM_THREADS=1 python benchmarks/bench_encode.py \\
        --pool ../shared/dictionaries/splice_laion.txt --n 2000

Writes ``benchmarks/results/encode.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from sith.encode import encode_pool, read_pool
from sith.encode.pools import Pool
from sith.io import save_json, sha256_text
from sith.load.weights import ModelInfo

RESULTS = Path(__file__).parent / "results" / "encode.json"


class _OpenClipText:
    """Minimal text handle on an open_clip model (used when sith.load.load_clip is absent)."""

    def __init__(self, model_name: str) -> None:
        import open_clip

        self.model = open_clip.create_model(model_name, pretrained=None).eval()
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.device = torch.device("cpu")
        self.info = ModelInfo(model_name, "", "open_clip", "random")

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            return self.model.encode_text(self.tokenizer(texts))


class TruncatedText:
    """Wraps an open_clip model: same embeddings, context cut to the batch's longest text.

    Exact for causal text towers pooled at the EOT token (``text_pool_type == 'argmax'``):
    position ``p`` attends only to positions ``<= p``, so padding after the EOT token
    never reaches it.
    """

    def __init__(self, handle: Any) -> None:
        model = handle.model
        if model.attn_mask is None or getattr(model, "text_pool_type", "argmax") != "argmax":
            raise SystemExit("context truncation is exact only for causal, argmax-pooled towers")
        self.model, self.device, self.info = model, torch.device("cpu"), handle.info
        self.tokenizer = handle.tokenizer

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        from open_clip.transformer import text_global_pool

        m = self.model
        tokens = self.tokenizer(texts)
        n = int(tokens.argmax(dim=-1).max()) + 1
        tokens = tokens[:, :n]
        with torch.no_grad():
            x = m.token_embedding(tokens) + m.positional_embedding[:n]
            x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask[:n, :n]))
            x = text_global_pool(x, tokens, "argmax")
            return x @ m.text_projection


def load_handle(model_name: str) -> tuple[Any, str]:
    """``(handle, how)``: sith's own LoadedClip when available, else a minimal wrapper."""
    try:
        from sith.load import load_clip
    except ImportError:
        return _OpenClipText(model_name), "open_clip.create_model(pretrained=None) wrapper"
    return load_clip(model_name, "", device="cpu"), "sith.load.load_clip(pretrained='')"


def one_at_a_time(clip: Any, concepts: list[str]) -> torch.Tensor:
    """The SpLiCE way: one forward pass per concept."""
    rows = []
    with torch.no_grad():
        for c in concepts:
            rows.append(F.normalize(clip.encode_text([c]).float(), dim=-1))
    return torch.cat(rows)


def timed(fn, *args, **kwargs) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pool", required=True, help="concept pool text file (one concept a line)")
    p.add_argument("--n", type=int, default=2000, help="concepts to encode batched")
    p.add_argument("--n-single", type=int, default=500,
                   help="concepts to encode one at a time (a prefix of the --n concepts)")
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
    n_single = min(args.n_single, len(concepts))
    clip, how = load_handle(args.model)
    one_at_a_time(clip, concepts[:8])  # warm-up
    encode_pool(clip, Pool("warm", concepts[:16], "", full.path), data_dir=None, progress=False)

    trunc = TruncatedText(clip)
    n = len(concepts)
    rows: dict[str, dict[str, Any]] = {}
    embs: dict[str, torch.Tensor] = {}
    for name, handle in (("full context", clip), ("truncated", trunc)):
        single, t_single = timed(one_at_a_time, handle, concepts[:n_single])
        enc, t_batch = timed(encode_pool, handle, pool, data_dir=None,
                             batch_size=args.batch_size, progress=False)
        embs[f"single, {name}"], embs[f"batched, {name}"] = single, enc.embeddings[:n_single]
        rows[f"one at a time, {name}"] = {"concepts": n_single, "seconds": t_single}
        rows[f"batched bs={args.batch_size}, {name}"] = {"concepts": n, "seconds": t_batch}
    for row in rows.values():
        row["concepts_per_s"] = row["concepts"] / row["seconds"]
    ref = embs["single, full context"]
    max_err = max(float((e - ref).abs().max()) for e in embs.values())
    spl = rows["one at a time, full context"]["concepts_per_s"]
    rate = {k: v["concepts_per_s"] for k, v in rows.items()}
    result = {
        "benchmark": "W3 encode",
        "model": args.model,
        "weights": "random (pretrained=None)",
        "handle": how,
        "device": "cpu",
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "pool": str(args.pool),
        "n_batched": len(concepts),
        "n_single": n_single,
        "batch_size": args.batch_size,
        "rows": {k: {kk: round(vv, 3) for kk, vv in v.items()} for k, v in rows.items()},
        "speedup_vs_splice_single": {k: round(v / spl, 2) for k, v in rate.items()},
        "target_speedup": 10.0,
        "max_abs_diff_vs_single_full_context": max_err,
        "load_average_1min": os.getloadavg()[0],
    }
    save_json(result, args.out)
    print(f"{'mode':<36}{'concepts':>9}{'seconds':>9}{'concepts/s':>12}{'vs SpLiCE':>11}")
    for k, v in rows.items():
        print(f"{k:<36}{v['concepts']:>9}{v['seconds']:>9.2f}{v['concepts_per_s']:>12.1f}"
              f"{v['concepts_per_s'] / spl:>10.2f}x")
    print(f"max |diff| between variants {max_err:.2e} (target >= 10x); wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
