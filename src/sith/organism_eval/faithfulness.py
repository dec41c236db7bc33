"""Faithfulness: put each explanation back into the model and measure.

For every analysed component ``i`` (head ``h``, fold-ln ``W = R·B = U S Vᵀ``, docs/method.md §2)
its explanation ``Σ_s w_s a_s`` (joint space, e) is mapped back to a residual direction
(:func:`back_map`, the seed's fidelity path run backwards):

    y = unit(Σ_s w_s a_s);   y = unit(y + m)             (m = the image mean, docs/method.md §4)
    x = y · pinv(M),  M = C · diag(γpost) · P   (d × e);  v' = polarity · unit(x)

``M`` is the *linear part* of ``x ↦ LN_post(x)·P``: LN_post's centring ``C`` and gain γpost,
then the projection P. What is not inverted: LN_post's division by the standard deviation
(a positive scale, removed by the normalisation), its bias βpost (a constant offset βpost·P
in the joint space, left out) and the joint-space normalisations. ``pinv(M)`` returns the
minimum-norm solution, which lies in ``M``'s column space and so is centred like ``v_i``.

The component's write direction ``v_i`` is then replaced by ``v'`` with the same singular
value: ``W ← W + s_i u_i (v' − v_i)ᵀ``, carried by ``W_O^h`` alone exactly as a docs/method.md §6
edit (``Δ W_O^h = s_i · pinv(R) u_i · (v' − v_i)ᵀ``; ``v'`` centred keeps ``W = R·B·C``
consistent). ``v' = v_i`` changes nothing, bit for bit. Zero-shot accuracy per factor
(:func:`sith.organism.zeroshot.factor_accuracy`) is measured before and after; controls:
the same with explanations shuffled across components, with random centred unit
directions, and with the components removed (σ = 0); and, as a project option, both
reconstructions through a truncated pseudo-inverse (``TRUNCATE``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sith.edit import ComponentEdit
from sith.edit.exact import rank_one_updates
from sith.factor import centering, layer_svd, unit
from sith.load import with_head_outputs
from sith.load.weights import VisionWeights
from sith.organism.world import FACTORS
from sith.organism.zeroshot import EVAL_SEED, factor_accuracy, loaded_encoders
from sith.organism_eval.grounded import Explained

Key = tuple[int, int, int]
#: The truncated inverse's cut-off (project option, fixed a priori): singular values of
#: ``M·P`` below this share of the largest are dropped. The organism's P has singular values
#: from 1.9 down to 0.007, so the plain pseudo-inverse multiplies the part of the target an
#: explanation misses by up to ~280.
TRUNCATE = 0.1


def joint_vectors(ex: Explained, atoms: Tensor) -> Tensor:
    """``(N, e)`` reconstructions ``Σ_s w_s a_s`` of flat explanations (unused slots skipped)."""
    a = atoms[ex.indices.clamp_min(0)] * (ex.indices >= 0)[..., None]
    return (ex.scores[..., None].double() * a.double()).sum(-2)


def back_map(weights: Any, joint: Tensor, image_mean: Tensor | None, *, rtol: float | None = None) -> Tensor:
    """Residual directions ``(N, d)``, unit and centred, from joint vectors ``(N, e)`` (module doc).

    ``rtol``: drop singular values of ``M·P`` below ``rtol`` × the largest in the
    pseudo-inverse (a truncated inverse, a project option; None = the plain pseudo-inverse,
    which keeps all but the centring's zero)."""
    y = unit(joint.double())
    if image_mean is not None:
        y = unit(y + image_mean.double().reshape(1, -1))
    P = weights.proj.double()
    M = centering(torch.eye(P.shape[0], dtype=torch.float64)) * weights.ln_post_weight.double()[None, :]
    x = y @ torch.linalg.pinv(M @ P, rtol=rtol)
    return unit(x)


def replaced_head_outputs(weights: Any, new: dict[Key, Tensor]) -> dict[int, Tensor]:
    """Per-layer ``W_O (H, dh, d)`` with each component ``(layer, head, index)``'s write
    direction replaced by ``new[key] (d,)`` at the same singular value (fold-ln, module doc)."""
    edits = [ComponentEdit(layer, head, index, 1.0) for layer, head, index in new]
    out: dict[int, Tensor] = {}
    for e, s, x, v in rank_one_updates(weights, edits, fold_ln=True):
        W = out.setdefault(e.layer, weights.layers[e.layer].W_O.double().clone())
        W[e.head] += s * torch.outer(x, new[(e.layer, e.head, e.index)].double() - v)
    return {k: v.float() for k, v in out.items()}


def ablated_head_outputs(weights: Any, keys: list[Key]) -> dict[int, Tensor]:
    """Per-layer ``W_O`` with components ``keys`` removed (σ → 0, docs/method.md §6)."""
    edits = [ComponentEdit(layer, head, index, 0.0) for layer, head, index in keys]
    out: dict[int, Tensor] = {}
    for e, s, x, v in rank_one_updates(weights, edits, fold_ln=True):
        W = out.setdefault(e.layer, weights.layers[e.layer].W_O.double().clone())
        W[e.head] -= s * torch.outer(x, v)
    return {k: v.float() for k, v in out.items()}


def accuracies(clip: Any, *, n: int = 200, seed: int = EVAL_SEED) -> dict[str, float]:
    """Zero-shot accuracy per world factor (``n`` balanced held-out images each)."""
    enc = loaded_encoders(clip)
    return {f: factor_accuracy(enc, f, n=n, seed=seed) for f in FACTORS}


def original_directions(weights: VisionWeights, keys: list[Key]) -> Tensor:
    """``(N, d)`` the fold-ln write directions ``v_i`` of ``keys``."""
    return torch.stack([layer_svd(weights, layer, fold_ln=True).Vh[h, i].double() for layer, h, i in keys])


def faithfulness(
    ws: Any, ex: Explained, polarity: Tensor, atoms: Tensor, perm: Tensor, *,
    n: int = 200, seed: int = 0, image_mean: Tensor | None = None,
) -> list[dict[str, Any]]:
    """Rows ``{condition, cos_to_original, accuracy{factor}}``: original, reconstructed from
    the explanations, reconstructed from shuffled explanations (``perm``), random directions,
    ablated (σ = 0). ``cos_to_original`` = mean cos(v', v_i) over the analysed components."""
    w = ws.weights
    v = original_directions(w, ex.keys)
    sign = polarity.double()[:, None]
    g = torch.Generator().manual_seed(seed)
    own, mixed = joint_vectors(ex, atoms), joint_vectors(ex.permuted(perm), atoms)
    directions = {
        "reconstructed from explanations": sign * back_map(w, own, image_mean),
        "reconstructed, shuffled explanations": sign * back_map(w, mixed, image_mean),
        f"reconstructed, pinv rtol {TRUNCATE}": sign * back_map(w, own, image_mean, rtol=TRUNCATE),
        f"shuffled, pinv rtol {TRUNCATE}": sign * back_map(w, mixed, image_mean, rtol=TRUNCATE),
        "random directions": unit(centering(torch.randn(v.shape, generator=g, dtype=torch.float64))),
    }
    rows = [{"condition": "original", "cos_to_original": 1.0, "accuracy": accuracies(ws.clip, n=n)}]
    for name, new in directions.items():
        W_O = replaced_head_outputs(w, dict(zip(ex.keys, new)))
        rows.append({"condition": name, "cos_to_original": float((new * v).sum(-1).mean()),
                     "accuracy": accuracies(with_head_outputs(ws.clip, W_O), n=n)})
    W_O = ablated_head_outputs(w, ex.keys)
    rows.append({"condition": "ablated (σ = 0)", "cos_to_original": 0.0,
                 "accuracy": accuracies(with_head_outputs(ws.clip, W_O), n=n)})
    return rows


def format_faithfulness(rows: list[dict[str, Any]]) -> str:
    factors = list(FACTORS)
    width = {f: max(8, len(f) + 1) for f in factors}  # full factor names, never cut
    head = f"{'condition':<38}{'cos':>6}" + "".join(f"{f:>{width[f]}}" for f in factors)
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['condition']:<38}{r['cos_to_original']:>6.2f}"
                     + "".join(f"{r['accuracy'][f]:>{width[f]}.3f}" for f in factors))
    lines.append("# cos: mean cosine between each analysed component's new write direction and its "
                 "original; shape..count: zero-shot\n# accuracy per factor of the model with those "
                 "directions")
    return "\n".join(lines)
