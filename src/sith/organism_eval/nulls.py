"""Null baselines for every explanation metric on the organism.

A metric means something only if it separates the trained organism from models and
explanations that cannot know the world:

* **untrained vision** — the same architecture, its vision tower re-initialised with
  open_clip's initialisation under a fixed seed, its trained text tower kept (so the
  dictionary is the same); it gets its own image mean, computed the same way
  (:func:`untrained_vision`);
* **shuffled explanations** — the trained model's explanations permuted across the
  analysed components (:func:`permutation`);
* **random targets** — random centred residual directions ``r`` per analysed (layer, head)
  slot, explained through docs/method.md §3 like a singular vector, whose activation is the
  head's class-token output projected on ``r`` (:func:`random_directions`).

A metric *separates* when the trained value beats every null by at least ``MARGIN``
(fixed a priori); otherwise it is reported as not separating and is not used to choose
defaults.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from sith.decompose import solve
from sith.errors import SithError
from sith.factor import centering, joint_targets, layer_svd, unit
from sith.load import wrap_open_clip
from sith.organism import ORGANISM_NAME
from sith.organism.inputs import organism_workspace
from sith.organism.model import organism_config, recorded_config, recorded_world
from sith.organism.train import build_model
from sith.organism_eval.grounded import Explained

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
        # the model's own architecture: an exported organism may differ from the shipped one
        fresh = build_model(recorded_config(clip.info.model_name, clip.info.pretrained) or organism_config())
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


def untrained_workspace(ws: Any, seed: int = NULL_SEED, *, progress: bool = False) -> Any:
    """A workspace of :func:`untrained_vision` of ``ws``'s organism, on the trained model's
    world (its pool and image-mean images: the null differs only in its vision weights)."""
    world = recorded_world(ws.clip.info.model_name, ws.clip.info.pretrained)
    return organism_workspace(untrained_vision(ws.clip, seed), data_dir=ws.data_dir, device=ws.device,
                              progress=progress, world=world)


def permutation(n: int, seed: int = NULL_SEED) -> Tensor:
    """A seeded random permutation of ``range(n)`` (int64)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)


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
