"""Read and decode image units in DataLoader workers, in batches that say which units ended.

:class:`UnitImages` is an ``IterableDataset`` over a list of
:class:`~sith.encode.sources.ImageUnit` s. Each DataLoader worker takes every
``num_workers``-th unit, reads it (shards through webdataset's tar reader, which groups
members into samples by key), decodes the ``jpg/jpeg/png/webp`` member of each sample
with PIL and applies the model's preprocessing. It yields its own batches (use the
DataLoader with ``batch_size=None``) as dicts:

* ``pixels``: ``(b, 3, S, S)`` float32 (``b`` may be 0, then ``None``);
* ``units``: ``(b,)`` int64, the position in the unit list of each image;
* ``bad``: ``{unit position: samples that could not be read or decoded}``;
* ``bad_names``: a few of those samples' names, for the report;
* ``finished``: unit positions whose last image is in this batch or an earlier one.

A worker's batches arrive in order, so a unit listed in ``finished`` is complete.
Nothing raised while reading one sample stops the job: it is counted in ``bad``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import IterableDataset, get_worker_info
from webdataset.tariterators import tarfile_samples

from sith.encode.sources import IMAGE_KEYS, ImageUnit

logger = logging.getLogger(__name__)

MAX_BAD_NAMES = 5
Preprocess = Callable[[Image.Image], Tensor]


def decode_image(data: bytes, preprocess: Preprocess) -> Tensor:
    """``(3, S, S)`` model input from encoded image bytes (raises on corrupt data)."""
    with Image.open(io.BytesIO(data)) as img:
        return preprocess(img.convert("RGB"))


def _image_member(sample: dict[str, Any]) -> str | None:
    for key in IMAGE_KEYS:
        if isinstance(sample.get(key), bytes):
            return key
    return None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:80] if text else type(exc).__name__


def unit_samples(unit: ImageUnit) -> Iterator[tuple[str, bytes | None]]:
    """``(name, bytes)`` per image sample of a unit; ``(name, None)`` for one that could not be read."""
    if unit.shard is None:
        for path in unit.files:
            try:
                with open(path, "rb") as fh:
                    yield path, fh.read()
            except OSError:
                yield path, None
        return
    errors: list[Exception] = []

    def keep_going(exc: Exception) -> bool:
        errors.append(exc)
        return True

    for sample in tarfile_samples([{"url": unit.shard}], handler=keep_going):
        while errors:
            yield f"{unit.shard}:<unreadable: {_first_line(errors.pop())}>", None
        key = _image_member(sample)
        if key is not None:
            yield f"{unit.shard}:{sample.get('__key__')}.{key}", sample[key]
    for exc in errors:
        yield f"{unit.shard}:<unreadable: {_first_line(exc)}>", None


class UnitImages(IterableDataset):
    """Decoded, batched images of ``units`` (see the module doc)."""

    def __init__(self, units: list[ImageUnit], preprocess: Preprocess, batch_size: int) -> None:
        super().__init__()
        self.units = units
        self.preprocess = preprocess
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        wid, nworkers = (info.id, info.num_workers) if info is not None else (0, 1)
        pixels: list[Tensor] = []
        owners: list[int] = []
        bad: dict[int, int] = {}
        names: list[str] = []
        finished: list[int] = []

        def emit() -> dict[str, Any]:
            batch = {
                "pixels": torch.stack(pixels) if pixels else None,
                "units": torch.tensor(owners, dtype=torch.long),
                "bad": dict(bad),
                "bad_names": list(names),
                "finished": list(finished),
            }
            for part in (pixels, owners, names, finished):
                part.clear()
            bad.clear()
            return batch

        for pos in range(wid, len(self.units), nworkers):
            for name, data in unit_samples(self.units[pos]):
                try:
                    if data is None:
                        raise OSError("cannot read the member")
                    pixels.append(decode_image(data, self.preprocess))
                    owners.append(pos)
                except Exception as exc:  # noqa: BLE001 - any corrupt sample is skipped and counted
                    bad[pos] = bad.get(pos, 0) + 1
                    if len(names) < MAX_BAD_NAMES:
                        names.append(f"{name} ({type(exc).__name__}: {str(exc)[:80]})")
                if len(pixels) == self.batch_size:
                    yield emit()
            finished.append(pos)
        if pixels or finished or bad:
            yield emit()
