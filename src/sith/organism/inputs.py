"""The organism's own inputs to the pipeline: its image mean (from its world's images) and a
:class:`sith.pipeline.Workspace` wired with it (docs/method.md §4: the seed's CC12M, here the world)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sith.organism import POOL_OF_WORLD
from sith.organism.model import recorded_world
from sith.organism.world import sample
from sith.organism.zeroshot import loaded_encoders
from sith.pipeline import Workspace

#: The organism's image mean: this many world images from this seed (recorded with it).
IMAGE_MEAN_IMAGES, IMAGE_MEAN_SEED = 512, 12345


def world_image_mean(clip: Any, *, n: int = 512, seed: int = 12345, batch_size: int = 128,
                     world: str = "v1") -> Tensor:
    """Mean unit image embedding ``(e,)`` over ``n`` fresh images of ``world`` (the organism's CC12M)."""
    encode_image = loaded_encoders(clip, batch_size=batch_size).encode_image
    total = None
    for start in range(0, n, batch_size):
        batch = sample(min(batch_size, n - start), seed=seed + start, world=world)
        emb = F.normalize(encode_image(torch.as_tensor(batch.images).float()), dim=-1)
        total = emb.sum(0) if total is None else total + emb.sum(0)
    return total / n


def organism_image_mean(clip: Any, world: str | None = None) -> tuple[Tensor, dict[str, Any]]:
    """The organism's image mean and its provenance (a ``Workspace`` image-mean source), from the
    images of ``world`` (default: the one the model records, :func:`recorded_world`)."""
    world = world or recorded_world(clip.info.model_name, clip.info.pretrained)
    mean = world_image_mean(clip, n=IMAGE_MEAN_IMAGES, seed=IMAGE_MEAN_SEED, world=world)
    provenance = {"source": "organism world", "count": IMAGE_MEAN_IMAGES, "seed": IMAGE_MEAN_SEED}
    return mean, provenance if world == "v1" else {**provenance, "world": world}


def organism_workspace(
    clip: Any, *, data_dir: str | Path, device: str = "cpu", progress: bool = True, world: str | None = None
) -> Workspace:
    """A :class:`Workspace` for the loaded organism: its own pool, its world's image mean
    (``world``: that world's pool and images instead of the recorded ones, e.g. for a
    re-initialised null of a v2 organism)."""
    return Workspace(
        clip, data_dir=data_dir, device=device, progress=progress,
        default_dictionary=None if world is None else POOL_OF_WORLD[world],
        image_mean_source=partial(organism_image_mean, world=world),
    )
