"""Explain the weight change's top write directions with concepts (COMP; docs/method.md §3–5).

Each kept right singular vector ``x`` of ``ΔW`` (a residual-stream direction the change
writes) becomes a joint-space target as docs/method.md §3 does for singular vectors, with the
base model's ln_post and projection: ``t = LN_post(x)·P``, normalised, minus the image mean
``m`` when the base model has one (``image_mean.pt``, or made by its plugin, e.g. the
organism's world; :meth:`sith.pipeline.Workspace.image_mean_if_any`), normalised. Atoms: unit
text embeddings of the dictionary, centred (normalise, subtract the mean row, normalise).
The sign of a ΔW singular vector is arbitrary, so both polarities are explained.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sith.decompose import solve
from sith.decompose.layer import check_sparsity
from sith.encode import dictionary_atoms
from sith.factor import joint_targets
from sith.paths import image_mean_path
from sith.pipeline import Workspace

log = logging.getLogger(__name__)


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
    ws = Workspace(clip, data_dir=data_dir, progress=progress)
    k = check_sparsity(sparsity, len(ws.pool(dictionary)))  # before the encoding is written
    pool = ws.encoded(dictionary)
    atoms = dictionary_atoms(pool.embeddings)
    mean = ws.image_mean_if_any()  # a plugin's own (the organism's world) is made when missing
    if mean is None:
        mean_path = image_mean_path(data_dir, clip.info.model_name, clip.info.pretrained)
        log.warning("no image mean for the base model at %s: targets are not shifted", mean_path)
    out: dict[int, list[list[dict[str, Any]]]] = {}
    for layer, m in results.items():
        Vh, S = m["delta_Vh"], m["delta_S"]  # (H, n, d), (H, n)
        H, n, d = Vh.shape
        flat = Vh.reshape(H * n, d)
        targets = joint_targets(clip.weights, torch.cat([flat, -flat]), mean)
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
