"""Synthetic decompositions in the real file format (for tests and the explorer benchmark)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from sith.decompose import DecompositionConfig, LayerDecomposition
from sith.paths import model_dir

MODEL = {"model_name": "synthetic", "pretrained": "x", "source": "test", "fingerprint": "f00d"}


def synthetic_decomposition(
    layer: int,
    *,
    n_heads: int = 4,
    rank: int = 8,
    k: int = 5,
    concepts: list[str] | None = None,
    model: dict | None = None,
    method: str = "comp-0.3",
    sv_type: str = "right",
    seed: int = 0,
    **options: object,
) -> LayerDecomposition:
    """A random but well-formed :class:`LayerDecomposition` (weights sorted, σ descending);
    ``options``: further :class:`DecompositionConfig` fields (e.g. ``layers``, ``head_width``)."""
    g = torch.Generator().manual_seed(seed * 1000 + layer)
    concepts = concepts or [f"concept {i}" for i in range(max(50, 2 * k))]
    n = len(concepts)
    indices = torch.stack([torch.randperm(n, generator=g)[:k] for _ in range(n_heads * rank)]).reshape(
        n_heads, rank, k
    )
    scores = torch.rand(n_heads, rank, k, generator=g).sort(dim=-1, descending=True).values
    S = torch.rand(n_heads, rank, generator=g).sort(dim=-1, descending=True).values + 0.1
    S[:, 3] = S[:, 2] * 0.995  # one nearly tied pair per head
    tied = torch.zeros(n_heads, rank, dtype=torch.bool)
    tied[:, 2:4] = True
    used = torch.unique(indices).tolist()
    return LayerDecomposition(
        scores=scores,
        indices=indices,
        singular_values=S,
        fidelity=torch.rand(n_heads, rank, generator=g),
        polarity=torch.ones(n_heads, rank, dtype=torch.int8),
        tied=tied,
        concepts={int(i): concepts[int(i)] for i in used},
        layer=layer,
        config=DecompositionConfig(
            **{k_: v for k_, v in (model or MODEL).items() if k_ != "source"},
            **{
                "layers": (layer,),
                "sv_type": sv_type,
                "rank": rank,
                "head_width": rank,
                "method": method,
                "sparsity": k,
                "dictionary": "synthetic",
                "dictionary_name": "synthetic",
                "dictionary_hash": "abc",
                **options,
            },
        ),
    )


def write_set(data_dir: str | Path, layers: list[int], *, model: dict | None = None, **kw) -> list[Path]:
    """Save synthetic decompositions where ``sith decompose`` would (seed file names)."""
    model = dict(model or MODEL)
    paths = []
    for layer in layers:
        d = synthetic_decomposition(layer, model=model, **kw)
        path = model_dir(data_dir, model["model_name"], model["pretrained"]) / "decompositions"
        paths.append(d.save(path / d.config.file_name(layer)))
    return paths


def write_grounding(
    folder: str | Path, dec: LayerDecomposition, image: str | Path, comp: tuple[int, int]
) -> Path:
    """A ``sith ground`` layer file (``sith-grounding/1``) for ``dec`` in ``folder``: component
    ``comp = (head, index)`` has ``image`` three times as a top image (patch terms 0–3 on a
    2 × 2 grid) and once as a bottom image; every other component has none."""
    from sith.ground.save import FORMAT
    from sith.io import save_pt

    H, r = dec.singular_values.shape
    k, (h, i) = 4, comp
    index = torch.full((2, H, r, k), -1, dtype=torch.int64)
    values = torch.zeros(2, H, r, k)
    patches = torch.zeros(2, H, r, k, 4)
    index[0, h, i, :3], values[0, h, i, :3], patches[0, h, i, :3] = 0, 1.5, torch.arange(4.0)
    index[1, h, i, 0], values[1, h, i, 0], patches[1, h, i, 0] = 0, -0.7, -torch.arange(4.0)
    record = {
        "format": FORMAT,
        "layer": dec.layer,
        "config": {"model": asdict(dec.model), "source": "synthetic"},
        "images": [str(Path(image).resolve())],
        "index": index,
        "values": values,
        "patches": patches,
        "patch_grid": [2, 2],
        "singular_values": dec.singular_values.clone(),
    }
    return save_pt(record, Path(folder) / f"layer-{dec.layer:02d}.pt")
