"""Mean image embedding over an image collection, on one process or many (docs/method.md §4, issue 10).

``m = (1/M) Σ_i f(x_i) / ‖f(x_i)‖`` over the ``M`` readable images, ``f`` the model's
image tower. The seed computes it over CC12M's webdataset shards; any source of
:mod:`sith.encode.sources` works (folder, file list, shards by brace pattern or glob).

How the work runs:

* The source is cut into units (one per shard; loose files in chunks). Under torchrun
  rank ``r`` of ``W`` takes units ``r, r+W, ...``; alone, it takes them all.
* Images are read and decoded in DataLoader workers (:mod:`sith.encode.loader`), encoded
  under autocast (``precision``), normalised and summed **per unit in float64**.
* After each unit the rank rewrites its progress file
  ``image_mean.progress/rank-{r}.pt`` (per-unit sums, counts, skipped, and the model,
  precision and source hash they belong to). A restarted job skips every unit already
  recorded (by any rank) and gets the same mean; files for another model, precision or
  source are refused (``restart=True`` deletes them).
* Corrupt samples are skipped and counted (never fatal unless ``skip_bad=False``).
* The per-unit sums are added in unit order, all-reduced with the counts, and rank 0
  writes ``image_mean.pt`` (a plain ``(e,)`` tensor, the seed's layout) with
  ``image_mean.json`` beside it (:mod:`sith.encode.seedfiles`), then drops the progress.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from sith import paths
from sith.encode.distributed import (
    DistContext,
    agree,
    all_reduce_max,
    all_reduce_sum,
    barrier,
    checked,
    gather_objects,
)
from sith.encode.loader import UnitImages, unit_samples
from sith.encode.seedfiles import load_image_mean, save_image_mean
from sith.encode.sources import (
    FILES_PER_UNIT,
    SKIP_BAD_DEFAULT,
    ImageUnit,
    check_shard,
    make_units,
    units_digest,
)
from sith.errors import ConfigError, SithError
from sith.io import first_missing, load_pt, remove_created, save_json, save_pt
from sith.load.weights import ModelInfo

logger = logging.getLogger(__name__)

__all__ = [
    "PRECISIONS",
    "autocast",
    "compute_image_mean",
    "iter_images",
    "load_image_mean",
    "save_image_mean",
]

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
PROGRESS_FORMAT = "sith-image-mean-progress/1"
#: Fault injection for tests: a rank raises after finishing this many units in one run.
FAIL_AFTER_ENV = "SITH_FAIL_AFTER_UNITS"


class ImageEncoder(Protocol):
    """What :func:`compute_image_mean` needs from a model handle (``LoadedClip`` has it)."""

    info: ModelInfo
    device: torch.device

    def encode_images(self, pixels: Tensor) -> Tensor:
        """``(B, e)`` image embeddings of preprocessed ``(B, 3, S, S)`` pixels."""
        ...

    def preprocess(self, image: Image.Image) -> Tensor:
        """``(3, S, S)`` model input for one PIL image."""
        ...


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast for the towers at ``precision`` (``fp32``: none)."""
    if precision not in PRECISIONS:
        raise SithError(f"unknown precision {precision!r}; available: {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


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


# --------------------------------------------------------------------------- progress files


def progress_dir(target: Path) -> Path:
    """``image_mean.pt`` → ``image_mean.progress/`` (per-rank records of finished units)."""
    return target.with_name(target.stem + ".progress")


def _progress_meta(info: ModelInfo, precision: str, digest: str, n_units: int) -> dict[str, Any]:
    return {
        "model_name": info.model_name,
        "pretrained": info.pretrained,
        "model_fingerprint": info.fingerprint,
        "precision": precision,
        "source_hash": digest,
        "n_units": n_units,
    }


def read_progress(folder: Path, meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Finished units ``{key: {"sum", "count", "skipped"}}`` of every rank's progress file.

    Raises:
        SithError: a file that is not ours, or one for another model, precision or source.
    """
    merged: dict[str, dict[str, Any]] = {}
    fix = f"delete {folder} or pass {{on}} to start over"
    for f in sorted(folder.glob("rank-*.pt")):
        data = load_pt(f, what="image-mean progress file")
        if not isinstance(data, dict) or data.get("format") != PROGRESS_FORMAT:
            raise ConfigError("restart", f"{f} is not a sith image-mean progress file; {fix}")
        found = data["meta"]
        if found.get("model_fingerprint") != meta["model_fingerprint"] or (
            found.get("model_name"), found.get("pretrained")) != (meta["model_name"], meta["pretrained"]):
            raise ConfigError(
                "restart",
                f"{f} was written by model {found.get('model_name')}/{found.get('pretrained')} "
                f"(fingerprint {found.get('model_fingerprint')}), not {meta['model_name']}/"
                f"{meta['pretrained']} ({meta['model_fingerprint']}); {fix}"
            )
        for key, what in (("precision", "{name:precision}"), ("source_hash", "{name:images}")):
            if found.get(key) != meta[key]:
                raise ConfigError(
                    "restart",
                    f"{f} was written with another {what} ({key} {found.get(key)!r}, now "
                    f"{meta[key]!r}); rerun with the same {what} or {fix}",
                )
        merged.update(data["units"])
    return merged


def _write_progress(folder: Path, rank: int, meta: dict[str, Any], done: dict[str, Any],
                    images: int) -> None:
    save_pt({"format": PROGRESS_FORMAT, "meta": meta, "units": done}, folder / f"rank-{rank}.pt")
    save_json({"format": PROGRESS_FORMAT, "units": len(done), "images": images}, folder / f"rank-{rank}.json")


def _others_images(folder: Path | None, rank: int) -> tuple[int, int]:
    """``(units, images)`` the other ranks report in their progress JSON (for the bar)."""
    units = images = 0
    if folder is None:
        return 0, 0
    for f in folder.glob("rank-*.json"):
        if f.stem == f"rank-{rank}":
            continue
        with contextlib.suppress(OSError, ValueError):
            rec = json.loads(f.read_text())
            units, images = units + int(rec["units"]), images + int(rec["images"])
    return units, images


# --------------------------------------------------------------------------- the work


class _Rank:
    """One rank's pass over its units: encode, sum per unit, record progress, drive the bar."""

    def __init__(self, clip: ImageEncoder, ctx: DistContext, *, precision: str, skip_bad: bool,
                 folder: Path | None, meta: dict[str, Any], done: dict[str, Any], bar: tqdm | None,
                 done_before: int) -> None:
        self.clip, self.ctx, self.precision, self.skip_bad = clip, ctx, precision, skip_bad
        self.folder, self.meta, self.done, self.bar = folder, meta, done, bar
        self.done_before = done_before
        self.images = self.finished = 0
        self.fail_after = int(os.environ.get(FAIL_AFTER_ENV, "0") or 0)
        self.start = self.last_bar = time.monotonic()

    def run(self, todo: list[ImageUnit], *, batch_size: int, workers: int) -> None:
        if not todo:
            return
        loader = DataLoader(UnitImages(todo, self.clip.preprocess, batch_size), batch_size=None,
                            num_workers=workers)
        sums: Tensor | None = None
        counts = [0] * len(todo)
        skipped = [0] * len(todo)
        device = torch.device(self.clip.device)
        for batch in loader:
            for pos, n in batch["bad"].items():
                skipped[pos] += n
            if batch["bad_names"]:
                if not self.skip_bad:
                    raise ConfigError(
                        "skip_bad", f"cannot read image {batch['bad_names'][0]}; remove it or pass {{on}}"
                    )
                logger.warning("skipping unreadable sample(s): %s", "; ".join(batch["bad_names"]))
            if batch["pixels"] is not None:
                with torch.no_grad(), autocast(device, self.precision):
                    emb = self.clip.encode_images(batch["pixels"].to(device))
                unit_emb = F.normalize(emb.detach().double(), dim=-1)
                if sums is None:
                    sums = torch.zeros(len(todo), unit_emb.shape[1], dtype=torch.float64, device=device)
                sums.index_add_(0, batch["units"].to(device), unit_emb)
                for pos in batch["units"].tolist():
                    counts[pos] += 1
                self.images += len(batch["units"])
            for pos in batch["finished"]:
                row = sums[pos].cpu() if sums is not None else torch.zeros(0, dtype=torch.float64)
                self._unit_done(todo[pos], row, counts[pos], skipped[pos])
            self._update_bar(force=bool(batch["finished"]))

    def _unit_done(self, unit: ImageUnit, total: Tensor, count: int, skipped: int) -> None:
        self.done[unit.key] = {"sum": total if count else total[:0], "count": count, "skipped": skipped}
        self.finished += 1
        if self.folder is not None:
            _write_progress(self.folder, self.ctx.rank, self.meta, self.done, self.images)
        if self.fail_after and self.finished >= self.fail_after:
            raise RuntimeError(f"{FAIL_AFTER_ENV}={self.fail_after}: stopping after {self.finished} units")

    def _update_bar(self, *, force: bool) -> None:
        now = time.monotonic()
        if self.bar is None or (not force and now - self.last_bar < 1.0):
            return
        self.last_bar = now
        units, images = _others_images(self.folder, self.ctx.rank)
        rate = (self.images + images) / max(now - self.start, 1e-9)
        self.bar.n = min(self.bar.total, self.done_before + self.finished + units)
        self.bar.set_postfix_str(f"{rate:.1f} images/s (all ranks)")


def _any_image(folder: Path, meta: dict[str, Any]) -> bool:
    """Whether any rank's progress file in ``folder`` records a readable image."""
    try:
        return any(int(r["count"]) > 0 for r in read_progress(folder, meta).values())
    except (SithError, KeyError, TypeError, ValueError):
        return True  # unsure: keep it


def _local_total(done: dict[str, Any], keys: list[str]) -> tuple[Tensor | None, int, int]:
    """Sum (float64, in unit order), count and skipped over this rank's units."""
    total: Tensor | None = None
    count = skipped = 0
    for key in keys:
        rec = done[key]
        count += int(rec["count"])
        skipped += int(rec["skipped"])
        if rec["sum"].numel():
            total = rec["sum"].double() if total is None else total + rec["sum"].double()
    return total, count, skipped


def _reduce(ctx: DistContext, total: Tensor | None, count: int,
            skipped: int) -> tuple[Tensor | None, int, int]:
    """Sum, count and skipped over all ranks (one float64 all-reduce)."""
    width = all_reduce_max(ctx, 0 if total is None else int(total.shape[0]))
    vec = torch.zeros(width + 2, dtype=torch.float64)
    if total is not None:
        vec[:width] = total
    vec[width], vec[width + 1] = count, skipped
    vec = all_reduce_sum(ctx, vec)
    return (vec[:width] if width else None), int(vec[width]), int(vec[width + 1])


def compute_image_mean(
    clip: ImageEncoder,
    images: str | Path,
    *,
    data_dir: str | Path | None = None,
    batch_size: int = 64,
    workers: int = 0,
    precision: str = "fp32",
    skip_bad: bool = SKIP_BAD_DEFAULT,
    restart: bool = False,
    progress: bool = True,
    dist: DistContext | None = None,
    files_per_unit: int = FILES_PER_UNIT,
) -> Tensor:
    """Mean of L2-normalised image embeddings ``(e,)`` over a collection (see the module doc).

    Args:
        clip: model handle (:class:`ImageEncoder`), on this rank's device.
        images: folder, file list, shard, brace pattern or glob (:mod:`sith.encode.sources`).
        data_dir: if given, rank 0 writes ``image_mean.pt`` + ``.json`` there and progress
            is recorded (resumable); ``None`` computes only.
        batch_size: images per forward pass.
        workers: DataLoader worker processes that read and decode (0: in this process).
        precision: ``fp32``, ``fp16`` or ``bf16`` autocast for the tower; sums are float64.
        skip_bad: skip and count unreadable samples (default); ``False`` fails on the first.
        restart: discard recorded progress first.
        progress: one tqdm bar (rank 0) with the rate over all ranks.
        dist: the :class:`DistContext` (from :func:`sith.encode.distributed.distributed`);
            ``None``: this process alone.
        files_per_unit: loose image files per unit of work.

    Returns:
        The ``(e,)`` float32 mean, on every rank.

    Raises:
        SithError: bad source (nothing matches, a shard that is not a tar), progress files
            from another model/precision/source, or no readable image; raised on every rank.
    """
    ctx = dist or DistContext(device=torch.device(clip.device))
    started = time.monotonic()
    if batch_size < 1:
        raise ConfigError("batch_size", f"{{name}} must be >= 1, got {batch_size}; pass e.g. 64")
    if workers < 0:
        raise ConfigError("workers", f"{{name}} must be >= 0, got {workers}; pass e.g. 4")
    autocast(torch.device(clip.device), precision)  # validates the name
    units = checked(ctx, lambda: make_units(images, files_per_unit=files_per_unit))
    digest = units_digest(units)
    if len(set(gather_objects(ctx, digest))) > 1:
        raise SithError(f"the ranks see different files for {images}; put the images on a filesystem "
                        "every node sees, under the same path")
    target = paths.image_mean_path(data_dir, clip.info.model_name, clip.info.pretrained) if data_dir else None
    folder = progress_dir(target) if target is not None else None
    meta = _progress_meta(clip.info, precision, digest, len(units))
    if folder is not None and restart and ctx.is_main:
        shutil.rmtree(folder, ignore_errors=True)
    barrier(ctx)
    recorded = checked(ctx, lambda: read_progress(folder, meta) if folder is not None else {})
    mine = [units[i] for i in range(ctx.rank, len(units), ctx.world_size)]
    done = {u.key: recorded[u.key] for u in mine if u.key in recorded}
    todo = [u for u in mine if u.key not in recorded]
    agree(ctx, next((p for u in todo if u.shard for p in [check_shard(u.shard)] if p), None))
    created = first_missing(folder) if folder is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    already = sum(1 for u in units if u.key in recorded)
    if already:
        logger.info("resuming: %d of %d units already done", already, len(units))
    bar = tqdm(total=len(units), initial=already, unit="unit", desc="image mean",
               disable=not (progress and ctx.is_main))
    worker = _Rank(clip, ctx, precision=precision, skip_bad=skip_bad, folder=folder, meta=meta,
                   done=done, bar=bar, done_before=already)
    try:
        worker.run(todo, batch_size=batch_size, workers=workers)
        error = None
    except SithError as exc:
        error = str(exc)
    finally:
        bar.close()
    try:
        agree(ctx, error)
        total, count, skipped = _reduce(ctx, *_local_total(done, [u.key for u in mine]))
        if total is None or count == 0:
            raise SithError(f"no readable images in {images} ({skipped} skipped); check the source")
    except SithError:
        if created is not None and ctx.is_main and not _any_image(folder, meta):
            remove_created(folder, created)  # a refused run that read nothing leaves nothing
        raise
    if skipped:
        logger.warning("image mean: skipped %d unreadable sample(s) of %d", skipped, count + skipped)
    mean = (total / count).float()
    if target is not None and ctx.is_main:
        info = {"count": count, "skipped": skipped, "source": str(images), "source_hash": digest,
                "n_units": len(units), "precision": precision, "world_size": ctx.world_size,
                "batch_size": batch_size, "workers": workers, "seconds": round(time.monotonic() - started, 3),
                "images_resumed": sum(int(r["count"]) for r in recorded.values())}
        save_image_mean(mean, clip.info, target, info)
        shutil.rmtree(folder, ignore_errors=True)
        logger.info("wrote image mean over %d images (%d skipped) to %s", count, skipped, target)
    barrier(ctx)
    return mean
