"""Explain one layer's singular vectors with concepts (docs/method.md §2–5): the pure core.

:func:`decompose_layer`: weights + atoms (+ the image mean) → :class:`LayerDecomposition`.
Loading, dictionaries, file names and resuming are the orchestration layer's
(:mod:`sith.pipeline`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor

from sith.decompose.config import POLARITY_MODES, DecompositionConfig
from sith.decompose.results import LayerDecomposition, used_concepts
from sith.decompose.solvers import parse_method, solve
from sith.errors import SithError
from sith.factor import check_layer, check_rank, singular_targets
from sith.load.weights import VisionWeights

log = logging.getLogger(__name__)


def default_layers(n_layers: int, last: int = 4) -> list[int]:
    """The seed's default: the last ``last`` layers (all of them if there are fewer)."""
    return list(range(max(0, n_layers - last), n_layers))


def default_rank(weights: VisionWeights, rank: int | None) -> int:
    """``rank`` validated, or 64 capped at the head width when ``rank`` is None."""
    return min(64, weights.d_head) if rank is None else check_rank(weights, rank)


def check_sparsity(sparsity: int, n_atoms: int) -> int:
    if not 1 <= sparsity <= n_atoms:
        raise SithError(
            f"sparsity {sparsity} is invalid for a dictionary of {n_atoms} concepts; "
            f"pass --sparsity between 1 and {n_atoms}"
        )
    return sparsity


def decompose_layer(
    weights: VisionWeights,
    atoms: Tensor,
    concepts: list[str],
    layer: int,
    *,
    sv_type: str = "right",
    fold_ln: bool = True,
    rank: int | None = None,
    method: str = "comp-0.3",
    sparsity: int = 5,
    polarity: str = "seed",
    image_mean: Tensor | None = None,
    device: str | torch.device | None = None,
    config: DecompositionConfig | None = None,
    heads: Sequence[int] | None = None,
    progress: bool = False,
) -> LayerDecomposition:
    """Decompose the top-``rank`` singular vectors of every head of ``layer``.

    Args:
        weights: the model's weight view.
        atoms: ``(N, e)`` unit concept atoms (:func:`sith.encode.dictionary_atoms`).
        concepts: the ``N`` concept strings.
        polarity: ``"seed"`` explains ``t`` as the sign rule gives it (the seed's);
            ``"best"`` whichever of ``t`` / ``−t`` fits with higher fidelity (ties → ``+``);
            ``"both"`` does that and stores the other under ``alt``.
        image_mean: ``(e,)`` the image mean subtracted from targets (docs/method.md §3); None
            skips it (a project option).
        config: the configuration stored with the result (the pipeline's, with its dictionary
            and hashes); its model, sv-type, fold, rank, method, sparsity, polarity and image-mean
            fields are set from the arguments. None: one made from the arguments alone.
        heads: only these heads (in this order; default all) — the pieces of a resumable run.
        progress: progress bars of long solves (stderr; ``lasso``).

    Returns:
        :class:`LayerDecomposition` with ``scores``/``indices`` ``(num_heads, rank, K)``.
    """
    if polarity not in POLARITY_MODES:
        raise SithError(f"unknown polarity mode {polarity!r}; use one of {', '.join(POLARITY_MODES)}")
    layer = check_layer(weights, layer)
    rank = default_rank(weights, rank)
    check_sparsity(sparsity, atoms.shape[0])
    parse_method(method)
    if atoms.shape[1] != weights.d_embed:
        raise SithError(
            f"dictionary embeddings have width {atoms.shape[1]} but the model's joint space has "
            f"{weights.d_embed}; encode the dictionary with this model"
        )
    t = singular_targets(
        weights, layer, fold_ln=fold_ln, sv_type=sv_type, rank=rank, image_mean=image_mean
    )
    sel = slice(None) if heads is None else torch.as_tensor(list(heads), dtype=torch.long)
    H = t.vectors[sel].shape[0]
    flat = t.vectors[sel].reshape(H * rank, -1)
    targets = flat if polarity == "seed" else torch.cat([flat, -flat])
    code = solve(targets, atoms, sparsity, method=method, device=device, progress=progress)
    w, idx, fid, pol, alt = choose_polarity(*(x.cpu() for x in code), polarity=polarity)
    shape = (H, rank, sparsity)
    scores, indices = w.reshape(shape), idx.reshape(shape)
    alt = {k: v.reshape(shape if v.dim() == 2 else shape[:2]) for k, v in alt.items()}
    all_idx = torch.cat([indices.flatten(), alt["indices"].flatten()]) if alt else indices
    info = weights.info
    record = replace(
        config or DecompositionConfig(info.model_name, info.pretrained, layers=(layer,)),
        model_name=info.model_name,
        pretrained=info.pretrained,
        fingerprint=info.fingerprint,
        sv_type=sv_type,
        fold_ln=fold_ln,
        rank=rank,
        method=method,
        sparsity=sparsity,
        polarity=polarity,
        image_mean=image_mean is not None,
        head_width=weights.d_head,
    )
    return LayerDecomposition(
        scores=scores,
        indices=indices,
        singular_values=t.singular_values[sel].cpu(),
        fidelity=fid.reshape(H, rank),
        polarity=pol.reshape(H, rank),
        tied=t.tied[sel].cpu(),
        concepts=used_concepts(all_idx, concepts),
        layer=layer,
        config=record,
        alt=alt,
    )


def choose_polarity(
    w: Tensor, idx: Tensor, fid: Tensor, *, polarity: str
) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Tensor]]:
    """Pick each vector's explained sign from a code of ``n`` targets (``seed``) or ``2n``
    (``t`` then ``−t``; ``best``/``both``). Returns ``w, idx, fid, polarity (n,), alt``."""
    if polarity == "seed":
        return w, idx, fid, torch.ones(fid.shape[0], dtype=torch.int8), {}
    n = fid.shape[0] // 2
    neg_better = fid[n:] > fid[:n]
    pol = torch.where(neg_better, -1, 1).to(torch.int8)
    pick = torch.where(neg_better, torch.arange(n) + n, torch.arange(n))
    other = torch.where(neg_better, torch.arange(n), torch.arange(n) + n)
    alt = {}
    if polarity == "both":
        alt = {"scores": w[other], "indices": idx[other], "fidelity": fid[other]}
    return w[pick], idx[pick], fid[pick], pol, alt
