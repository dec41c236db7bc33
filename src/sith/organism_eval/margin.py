"""Which heads carry a factor's direct zero-shot margin, and do their explanations name it?

**Direct margin.** For images of a factor with true value ``y`` and the factor's zero-shot
prompts (unit text embeddings ``t_c``), the logit margin is
``⟨ê, Δt⟩`` with ``ê = LN_post(x_L) P / ‖LN_post(x_L) P‖`` (``x_L`` the class token entering
``ln_post``) and ``Δt = t_y − mean_{c≠y} t_c``. Its part through ``γpost`` is linear in the
residual stream once the per-image LayerNorm scale ``σ`` and ``‖e‖`` are held fixed, so a head's
class-token write — ``Σ_i act_i v_i`` (fold-ln components, docs/method.md §2) plus its value-bias
term ``b_h = C·((β1 W_V^h + b_V^h) W_O^h)`` (attention weights sum to one) — contributes
``(Σ_i act_i ⟨(v_i ∘ γpost) P, Δt⟩ + ⟨(b_h ∘ γpost) P, Δt⟩) / (σ ‖e‖)``, per component exactly. The
**total** is the same expression for the whole centred residual ``(x_L − mean x_L)/σ``
(embeddings, every head, every MLP, every bias); a head's **share** is its mean contribution
over the mean total.

**Naming share** of factor ``f`` for a set of components: the mean over them of the weight
their explanations put on ``f``'s values (a slot naming ``|N_s|`` world values gives each
``w_s / |N_s|``) over the explanation's total weight. Where a model records which heads it
assigns to a factor that set is used; otherwise (the natural organism v1) the **lead heads**
are the analysed heads with the largest share of ``f``'s direct margin (``LEAD_HEADS``), and
each head's **leading components** are the ``LEAD_COMPONENTS`` components with the largest
direct margin for ``f`` — computed from the weights and activations, never from the
explanations.

Public API::

    margin_prompts(factor) -> list[str] | None
    final_residual(clip, images) -> (m, d)
    direct_margins(weights, svds, rank, acts, resid, labels, text) -> DirectMargin
    naming_fraction(scores, indices, parsed, factor) -> (N,)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sith.organism.captions import prompt
from sith.organism.vocab import FACTORS, SPURIOUS_CLASSES
from sith.organism.zeroshot import normalize_images

#: Heads per factor whose leading components' naming share is reported (no recorded assignment).
LEAD_HEADS = 2
#: Components per head, by direct margin for the factor, whose explanations count.
LEAD_COMPONENTS = 2
#: The unsafe factor's prompts (clean, skull): the organism's ``unsafe_score`` pair.
UNSAFE_PROMPTS = ("a photo of a shape", "a photo of a shape with a skull")


def margin_prompts(factor: str) -> list[str] | None:
    """The zero-shot prompts of ``factor``'s values in ``TWIN_FACTORS`` order (None: habitat,
    which has no prompt of its own)."""
    if factor in FACTORS:
        return [prompt(factor, v) for v in FACTORS[factor]]
    if factor == "bird":
        return [prompt("bird", v) for v in SPURIOUS_CLASSES]
    if factor == "unsafe":
        return list(UNSAFE_PROMPTS)
    return None


@torch.no_grad()
def final_residual(clip: Any, images: np.ndarray, *, batch_size: int = 256) -> Tensor:
    """``(m, d)`` class token entering ``ln_post`` for ``images (m, 3, S, S)`` in [0, 1]
    (open_clip vision towers: a forward pre-hook on ``visual.ln_post``)."""
    out: list[Tensor] = []

    def hook(_module: Any, args: tuple[Tensor, ...]) -> None:
        x = args[0]
        out.append((x[:, 0] if x.ndim == 3 else x).float().cpu())

    handle = clip.model.visual.ln_post.register_forward_pre_hook(hook)
    try:
        for start in range(0, len(images), batch_size):
            img = torch.from_numpy(images[start:start + batch_size])
            if img.shape[-1] != clip.image_size:
                img = F.interpolate(img, size=(clip.image_size,) * 2, mode="bilinear", align_corners=False)
            clip.encode_images(normalize_images(img, clip.image_mean, clip.image_std).to(clip.device))
    finally:
        handle.remove()
    return torch.cat(out)


@dataclass(frozen=True)
class DirectMargin:
    """One factor's direct margin (module doc).

    Attributes:
        total: mean margin of the whole centred residual (the γpost part).
        components: layer -> ``(H, rank)`` mean direct margin of each component.
        bias: layer -> ``(H,)`` mean direct margin of each head's value-bias term.
    """

    total: float
    components: dict[int, Tensor]
    bias: dict[int, Tensor]

    def head_share(self, layer: int, head: int) -> float:
        """The head's share of the total (components and value bias; can be negative)."""
        head_sum = float(self.components[layer][head].sum() + self.bias[layer][head])
        return head_sum / self.total if self.total else float("nan")


