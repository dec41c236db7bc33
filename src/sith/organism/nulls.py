"""Null baselines for every explanation metric on the organism (issue 11, item 3).

A metric means something only if it separates the trained organism from models and
explanations that cannot know the world:

* **untrained vision** — the same architecture, its vision tower re-initialised with
  open_clip's initialisation under a fixed seed, its trained text tower kept (so the
  dictionary is the same); it gets its own image mean, computed the same way
  (:func:`untrained_vision`);
* **shuffled explanations** — the trained model's explanations permuted across the
  analysed components (:func:`shuffled`);
* **random targets** — random unit vectors in the joint space, explained with the same
  dictionary and method (:func:`random_target_decompositions`); for grounding, random
  centred residual directions ``r`` per analysed (layer, head) slot, explained through
  docs/method.md §3 like a singular vector, whose activation is the head's class-token output
  projected on ``r`` (:func:`random_directions`).

A metric *separates* when the trained value beats every null by at least ``MARGIN``
(fixed a priori); otherwise it is reported as not separating and is not used to choose
defaults.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import torch
from torch import Tensor

from sith.decompose import solve
from sith.decompose.results import LayerDecomposition
from sith.errors import SithError
from sith.factor import centering, joint_targets, layer_svd, singular_targets, unit
from sith.load import wrap_open_clip
from sith.organism import ORGANISM_NAME
from sith.organism.grounded import Explained
from sith.organism.model import organism_config
from sith.organism.train import build_model

#: A metric separates trained from null when ``trained − max(nulls) ≥ MARGIN`` (higher = better).
MARGIN = 0.05
#: Seed of every null (re-initialisation, permutation, random vectors).
NULL_SEED = 0
NULLS = ("untrained vision", "shuffled explanations", "random targets")


def untrained_vision(clip: Any, seed: int = NULL_SEED) -> Any:
    """The organism with its vision tower re-initialised (text tower, tokenizer, image
    normalisation kept). open_clip's own initialisation of the organism's architecture under
    ``torch.manual_seed(seed)``; the tag becomes ``{tag}+untrained-vision-{seed}`` so its
    caches (image mean) never mix with the trained model's.

    Raises:
        SithError: a model other than the organism (its architecture config is needed).
    """
    if clip.info.model_name != ORGANISM_NAME or clip.info.source != "open_clip":
        raise SithError(
            f"the untrained-vision null is built for {ORGANISM_NAME} only, got {clip.info.model_name}; "
            "evaluate the organism"
        )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        fresh = build_model(organism_config())
    model = copy.deepcopy(clip.model).cpu()
    model.visual.load_state_dict(fresh.visual.state_dict())
    return wrap_open_clip(
        model,
        model_name=clip.info.model_name,
        pretrained=f"{clip.info.pretrained}+untrained-vision-{seed}",
        tokenizer=clip.tokenizer,
        image_mean=clip.image_mean,
        image_std=clip.image_std,
        device=clip.device,
    )


def permutation(n: int, seed: int = NULL_SEED) -> Tensor:
    """A seeded random permutation of ``range(n)`` (int64)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)


def reconstruction_fidelity(targets: Tensor, scores: Tensor, indices: Tensor, atoms: Tensor) -> Tensor:
    """``(N,)`` cos(t, Σ w_s a_s) of ``targets (N, e)`` and explanations ``(N, K)`` (docs/method.md §5)."""
    a = atoms[indices.clamp_min(0)] * (indices >= 0)[..., None]
    recon = (scores[..., None].float() * a).sum(-2)
    return (unit(recon.double()) * unit(targets.double())).sum(-1).float()


