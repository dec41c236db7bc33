"""Edit stage: exact weight edits of singular components (METHOD.md §6).

Scaling the ``i``-th singular value ``s_i`` of head ``h`` by ``α`` changes ``W_O^h`` alone
by a rank-one update ``Δ = (α−1)·s_i · x · yᵀ``:

* ``fold_ln=False``: ``x = pinv(W_V^h) u_i``, ``y = v_i``;
* ``fold_ln=True``:  ``x = pinv(diag(γ1) W_V^h) u_i``, ``y = diag(γpost)⁻¹ v_i``.

``u_i`` lies in the column space of the left factor and ``v_i`` in the row space of the
(folded) right factor, so the new product has exactly ``s_i`` scaled and every other
singular value and vector unchanged. Components of one head are orthogonal, so all
edits are computed from the original SVD and summed. Every edit is logged with its
rank-one update so that it can be undone exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from sith import __version__
from sith.errors import SithError
from sith.factor import check_layer, head_vo
from sith.load.weights import VisionWeights

LOG_FORMAT = "sith-edit-log/1"


@dataclass(frozen=True)
class ComponentEdit:
    """Scale singular component ``index`` of ``head`` in ``layer`` by ``alpha``."""

    layer: int
    head: int
    index: int
    alpha: float
    reason: str = ""


def check_alpha(alpha: float) -> float:
    if not math.isfinite(alpha) or alpha < 0:
        raise SithError(
            f"alpha {alpha} is invalid: use a finite value >= 0 (0 removes, >1 amplifies)"
        )
    return float(alpha)


def check_component(weights: VisionWeights, edit: ComponentEdit) -> ComponentEdit:
    layer = check_layer(weights, edit.layer)
    if not 0 <= edit.head < weights.n_heads:
        raise SithError(
            f"head {edit.head} is out of range: layers have heads 0..{weights.n_heads - 1}"
        )
    if not 0 <= edit.index < weights.d_head:
        raise SithError(
            f"component index {edit.index} is out of range: heads have rank {weights.d_head} "
            f"(indices 0..{weights.d_head - 1})"
        )
    return ComponentEdit(layer, edit.head, edit.index, check_alpha(edit.alpha), edit.reason)


def check_gains(weights: VisionWeights, layers: set[int], *, fold_ln: bool) -> None:
    """Refuse edits the weights cannot carry: a folded edit divides by ``γpost`` and
    inverts ``diag(γ1)``, so a zero entry there makes it inexact."""
    if not fold_ln:
        return
    if (weights.ln_post_weight == 0).any():
        raise SithError(
            "ln_post.weight has zero entries, so a --fold-ln edit cannot be carried; use --no-fold-ln"
        )
    for layer in sorted(layers):
        if (weights.layers[layer].ln1_weight == 0).any():
            raise SithError(
                f"layer {layer} ln_1.weight has zero entries, so a --fold-ln edit cannot be carried; "
                "use --no-fold-ln"
            )


def rank_one_updates(
    weights: VisionWeights, edits: list[ComponentEdit], *, fold_ln: bool
) -> list[tuple[ComponentEdit, float, Tensor, Tensor]]:
    """The exact update of each edit: ``(edit, s_i, x (dh,), y (d,))`` with
    ``Δ W_O^h = (α−1)·s_i·x yᵀ`` (float64)."""
    edits = [check_component(weights, e) for e in edits]
    check_gains(weights, {e.layer for e in edits}, fold_ln=fold_ln)
    out = []
    for layer in sorted({e.layer for e in edits}):
        lw = weights.layers[layer]
        U, S, Vh = head_vo(weights, layer, fold_ln=fold_ln).svd
        A = lw.W_V.double()
        if fold_ln:
            A = lw.ln1_weight.double()[None, :, None] * A
        pinvA = torch.linalg.pinv(A)  # (H, dh, d)
        for e in (e for e in edits if e.layer == layer):
            u = U[e.head, :, e.index].double()
            v = Vh[e.head, e.index].double()
            x = pinvA[e.head] @ u
            y = v / weights.ln_post_weight.double() if fold_ln else v
            out.append((e, float(S[e.head, e.index]), x, y))
    return out


def edited_head_outputs(
    weights: VisionWeights, edits: list[ComponentEdit], *, fold_ln: bool
) -> dict[int, Tensor]:
    """New per-head ``W_O`` ``(H, dh, d)`` for every edited layer (float32)."""
    new: dict[int, Tensor] = {}
    for e, s, x, y in rank_one_updates(weights, edits, fold_ln=fold_ln):
        W = new.setdefault(e.layer, weights.layers[e.layer].W_O.double().clone())
        W[e.head] += (e.alpha - 1.0) * s * torch.outer(x, y)
    return {k: v.float() for k, v in new.items()}


def edit_log(
    weights: VisionWeights,
    edits: list[ComponentEdit],
    *,
    fold_ln: bool,
    explanations: dict[tuple[int, int, int], list[tuple[str, float]]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON-ready record of the edits: original model, every component touched with its
    singular value, explanation, α and exact rank-one update (for undo)."""
    entries = []
    for e, s, x, y in rank_one_updates(weights, edits, fold_ln=fold_ln):
        entry = asdict(e)
        entry["singular_value"] = s
        entry["explanation"] = (explanations or {}).get((e.layer, e.head, e.index), [])
        entry["update"] = {"scale": (e.alpha - 1.0) * s, "x": x.tolist(), "y": y.tolist()}
        entries.append(entry)
    return {
        "format": LOG_FORMAT,
        "sith_version": __version__,
        "model": weights.info.as_dict(),
        "fold_ln": fold_ln,
        "edits": entries,
        **(extra or {}),
    }


def check_log(log: Any, weights: VisionWeights, *, edited: bool = False) -> dict[str, Any]:
    """Validate an edit log against the model it is applied to (the original, or for
    undo the edited model)."""
    if not isinstance(log, dict) or log.get("format") != LOG_FORMAT:
        raise SithError("not a sith edit log; pass a JSON file written by `sith edit`")
    if not edited and log["model"]["fingerprint"] != weights.info.fingerprint:
        raise SithError(
            f"this edit log was made for another model ({log['model']['model_name']} "
            f"{log['model']['pretrained']}); apply it to that model"
        )
    return log


def edits_from_log(log: dict[str, Any]) -> list[ComponentEdit]:
    return [
        ComponentEdit(
            int(e["layer"]), int(e["head"]), int(e["index"]), float(e["alpha"]), e.get("reason", "")
        )
        for e in log["edits"]
    ]


def undo_head_outputs(weights: VisionWeights, log: dict[str, Any]) -> dict[int, Tensor]:
    """``W_O`` of the original model recovered from an edited model and its log (exact
    up to float rounding, α = 0 included), by subtracting each logged update."""
    new: dict[int, Tensor] = {}
    for e in log["edits"]:
        layer = check_layer(weights, int(e["layer"]))
        W = new.setdefault(layer, weights.layers[layer].W_O.double().clone())
        u = e["update"]
        W[int(e["head"])] -= (
            u["scale"] * torch.outer(torch.tensor(u["x"]), torch.tensor(u["y"])).double()
        )
    return {k: v.float() for k, v in new.items()}
