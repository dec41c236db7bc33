"""Seed parity: `sith decompose` vs an independent dense re-statement of docs/method.md §2–§5.

For each model, every (head, vector, slot) pick of sith's file is compared with the
reference (tests/decompose/seed_reference.py: numpy, one vector at a time, scipy NNLS).
Reports the share of identical picks (same concept in the same slot), the share of
vectors with the same concept set, and the largest score difference over matching picks.

    python benchmarks/parity.py --pool ../shared/dictionaries/textspan_google_3498_english.txt --n-words 2000

Models: the built-in organism (its own pool and world image mean) and a random-weight
open_clip ViT-B-32 (the first ``--n-words`` words of ``--pool``; its image mean is a fixed
random vector, the same for both sides — parity needs equal inputs, not a meaningful mean).
Writes benchmarks/results/parity.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "decompose"))

import seed_reference as ref  # noqa: E402

import sith.api as sith  # noqa: E402
from sith.decompose import LayerDecomposition  # noqa: E402
from sith.pipeline import Workspace  # noqa: E402


def compare(dec: LayerDecomposition, scores: np.ndarray, indices: np.ndarray) -> dict:
    ours_i, ours_s = dec.indices.numpy(), dec.scores.numpy().astype(np.float64)
    same = ours_i == indices
    sets = [
        set(a.tolist()) == set(b.tolist())
        for a, b in zip(ours_i.reshape(-1, ours_i.shape[-1]), indices.reshape(-1, indices.shape[-1]))
    ]
    diff = np.abs(ours_s - scores)[same]
    return {
        "picks": int(same.size),
        "same_pick": float(same.mean()),
        "same_set": float(np.mean(sets)),
        "max_score_diff_on_same": float(diff.max()) if diff.size else None,
    }


def run_model(
    name: str,
    model: str,
    pretrained: str,
    dictionary: str | None,
    data: Path,
    layers: list[int],
    method: str,
    k: int,
) -> dict:
    t0 = time.perf_counter()
    ws = sith.workspace(model, pretrained, data_dir=data, progress=False)
    if model is not None:  # a random model has no images: a fixed vector, the same for both sides
        m = torch.nn.functional.normalize(
            torch.randn(ws.weights.d_embed, generator=torch.Generator().manual_seed(0)), dim=0
        )
        ws = Workspace(
            ws.clip,
            data_dir=data,
            progress=False,
            image_mean_source=lambda c: (0.5 * m, {"source": "parity: fixed random vector"}),
        )
    files = ws.decompose(
        ws.request(layers=layers, method=method, sparsity=k, dictionary=dictionary)
    )
    t_sith = time.perf_counter() - t0
    E = ws.encoded(dictionary).embeddings.double().numpy()
    m = ws.image_mean().double().numpy()
    out = {"model": name, "method": method, "sparsity": k, "n_concepts": int(E.shape[0]), "layers": {}}
    t0 = time.perf_counter()
    for layer, path in zip(layers, files):
        dec = LayerDecomposition.load(path)
        s, i = ref.decompose_layer(ws.weights, layer, E, m, rank=dec.rank, k=k, method=method)
        out["layers"][layer] = compare(dec, s, i)
    out["seconds_sith"], out["seconds_reference"] = t_sith, time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=Path, required=True, help="word list for the ViT-B-32 run")
    ap.add_argument("--n-words", type=int, default=2000)
    ap.add_argument("--methods", nargs="+", default=["comp-0.3", "omp", "mp", "topk"])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "parity.json")
    args = ap.parse_args()
    torch.manual_seed(0)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        words = [w.strip() for w in args.pool.read_text(encoding="utf-8").splitlines() if w.strip()]
        pool = data / "words2000.txt"
        pool.write_text("\n".join(words[: args.n_words]) + "\n", encoding="utf-8")
        for method in args.methods:
            results.append(run_model("organism", None, None, None, data, [2, 3, 4, 5], method, 5))
            print(json.dumps(results[-1]), flush=True)
            results.append(
                run_model("ViT-B-32 random", "ViT-B-32", "none", str(pool), data, [11], method, 5)
            )
            print(json.dumps(results[-1]), flush=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
