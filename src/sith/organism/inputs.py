"""The organism's own inputs to the pipeline: its image mean (from its world's images) and a
:class:`sith.pipeline.Workspace` wired with it (docs/method.md §4: the seed's CC12M, here the world)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sith.organism.world import sample
from sith.organism.zeroshot import loaded_encoders
from sith.pipeline import Workspace

#: The organism's image mean: this many world images from this seed (recorded with it).
IMAGE_MEAN_IMAGES, IMAGE_MEAN_SEED = 512, 12345


def world_image_mean(clip: Any, *, n: int = 512, seed: int = 12345, batch_size: int = 128) -> Tensor:
    """Mean unit image embedding ``(e,)`` over ``n`` fresh world images (the organism's CC12M)."""
    encode_image = loaded_encoders(clip, batch_size=batch_size).encode_image
    total = None
    for start in range(0, n, batch_size):
        batch = sample(min(batch_size, n - start), seed=seed + start)
        emb = F.normalize(encode_image(torch.as_tensor(batch.images).float()), dim=-1)
        total = emb.sum(0) if total is None else total + emb.sum(0)
    return total / n


def organism_image_mean(clip: Any) -> tuple[Tensor, dict[str, Any]]:
    """The organism's image mean and its provenance (a ``Workspace`` image-mean source)."""
    mean = world_image_mean(clip, n=IMAGE_MEAN_IMAGES, seed=IMAGE_MEAN_SEED)
    return mean, {"source": "organism world", "count": IMAGE_MEAN_IMAGES, "seed": IMAGE_MEAN_SEED}


def organism_workspace(
    clip: Any, *, data_dir: str | Path, device: str = "cpu", progress: bool = True
) -> Workspace:
    """A :class:`Workspace` for the loaded organism: its own pool, its world's image mean."""
    return Workspace(
        clip, data_dir=data_dir, device=device, progress=progress, image_mean_source=organism_image_mean
    )
