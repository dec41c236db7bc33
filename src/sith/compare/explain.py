"""Explain the weight change's top write directions with concepts (COMP; docs/method.md §3–5).

Each kept right singular vector ``x`` of ``ΔW`` (a residual-stream direction the change
writes) becomes a joint-space target as docs/method.md §3 does for singular vectors, with the
base model's ln_post and projection: ``t = LN_post(x)·P``, normalised, minus the image mean
``m`` when the base model has one (``image_mean.pt``, or made by its plugin, e.g. the
organism's world; :meth:`sith.pipeline.Workspace.image_mean_if_any`; recorded), normalised.
Atoms, solver and sparsity: those of a decomposition
(:class:`~sith.decompose.config.DecompositionRequest`, resolved by the same
:class:`~sith.pipeline.Workspace`; by default the seed's centred atoms and ``comp-0.3``, K = 5).
The sign of a ΔW singular vector is arbitrary, so both polarities are explained.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sith.decompose import solve
from sith.decompose.config import DecompositionRequest
from sith.factor import joint_targets
from sith.paths import DEFAULT_DATA_DIR, image_mean_path
from sith.pipeline import Workspace

log = logging.getLogger(__name__)


def explain_deltas(
    clip: Any,
    results: dict[int, dict[str, Tensor]],
    request: DecompositionRequest,
    *,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    progress: bool = True,
) -> dict[int, list[list[dict[str, Any]]]]:
    """Per layer, per head, per kept ΔW direction: both polarities' explanations.

    ``request``: the dictionary, method, sparsity, atoms and template (its other options do
    not apply to ΔW); without an image mean on disk the targets are not shifted (a warning).

    Returns:
        ``{layer: [[{"index", "singular_value", "+": {...}, "-": {...}}, ...] per head]}``
        where each polarity is ``{"concepts": [str], "weights": [float], "fidelity": float}``.
    """
    ws = Workspace(clip, data_dir=data_dir, progress=progress)
    # a plugin's own image mean (the organism's world) is made when missing
    if request.image_mean and ws.image_mean_if_any() is None:
        mean_path = image_mean_path(data_dir, clip.info.model_name, clip.info.pretrained)
        log.warning("no image mean for the base model at %s: targets are not shifted", mean_path)
        request = replace(request, image_mean=False)
    config = ws.resolve(request)  # every input checked before the encoding is written
    pool = ws.encoded(config.dictionary, config.template)
    atoms = ws.atoms(config)
    mean = ws.image_mean() if config.image_mean else None
    k = config.sparsity
    out: dict[int, list[list[dict[str, Any]]]] = {}
    for layer, m in results.items():
        Vh, S = m["delta_Vh"], m["delta_S"]  # (H, n, d), (H, n)
        H, n, d = Vh.shape
        flat = Vh.reshape(H * n, d)
        targets = joint_targets(clip.weights, torch.cat([flat, -flat]), mean)
        code = solve(targets, atoms, k, method=config.method)
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
