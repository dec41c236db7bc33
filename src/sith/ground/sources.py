"""Image sources for grounding, streamed in batches (memory bounded by the batch size).

* a folder (searched recursively), a webdataset ``.tar`` shard, or a glob of shards —
  read by :func:`sith.encode.images.iter_images`;
* a file list: a ``.txt`` / ``.lst`` file with one image path per line (relative paths
  are taken from the list's folder; blank lines and ``#`` comments ignored);
* ``world``: ``n`` labelled images of the generator a plugin registered
  (:mod:`sith.ground.registry`; the built-in organism's synthetic world), chunk ``c``
  drawn with seed ``[seed, c]``.

Every batch gives the model input ``pixels (B, 3, S, S)``, a small display copy
``display (B, s, s, 3)`` uint8 of what the model saw, the images' names and, for the
world, their labels.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from sith.encode.images import iter_images
from sith.encode.sources import SKIP_BAD_DEFAULT
from sith.errors import ConfigError, SithError
from sith.ground.registry import WORLD, image_source
from sith.io import read_text

log = logging.getLogger(__name__)

LIST_SUFFIXES = (".txt", ".lst")
DISPLAY_SIZE = 96
WORLD_CHUNK = 250


@dataclass
class Batch:
    """One batch: ``pixels (B, 3, S, S)`` model input, ``display (B, s, s, 3)`` uint8,
    ``names`` (B strings), ``labels`` factor -> ``(B,)`` int64 (world images only)."""

    pixels: Tensor
    display: Tensor
    names: list[str]
    labels: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class ImageSource:
    """Where the images come from: ``path`` (folder, shard, glob, file list) or ``world`` > 0.

    Attributes:
        skip_bad: skip and count unreadable images instead of stopping with an error
            (default, as ``sith image-mean``: :data:`sith.encode.sources.SKIP_BAD_DEFAULT`).
        skipped: filled while streaming: how many images were skipped.
    """

    path: str | None = None
    world: int = 0
    world_seed: int = 0
    world_variant: str = "train"
    skip_bad: bool = SKIP_BAD_DEFAULT
    skipped: int = 0

    def describe(self) -> str:
        if self.world:
            return f"world-{self.world}-seed{self.world_seed}-{self.world_variant}"
        return str(self.path)

    def check(self) -> None:
        """Refuse an empty or contradictory source before any model work."""
        if self.world < 0:
            raise ConfigError("world", f"{{name}} must be a positive number of images, got {self.world}")
        if (self.path is None) == (self.world == 0):
            raise ConfigError(
                "images", "name exactly one image source: {name}=PATH or {name:world}=N (N > 0)"
            )


def display_of(pixels: Tensor, mean: tuple, std: tuple, size: int = DISPLAY_SIZE) -> Tensor:
    """``(B, s, s, 3)`` uint8 of normalised model input ``pixels (B, 3, S, S)``."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    img = (pixels.float().cpu() * s + m).clamp(0, 1)
    if img.shape[-1] != size:
        img = F.interpolate(img, size=(size, size), mode="bilinear", align_corners=False)
    return (img * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def read_file_list(path: Path) -> list[Path]:
    """The image paths of a file list (module doc); SithError if it names none."""
    base = path.parent
    out = []
    for line in read_text(path, what="image list").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line).expanduser()
        out.append(p if p.is_absolute() else base / p)
    if not out:
        raise SithError(f"the file list {path} names no images; put one image path per line")
    return out


def _items(path: str) -> Iterator[tuple[str, Any]]:
    p = Path(path)
    if p.is_file() and p.suffix.lower() in LIST_SUFFIXES:
        for f in read_file_list(p):
            yield str(f), f.read_bytes
        return
    yield from iter_images(path)


def stream(source: ImageSource, clip: Any, batch_size: int) -> Iterator[Batch]:
    """Batches of ``source`` preprocessed for ``clip`` (a :class:`~sith.load.LoadedClip`)."""
    source.check()
    if batch_size < 1:
        raise ConfigError("batch_size", f"{{name}} must be >= 1, got {batch_size}")
    if source.world:
        yield from _world_batches(source, clip, batch_size)
    else:
        yield from _file_batches(source, clip, batch_size)


def _decode(clip: Any, name: str, read: Any) -> Tensor:
    try:
        data = read()
        with Image.open(io.BytesIO(data)) as img:
            return clip.preprocess(img.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _Unreadable(f"{name} ({type(exc).__name__}: {str(exc)[:80]})") from None


class _Unreadable(Exception):
    pass


def _file_batches(source: ImageSource, clip: Any, batch_size: int) -> Iterator[Batch]:
    pix: list[Tensor] = []
    names: list[str] = []
    for name, read in _items(str(source.path)):
        try:
            pix.append(_decode(clip, name, read))
        except _Unreadable as bad:
            if not source.skip_bad:
                raise ConfigError("skip_bad", f"cannot read image {bad}; remove it or pass {{on}}") from None
            source.skipped += 1
            log.warning("skipping unreadable image %s", bad)
            continue
        names.append(name)
        if len(pix) == batch_size:
            yield _batch(clip, pix, names)
            pix, names = [], []
    if pix:
        yield _batch(clip, pix, names)


def _batch(clip: Any, pix: list[Tensor], names: list[str]) -> Batch:
    pixels = torch.stack(pix)
    return Batch(pixels, display_of(pixels, clip.image_mean, clip.image_std), list(names))


def _world_batches(source: ImageSource, clip: Any, batch_size: int) -> Iterator[Batch]:
    """World images drawn in chunks of ``WORLD_CHUNK`` (so the images do not depend on the
    batch size), normalised with the model's mean/std, resized to its input if needed."""
    m = torch.tensor(clip.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(clip.image_std, dtype=torch.float32).view(1, 3, 1, 1)
    generator = image_source(WORLD)
    for chunk, start in enumerate(range(0, source.world, WORLD_CHUNK)):
        n = min(WORLD_CHUNK, source.world - start)
        images, world_labels = generator.sample(n, [source.world_seed, chunk], source.world_variant)
        img = torch.from_numpy(images)
        if img.shape[-1] != clip.image_size:
            img = F.interpolate(img, size=(clip.image_size,) * 2, mode="bilinear", align_corners=False)
        pixels = (img - m) / s
        for b in range(0, n, batch_size):
            sl = slice(b, min(b + batch_size, n))
            names = [f"world:{start + i}" for i in range(sl.start, sl.stop)]
            labels = {key: v[sl] for key, v in world_labels.items()}
            px = pixels[sl]
            yield Batch(px, display_of(px, clip.image_mean, clip.image_std), names, labels)
