"""Explain the weight change's top write directions with concepts (COMP; METHOD.md §3–5).

Each kept right singular vector ``x`` of ``ΔW`` (a residual-stream direction the change
writes) becomes a joint-space target as METHOD.md §3 does for singular vectors, with the
base model's ln_post and projection: ``t = LN_post(x)·P``, normalised, minus the image mean
``m`` when ``image_mean.pt`` exists for the base model (recorded), normalised. Atoms: unit
text embeddings of the dictionary, centred (normalise, subtract the mean row, normalise).
The sign of a ΔW singular vector is arbitrary, so both polarities are explained.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sith.decompose import solve
from sith.decompose.pipeline import check_sparsity, prepare_dictionary
from sith.encode import load_image_mean
from sith.load.weights import VisionWeights
from sith.paths import image_mean_path

log = logging.getLogger(__name__)


def delta_targets(weights: VisionWeights, vectors: Tensor, image_mean: Tensor | None = None) -> Tensor:
    """``(n, e)`` unit joint-space targets of residual directions ``vectors (n, d)`` (module doc)."""
    x = vectors.float()
    ln = F.layer_norm(x, (x.shape[-1],), weights.ln_post_weight, weights.ln_post_bias, weights.ln_post_eps)
    t = F.normalize(ln @ weights.proj, dim=-1)
    if image_mean is not None:
        t = F.normalize(t - image_mean.float().reshape(1, -1), dim=-1)
    return t


def centred_atoms(embeddings: Tensor) -> Tensor:
    """Normalise rows, subtract the mean row, normalise again (METHOD.md §4)."""
    T = F.normalize(embeddings.float(), dim=-1)
    return F.normalize(T - T.mean(0, keepdim=True), dim=-1)


def explain_deltas(
    clip: Any,
    results: dict[int, dict[str, Tensor]],
    *,
    dictionary: str,
    sparsity: int = 5,
    method: str = "comp-0.3",
    data_dir: str | Path = "data",
    progress: bool = True,
) -> dict[int, list[list[dict[str, Any]]]]:
    """Per layer, per head, per kept ΔW direction: both polarities' explanations.

    Returns:
        ``{layer: [[{"index", "singular_value", "+": {...}, "-": {...}}, ...] per head]}``
        where each polarity is ``{"concepts": [str], "weights": [float], "fidelity": float}``.
    """
    pool = prepare_dictionary(clip, dictionary, data_dir=data_dir, progress=progress)
    atoms = centred_atoms(pool.embeddings)
    k = check_sparsity(sparsity, atoms.shape[0])
    mean_path = image_mean_path(data_dir, clip.info.model_name, clip.info.pretrained)
    mean = load_image_mean(mean_path, expect_model=clip.info) if mean_path.exists() else None
    if mean is None:
        log.warning("no image mean for the base model at %s: targets are not shifted", mean_path)
    out: dict[int, list[list[dict[str, Any]]]] = {}
    for layer, m in results.items():
        Vh, S = m["delta_Vh"], m["delta_S"]  # (H, n, d), (H, n)
        H, n, d = Vh.shape
        flat = Vh.reshape(H * n, d)
        targets = delta_targets(clip.weights, torch.cat([flat, -flat]), mean)
        code = solve(targets, atoms, k, method=method)
        heads = []
        for h in range(H):
            rows = []
            for i in range(n):
                entry: dict[str, Any] = {"index": i, "singular_value": round(float(S[h, i]), 6)}
                for mark, offset in (("+", 0), ("-", H * n)):
                    j = offset + h * n + i
                    keep = [(int(a), float(wt)) for a, wt in zip(code.indices[j], code.weights[j]) if wt > 0]
                    entry[mark] = {
                        "concepts": [pool.concepts[a] for a, _ in keep],
                        "weights": [round(wt, 4) for _, wt in keep],
                        "fidelity": round(float(code.fidelity[j]), 4),
                    }
                rows.append(entry)
            heads.append(rows)
        out[layer] = heads
    return out
