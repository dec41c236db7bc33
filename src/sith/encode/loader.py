"""Read and decode image units in DataLoader workers, in batches that say which units ended.

:class:`UnitImages` is an ``IterableDataset`` over a list of
:class:`~sith.encode.sources.ImageUnit` s. Each DataLoader worker takes every
``num_workers``-th unit, reads it (shards through webdataset's tar reader, which groups
members into samples by key), decodes the ``jpg/jpeg/png/webp`` member of each sample
with PIL and applies the model's preprocessing up to its float tail
(:class:`~sith.encode.pixels.Pixels`). It yields its own batches (use the DataLoader
with ``batch_size=None``) as dicts:

* ``pixels``: ``(b, 3, S, S)`` uint8 (float32 when the preprocessing cannot be split; a
  list holding still-encoded JPEGs with ``decode="device"``; ``None`` when ``b`` is 0);
  :meth:`Pixels.finish` makes the model input;
* ``units``: ``(b,)`` int64, the position in the unit list of each image;
* ``bad``: ``{unit position: samples that could not be read or decoded}``;
* ``bad_names``: a few of those samples' names, for the report;
* ``finished``: unit positions whose last image is in this batch or an earlier one;
* ``stage_s``: seconds this worker spent per stage (``read``, ``decode``, ``resize``,
  ``collate``) on this batch.

A worker's batches arrive in order, so a unit listed in ``finished`` is complete.
Nothing raised while reading one sample stops the job: it is counted in ``bad``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import IterableDataset, get_worker_info
from webdataset.tariterators import tarfile_samples

from sith.encode.pixels import Pixels
from sith.encode.sources import IMAGE_KEYS, ImageUnit, check_shard, make_units
from sith.errors import SithError

logger = logging.getLogger(__name__)

MAX_BAD_NAMES = 5
Preprocess = Callable[[Image.Image], Tensor]


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


def default_workers(device: torch.device | str, world_size: int = 1) -> int:
    """DataLoader workers for one rank: the CPUs it has, less what the forward pass needs.

    On CUDA the forward pass runs on the GPU: every CPU of the rank but one decodes (at most
    16). On CPU the forward pass itself uses the cores, decoding is a few percent of it for
    a ViT (benchmarks/README.md, throughput): half the rank's CPUs (at least one) keep the
    model fed without taking its cores.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    per_rank = max(1, cpus // max(1, world_size))
    if torch.device(device).type == "cuda":
        return max(1, min(16, per_rank - 1))
    return max(1, per_rank // 2)


def iter_images(images: str | Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """Every image of a source (:mod:`sith.encode.sources`) as ``(name, read bytes)``, in one process.

    Sequential and simple (for grounding and small jobs); ``read()`` raises ``OSError`` for
    a sample that could not be read. A shard that is not a tar is a SithError.
    """
    for unit in make_units(images):
        problem = check_shard(unit.shard) if unit.shard else None
        if problem:
            raise SithError(problem)
        for name, data in unit_samples(unit):
            yield name, (lambda data=data, name=name: _bytes_or_raise(name, data))


def _bytes_or_raise(name: str, data: bytes | None) -> bytes:
    if data is None:
        raise OSError(f"cannot read {name}")
    return data


class UnitImages(IterableDataset):
    """Decoded, batched images of ``units`` (see the module doc)."""

    def __init__(self, units: list[ImageUnit], pixels: Pixels | Preprocess, batch_size: int) -> None:
        super().__init__()
        self.units = units
        self.pixels = pixels if isinstance(pixels, Pixels) else Pixels(head=pixels)
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        wid, nworkers = (info.id, info.num_workers) if info is not None else (0, 1)
        pixels: list[Tensor] = []
        owners: list[int] = []
        bad: dict[int, int] = {}
        names: list[str] = []
        finished: list[int] = []
        timings = self.pixels.timings
        timings.clear()

        def emit() -> dict[str, Any]:
            t0 = time.perf_counter()
            stacked = self.pixels.collate(pixels) if pixels else None
            timings["collate"] = time.perf_counter() - t0
            batch = {
                "pixels": stacked,
                "units": torch.tensor(owners, dtype=torch.long),
                "bad": dict(bad),
                "bad_names": list(names),
                "finished": list(finished),
                "stage_s": dict(timings),
            }
            for part in (pixels, owners, names, finished):
                part.clear()
            bad.clear()
            timings.clear()
            return batch

        for pos in range(wid, len(self.units), nworkers):
            samples = unit_samples(self.units[pos])
            while True:
                t0 = time.perf_counter()
                item = next(samples, None)
                timings["read"] = timings.get("read", 0.0) + time.perf_counter() - t0
                if item is None:
                    break
                name, data = item
                try:
                    if data is None:
                        raise OSError("cannot read the member")
                    pixels.append(self.pixels.image(data))
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
