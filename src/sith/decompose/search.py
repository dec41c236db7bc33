"""Data-free reverse lookup: which heads' singular vectors align with a concept.

For a concept atom ``c`` (unit, ``e``) and every singular vector's joint-space target
``p`` (docs/method.md §3: the same targets a decomposition explains, image mean included), the
alignment is ``cos(c, p)``; a negative value means
the head writes the concept along ``-p``. Hits are ranked by ``|cos|`` and reported
with their polarity. No images, no activations: weights and text only.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from sith.factor import check_layer, check_rank, singular_targets
from sith.load.weights import VisionWeights


class SearchHit(NamedTuple):
    layer: int
    head: int
    index: int
    polarity: int  # +1: the concept aligns with p; -1: with -p
    cosine: float  # |cos(c, p)|
    singular_value: float


def alignment(
    weights: VisionWeights,
    concept: Tensor,
    *,
    layers: list[int] | None = None,
    fold_ln: bool = True,
    sv_type: str = "right",
    rank: int | None = None,
    image_mean: Tensor | None = None,
) -> dict[int, tuple[Tensor, Tensor]]:
    """Signed cosines of ``concept`` ``(e,)`` — or of each row of ``(n, e)`` — with every
    singular vector's target.

    ``image_mean`` ``(e,)`` is subtracted from targets as in the decomposition (None skips
    it); each layer's SVD is the view's cached one (:func:`sith.factor.layer_svd`).

    Returns:
        ``{layer: (cosines (H, rank) — (H, rank, n) for n concepts —, singular_values (H, rank))}``.
    """
    layers = (
        list(range(weights.n_layers))
        if layers is None
        else [check_layer(weights, i) for i in layers]
    )
    rank = weights.d_head if rank is None else check_rank(weights, rank)
    c = concept.float() / concept.float().norm(dim=-1, keepdim=True).clamp_min(1e-12)
    c = c.transpose(0, 1) if c.ndim == 2 else c
    out = {}
    for layer in layers:
        t = singular_targets(
            weights, layer, fold_ln=fold_ln, sv_type=sv_type, rank=rank, image_mean=image_mean
        )
        out[layer] = (t.vectors @ c.to(t.vectors.device), t.singular_values)
    return out


def rank_heads(
    weights: VisionWeights,
    concept: Tensor,
    *,
    top: int = 20,
    layers: list[int] | None = None,
    fold_ln: bool = True,
    sv_type: str = "right",
    rank: int | None = None,
    image_mean: Tensor | None = None,
) -> list[SearchHit]:
    """The ``top`` singular vectors most aligned with ``concept``, both polarities, best first."""
    hits: list[SearchHit] = []
    for layer, (cos, S) in alignment(
        weights, concept, layers=layers, fold_ln=fold_ln, sv_type=sv_type, rank=rank,
        image_mean=image_mean,
    ).items():
        H, R = cos.shape
        flat = cos.abs().flatten()
        k = min(top, flat.numel())
        vals, idx = torch.topk(flat, k)
        for v, i in zip(vals.tolist(), idx.tolist()):
            h, r = divmod(i, R)
            hits.append(SearchHit(layer, h, r, 1 if cos[h, r] >= 0 else -1, v, float(S[h, r])))
    hits.sort(key=lambda x: (-x.cosine, x.layer, x.head, x.index))
    return hits[:top]
