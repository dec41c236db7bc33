"""What every dataset loader returns: samples (image path + label + fields) and image reading.

A loader reads a dataset's own files in its published layout, unchanged, and returns an
:class:`ImageDataset`; images are opened only when iterated (:meth:`ImageDataset.images`).
A wrong layout, a missing column or an unreadable image is a one-line :class:`SithError`;
``skip_unreadable=True`` logs and skips unreadable images instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from sith.errors import SithError

log = logging.getLogger("sith.datasets")


@dataclass(frozen=True)
class Sample:
    """One image: its file, its class ``label`` and dataset-specific ``fields``
    (e.g. Waterbirds ``place`` and ``group``, ViSU ``caption``)."""

    path: Path
    label: int
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageDataset:
    """A split of a dataset: samples in file order, class names, optional group names.

    ``groups()`` is defined when every sample has a ``group`` field (an index into ``group_names``).
    """

    name: str
    split: str
    samples: tuple[Sample, ...]
    class_names: tuple[str, ...]
    group_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.samples)

    def labels(self) -> Tensor:
        """``(n,)`` int64 class labels."""
        return torch.tensor([s.label for s in self.samples], dtype=torch.long)

    def groups(self) -> Tensor:
        """``(n,)`` int64 group indices (datasets with groups only)."""
        if not self.group_names:
            raise SithError(f"dataset {self.name} has no groups; group accuracy needs e.g. Waterbirds")
        return torch.tensor([s.fields["group"] for s in self.samples], dtype=torch.long)

    def images(self, *, skip_unreadable: bool = False) -> Iterator[tuple[Image.Image, Sample]]:
        """Yield ``(RGB PIL image, sample)`` in order (see :func:`iter_images`)."""
        return iter_images(self.samples, skip_unreadable=skip_unreadable)


def load_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image as RGB; a missing or unreadable file raises SithError."""
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise SithError(
            f"cannot read image {path} ({type(exc).__name__}); restore the file, or skip unreadable "
            "images (skip_unreadable=True / --skip-unreadable)"
        ) from None


def iter_images(
    samples: Iterable[Sample],
    *,
    skip_unreadable: bool = False,
    on_skip: Callable[[Sample], None] | None = None,
) -> Iterator[tuple[Image.Image, Sample]]:
    """Yield ``(image, sample)``; an unreadable image raises, or with ``skip_unreadable`` is
    logged (and passed to ``on_skip``) and left out."""
    for s in samples:
        try:
            yield load_image(s.path), s
        except SithError as exc:
            if not skip_unreadable:
                raise
            log.warning("skipped: %s", exc)
            if on_skip is not None:
                on_skip(s)


def require(path: Path, what: str, layout: str) -> Path:
    """``path`` if it exists, else a SithError naming the expected layout."""
    if not path.exists():
        raise SithError(f"{what} not found: {path}; expected the layout {layout}")
    return path


def read_lines(path: Path, what: str, layout: str) -> list[str]:
    """Non-empty stripped lines of a text file that must exist."""
    text = require(path, what, layout).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def check_split(split: str, allowed: tuple[str, ...], dataset: str) -> str:
    if split not in allowed:
        raise SithError(f"unknown {dataset} split {split!r}; use one of {', '.join(allowed)}")
    return split