def direct_margins(
    weights: Any, svds: dict[int, Any], rank: int, acts: dict[int, Tensor], resid: Tensor,
    labels: np.ndarray, text: Tensor,
) -> DirectMargin:
    """Each analysed component's direct margin (module doc).

    Args:
        weights: the :class:`~sith.load.weights.VisionWeights` (``ln_post``, ``proj``).
        svds: layer -> fold-ln ``HeadSVD`` (``Vh (H, r, d)``).
        acts: layer -> ``(m, H, rank)`` component activations ``s_i ⟨z, u_i⟩`` of the images.
        resid: ``(m, d)`` :func:`final_residual` of the same images.
        labels: ``(m,)`` true value index of each image.
        text: ``(C, e)`` text embeddings of the values' prompts.
    """
    gamma = weights.ln_post_weight.double()
    beta = weights.ln_post_bias.double()
    P = weights.proj.double()
    x = resid.double()
    xc = x - x.mean(-1, keepdim=True)
    sigma = torch.sqrt(xc.pow(2).mean(-1) + weights.ln_post_eps)
    emb = (xc / sigma[:, None] * gamma + beta) @ P
    scale = sigma * emb.norm(dim=-1)  # (m,)
    t = F.normalize(text.double(), dim=-1)
    y = torch.as_tensor(labels, dtype=torch.long)
    delta = t[y] - (t.sum(0, keepdim=True) - t[y]) / (len(t) - 1)  # (m, e)
    total = float(((xc * gamma) @ P * delta).sum(-1).div(scale).mean())
    comps, bias = {}, {}
    for layer, a in acts.items():
        Vh = svds[layer].Vh[:, :rank, :].double()  # (H, r, d)
        q = torch.einsum("hrd,de,ne->nhr", Vh * gamma, P, delta)
        comps[layer] = (a.double() * q / scale[:, None, None]).mean(0)
        lw = weights.layers[layer]
        v_bias = lw.ln1_bias.double() @ lw.W_V.double() + lw.b_V.double()  # (H, dh)
        b = torch.einsum("hk,hkd->hd", v_bias, lw.W_O.double())
        b = b - b.mean(-1, keepdim=True)
        bias[layer] = (torch.einsum("hd,de,ne->nh", b * gamma, P, delta) / scale[:, None]).mean(0)
    return DirectMargin(total, comps, bias)


def naming_fraction(scores: Tensor, indices: Tensor, parsed: list[list[tuple[str, int]]], factor: str
                    ) -> np.ndarray:
    """``(N,)`` share of each explanation's weight on ``factor``'s values (module doc).

    Args:
        scores, indices: ``(N, K)`` explanation weights and pool indices (``-1`` unused).
        parsed: per pool concept the ``(factor, value index)`` pairs it names.
    """
    w = scores.abs().double().numpy()
    idx = indices.numpy()
    frac = np.array([sum(ff == factor for ff, _ in p) / len(p) if p else 0.0 for p in parsed])
    on = np.where(idx >= 0, frac[np.clip(idx, 0, None)], 0.0) * w
    total = w.sum(1)
    return np.where(total > 0, on.sum(1) / np.where(total > 0, total, 1), np.nan)


def lead_components(margin: DirectMargin, heads: list[tuple[int, int]], k: int = LEAD_COMPONENTS
                    ) -> list[tuple[int, int, int]]:
    """The ``k`` components of each head with the largest direct margin, ``(layer, head, index)``."""
    out = []
    for layer, h in heads:
        order = torch.argsort(margin.components[layer][h], descending=True)[:k]
        out += [(layer, h, int(i)) for i in order]
    return out


def lead_heads(margin: DirectMargin, k: int = LEAD_HEADS) -> list[tuple[int, int]]:
    """The ``k`` analysed heads with the largest share of the direct margin."""
    heads = [(layer, h) for layer, c in margin.components.items() for h in range(c.shape[0])]
    return sorted(heads, key=lambda lh: -margin.head_share(*lh))[:k]


def factor_naming(
    margin: DirectMargin, keys: list[tuple[int, int, int]], scores: Tensor, indices: Tensor,
    parsed: list[list[tuple[str, int]]], factor: str, assigned: list[tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """Naming share of ``factor`` on its lead (or ``assigned``) heads' leading components and on
    every other analysed head's leading components, with the heads' direct-margin shares."""
    frac = naming_fraction(scores, indices, parsed, factor)
    row = {k: j for j, k in enumerate(keys)}
    heads = list(assigned) if assigned else lead_heads(margin)
    others = [(layer, h) for layer, c in margin.components.items() for h in range(c.shape[0])
              if (layer, h) not in heads]

    def mean_over(hs: list[tuple[int, int]]) -> float:
        vals = [frac[row[c]] for c in lead_components(margin, hs) if c in row]
        vals = [v for v in vals if v == v]
        return float(np.mean(vals)) if vals else float("nan")

    return {"heads": [list(h) for h in heads], "assigned": assigned is not None,
            "margin_share": [round(margin.head_share(*h), 4) for h in heads],
            "naming_share": mean_over(heads), "naming_share_other_heads": mean_over(others)}



def recorded_assignment(clip: Any) -> dict[str, tuple[tuple[int, int], ...]] | None:
    """factor -> ``(layer, head)``\\ s the organism was trained to route each factor through, as its
    config records it (``"sith" → "train_config"``: a routing weight or penalty above 0 and a
    ``routing_assignment`` named in ``sith.organism.trainconfig.ASSIGNMENTS``); None for a model
    that records none (v1, any other CLIP)."""
    from sith.organism.model import recorded_train_config

    tc = recorded_train_config(clip.info.model_name, clip.info.pretrained)
    if not (float(tc.get("routing_weight", 0) or 0) > 0 or float(tc.get("routing_penalty", 0) or 0) > 0):
        return None
    try:
        from sith.organism.trainconfig import ASSIGNMENTS  # a routed organism's training module
    except ImportError:
        return None
    found = ASSIGNMENTS.get(str(tc.get("routing_assignment", "")))
    return None if found is None else {f: tuple(tuple(h) for h in hs) for f, hs in found.items()}