def shuffled(
    decs: list[LayerDecomposition], perm: Tensor, targets: list[Tensor], atoms: Tensor
) -> list[LayerDecomposition]:
    """``decs`` with explanations permuted across all their components (component ``j`` of the
    flat layer/head/index order gets explanation ``perm[j]``); fidelity recomputed against each
    component's own target ``targets[l] (H, rank, e)``."""
    scores = torch.cat([d.scores.reshape(-1, d.sparsity) for d in decs])[perm]
    indices = torch.cat([d.indices.reshape(-1, d.sparsity) for d in decs])[perm]
    out, start = [], 0
    for d, t in zip(decs, targets):
        n = d.num_heads * d.rank
        s, i = scores[start:start + n], indices[start:start + n]
        fid = reconstruction_fidelity(t.reshape(n, -1), s, i, atoms)
        out.append(dataclasses.replace(
            d, scores=s.reshape(d.scores.shape), indices=i.reshape(d.indices.shape),
            fidelity=fid.reshape(d.num_heads, d.rank),
        ))
        start += n
    return out


def layer_targets(ws: Any, config: Any) -> list[Tensor]:
    """Each analysed layer's joint targets ``(H, rank, e)`` of ``config`` (docs/method.md §3)."""
    mean = ws.image_mean() if config.image_mean else None
    return [
        singular_targets(ws.weights, layer, fold_ln=config.fold_ln, sv_type=config.sv_type, rank=config.rank,
                         image_mean=mean).vectors
        for layer in config.layers
    ]


def _fake_layer(template: LayerDecomposition, code: Any) -> LayerDecomposition:
    H, r, K = template.scores.shape
    return dataclasses.replace(
        template, scores=code.weights.cpu().reshape(H, r, K), indices=code.indices.cpu().reshape(H, r, K),
        fidelity=code.fidelity.cpu().reshape(H, r), polarity=torch.ones(H, r, dtype=torch.int8),
    )


def random_target_decompositions(
    decs: list[LayerDecomposition], atoms: Tensor, method: str, seed: int = NULL_SEED
) -> list[LayerDecomposition]:
    """Random unit joint-space vectors in the shape of ``decs`` (one per analysed component),
    explained with ``atoms`` and ``method``; heads are the same (layer, head) slots."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for d in decs:
        n = d.num_heads * d.rank
        t = unit(torch.randn(n, atoms.shape[1], generator=g, dtype=torch.float64)).float()
        out.append(_fake_layer(d, solve(t, atoms, d.sparsity, method=method)))
    return out


def random_directions(
    ws: Any, config: Any, atoms: Tensor, acts: dict[int, Tensor], seed: int = NULL_SEED
) -> tuple[Explained, Tensor]:
    """The grounding null: per analysed (layer, head, index) slot a random centred unit
    residual direction ``r`` (d,), explained like a singular vector (docs/method.md §3, §5), with
    activation ``⟨o_h, r⟩ = Σ_i act_i ⟨v_i, r⟩`` (the head's class-token output, rank-``rank``
    part, projected on ``r``).

    Args:
        acts: layer -> ``(n, H, rank)`` component activations (:func:`world_activations`).

    Returns:
        (explanations, activations ``(n, N)``).
    """
    g = torch.Generator().manual_seed(seed)
    mean = ws.image_mean() if config.image_mean else None
    keys, cols, codes = [], [], []
    for layer in config.layers:
        Vh = layer_svd(ws.weights, layer, fold_ln=True).Vh[:, : config.rank, :].double()  # (H, r, d)
        H, r, d = Vh.shape
        dirs = unit(centering(torch.randn(H, r, d, generator=g, dtype=torch.float64)))
        coef = torch.einsum("hrd,hjd->hjr", Vh, dirs)  # ⟨v_r, dir_j⟩ per head
        proj = torch.einsum("nhr,hjr->nhj", acts[layer].double(), coef)
        cols.append(proj.reshape(proj.shape[0], -1))
        codes.append(solve(joint_targets(ws.weights, dirs.reshape(H * r, d), mean), atoms, config.sparsity,
                           method=config.method))
        keys += [(layer, h, j) for h in range(H) for j in range(r)]
    scores = torch.cat([c.weights.cpu() for c in codes])
    ex = Explained(keys, scores, torch.cat([c.indices.cpu() for c in codes]))
    return ex, torch.cat(cols, dim=1)


def separates(trained: float, nulls: dict[str, float], margin: float = MARGIN) -> bool:
    """Whether ``trained`` beats every finite null value by at least ``margin``."""
    vals = [v for v in nulls.values() if v == v]
    return trained == trained and all(trained - v >= margin for v in vals)
