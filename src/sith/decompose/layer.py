"""Explain one layer's singular vectors with concepts (docs/method.md §2–5): the pure core.

:func:`decompose_layer`: weights + atoms (+ the image mean) → :class:`LayerDecomposition`.
Loading, dictionaries, file names and resuming are the orchestration layer's
(:mod:`sith.pipeline`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from sith.decompose.config import OPTIONS, DecompositionConfig, DecompositionRequest
from sith.decompose.results import LayerDecomposition, used_concepts
from sith.decompose.solvers import solve
from sith.decompose.spec import check_names
from sith.errors import ConfigError, SithError
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
        raise ConfigError(
            "sparsity",
            f"{{name}} {sparsity} is invalid for a dictionary of {n_atoms} concepts; "
            f"pass {{name}} between 1 and {n_atoms}",
            value=sparsity,
        )
    return sparsity


def decompose_layer(
    weights: VisionWeights,
    atoms: Tensor,
    concepts: list[str],
    layer: int,
    config: DecompositionRequest | None = None,
    *,
    image_mean: Tensor | None = None,
    device: str | torch.device | None = None,
    heads: Sequence[int] | None = None,
    progress: bool = False,
    **options: Any,
) -> LayerDecomposition:
    """Decompose the top-``rank`` singular vectors of every head of ``layer``.

    Args:
        weights: the model's weight view.
        atoms: ``(N, e)`` unit concept atoms (:func:`sith.encode.dictionary_atoms`).
        concepts: the ``N`` concept strings.
        config: what to compute (``sv_type``, ``fold_ln``, ``rank``, ``method``, ``sparsity``,
            ``polarity``): a :class:`DecompositionRequest`, or the pipeline's resolved
            :class:`DecompositionConfig` (with its dictionary and hashes), stored with the
            result. None: the defaults. ``polarity``: ``"seed"`` explains ``t`` as the sign
            rule gives it (the seed's); ``"best"`` whichever of ``t`` / ``−t`` fits with higher
            fidelity (ties → ``+``); ``"both"`` does that and stores the other under ``alt``.
        options: options of :class:`DecompositionRequest` overriding ``config``'s (e.g.
            ``sparsity=3``), checked like every option.
        image_mean: ``(e,)`` the image mean subtracted from targets (docs/method.md §3); None
            skips it (a project option; the stored record says which was done).
        heads: only these heads (in this order; default all) — the pieces of a resumable run.
        progress: progress bars of long solves (stderr; ``lasso``).

    Returns:
        :class:`LayerDecomposition` with ``scores``/``indices`` ``(num_heads, rank, K)``.
    """
    check_names(options, OPTIONS, command="decompose_layer")
    request = replace(config, **options) if config is not None else DecompositionRequest(**options)
    layer = check_layer(weights, layer)
    rank = default_rank(weights, request.rank)
    sparsity = check_sparsity(request.sparsity, atoms.shape[0])
    if atoms.shape[1] != weights.d_embed:
        raise SithError(
            f"dictionary embeddings have width {atoms.shape[1]} but the model's joint space has "
            f"{weights.d_embed}; encode the dictionary with this model"
        )
    t = singular_targets(
        weights, layer, fold_ln=request.fold_ln, sv_type=request.sv_type, rank=rank, image_mean=image_mean
    )
    sel = slice(None) if heads is None else torch.as_tensor(list(heads), dtype=torch.long)
    H = t.vectors[sel].shape[0]
    flat = t.vectors[sel].reshape(H * rank, -1)
    polarity = request.polarity
    targets = flat if polarity == "seed" else torch.cat([flat, -flat])
    code = solve(targets, atoms, sparsity, method=request.method, device=device, progress=progress)
    w, idx, fid, pol, alt = choose_polarity(*(x.cpu() for x in code), polarity=polarity)
    shape = (H, rank, sparsity)
    scores, indices = w.reshape(shape), idx.reshape(shape)
    alt = {k: v.reshape(shape if v.dim() == 2 else shape[:2]) for k, v in alt.items()}
    all_idx = torch.cat([indices.flatten(), alt["indices"].flatten()]) if alt else indices
    info = weights.info
    record = request if isinstance(request, DecompositionConfig) else request.resolved(
        model_name=info.model_name, pretrained=info.pretrained, layers=(layer,)
    )
    record = replace(
        record,
        model_name=info.model_name,
        pretrained=info.pretrained,
        fingerprint=info.fingerprint,
        layers=(layer,),  # a layer's result records its own layer (a run's other layers are not its content)
        rank=rank,
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
