"""Edit stage: exact weight edits of singular components (docs/method.md §6).

Scaling the ``i``-th singular value ``s_i`` of head ``h`` by ``α`` changes the explained
matrix ``W = R·B`` by ``(α−1)·s_i·u_i·v_iᵀ``, carried by ``W_O^h`` alone:
``Δ W_O^h = (α−1)·s_i · x · v_iᵀ`` with ``x = pinv(R) u_i``, where ``R = C·diag(γ1)·W_V^h``
(``foldln``) or ``R = W_V^h`` (``nofoldln``) — :func:`sith.factor.read_factor`.

``u_i`` lies in ``R``'s column space (checked: an edit the weights cannot carry is
refused) and ``v_i`` is already centred, so the folded matrix of the edited model equals
the old one with exactly ``s_i`` scaled. Components of one head are orthogonal, so all
edits are computed from the original SVD and summed. Every edit is logged with its
rank-one update so that it can be undone exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import Tensor

from sith import __version__
from sith.errors import FormatError, ModelMismatch, SithError
from sith.factor import check_layer, layer_svd, read_factor
from sith.load.weights import VisionWeights

LOG_FORMAT = "sith-edit-log/1"


@dataclass(frozen=True)
class ComponentEdit:
    """Scale singular component ``index`` of ``head`` in ``layer`` by ``alpha``.

    ``score`` is what selected it (the judge's relevance, ``|cos|`` or an explanation weight,
    :mod:`sith.edit.select`) and ``judge_score`` the judge's 1–5 verdict; None for a component
    named by index.
    """

    layer: int
    head: int
    index: int
    alpha: float
    reason: str = ""
    score: float | None = None
    judge_score: int | None = None


def check_alpha(alpha: float, *, allow_negative: bool = False) -> float:
    """A finite α ≥ 0; with ``allow_negative`` any finite α (docs/method.md §6: α < 0 negates)."""
    if not math.isfinite(alpha) or (alpha < 0 and not allow_negative):
        raise SithError(
            f"alpha {alpha} is invalid: use a finite value >= 0 (0 removes, >1 amplifies)"
        )
    return float(alpha)


def check_component(
    weights: VisionWeights, edit: ComponentEdit, *, allow_negative: bool = False
) -> ComponentEdit:
    """``edit`` with its layer made non-negative; SithError naming the first bad field."""
    n = weights.n_layers
    if not -n <= edit.layer < n:
        raise SithError(
            f"layer {edit.layer} is out of range: this model has layers 0..{n - 1} (LAYER:HEAD:INDEX)"
        )
    layer = edit.layer % n
    if not 0 <= edit.head < weights.n_heads:
        raise SithError(
            f"head {edit.head} is out of range: layers have heads 0..{weights.n_heads - 1}"
        )
    if not 0 <= edit.index < weights.d_head:
        raise SithError(
            f"component index {edit.index} is out of range: heads have rank {weights.d_head} "
            f"(indices 0..{weights.d_head - 1})"
        )
    return replace(edit, layer=layer, alpha=check_alpha(edit.alpha, allow_negative=allow_negative))


#: ``‖R·pinv(R)·u − u‖`` above this means ``W_O`` alone cannot carry the edit exactly.
CARRY_TOL = 1e-6

def rank_one_updates(
    weights: VisionWeights,
    edits: list[ComponentEdit],
    *,
    fold_ln: bool,
    allow_negative: bool = False,
) -> list[tuple[ComponentEdit, float, Tensor, Tensor]]:
    """The exact update of each edit: ``(edit, s_i, x (dh,), v_i (d,))`` with
    ``Δ W_O^h = (α−1)·s_i·x·v_iᵀ`` (float64; docs/method.md §6), from each layer's SVD
    (:func:`sith.factor.layer_svd`); ``allow_negative`` accepts α < 0 (negation,
    docs/method.md §6; the experiments' NSFW rule)."""
    edits = [check_component(weights, e, allow_negative=allow_negative) for e in edits]
    out = []
    for layer in sorted({e.layer for e in edits}):
        U, S, Vh = layer_svd(weights, layer, fold_ln=fold_ln)
        R = read_factor(weights, layer, fold_ln=fold_ln).double()
        pinvR = torch.linalg.pinv(R)  # (H, dh, d)
        for e in (e for e in edits if e.layer == layer):
            u = U[e.head, :, e.index].double()
            x = pinvR[e.head] @ u
            if float(S[e.head, e.index]) > 0 and float((R[e.head] @ x - u).norm()) > CARRY_TOL:
                raise SithError(
                    f"component {layer}:{e.head}:{e.index} cannot be carried by W_O exactly (its read "
                    "direction is outside the value weights' span); pick another component"
                )
            out.append((e, float(S[e.head, e.index]), x, Vh[e.head, e.index].double()))
    return out


def edited_head_outputs(
    weights: VisionWeights,
    edits: list[ComponentEdit],
    *,
    fold_ln: bool,
    allow_negative: bool = False,
) -> dict[int, Tensor]:
    """New per-head ``W_O`` ``(H, dh, d)`` for every edited layer (float32)."""
    new: dict[int, Tensor] = {}
    updates = rank_one_updates(weights, edits, fold_ln=fold_ln, allow_negative=allow_negative)
    for e, s, x, y in updates:
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
        raise FormatError("not a sith edit log; pass a JSON file written by `sith edit`")
    if not edited and log["model"]["fingerprint"] != weights.info.fingerprint:
        made, this = log["model"], weights.info
        raise ModelMismatch(
            f"this edit log was made for {made['model_name']} {made['pretrained'] or '(no tag)'} "
            f"(fingerprint {made['fingerprint']}), not for the model given, {this.model_name} "
            f"{this.pretrained or '(no tag)'} (fingerprint {this.fingerprint}); apply it to that model"
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
