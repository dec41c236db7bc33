"""Mean image embedding over an image collection, on one process or many (docs/method.md §4, issue 10).

``m = (1/M) Σ_i f(x_i) / ‖f(x_i)‖`` over the ``M`` readable images, ``f`` the model's
image tower. The seed computes it over CC12M's webdataset shards; any source of
:mod:`sith.encode.sources` works (folder, file list, shards by brace pattern or glob).

How the work runs:

* The source is cut into units (one per shard; loose files in chunks). Under torchrun
  rank ``r`` of ``W`` takes units ``r, r+W, ...``; alone, it takes them all.
* Images are read and decoded in DataLoader workers (:mod:`sith.encode.loader`), encoded
  under autocast (``precision``), normalised and summed **per unit in float64**.
* Workers hand over uint8 pixels; the main process normalises each batch on the model's
  device with the transform's own float32 operations (:mod:`sith.encode.pixels`: the
  same bits as the full transform per image). ``workers=None`` sizes the worker pool to
  the CPUs this rank has; batches are pinned on CUDA.
* After each unit the rank rewrites its progress file
  ``image_mean.progress/rank-{r}.pt`` (:mod:`sith.encode.progress`). A restarted job
  (by hand, or by ``torchrun --max-restarts`` after a rank died) skips every unit already
  recorded (by any rank) and gets the same mean; files for another model, precision,
  decode mode or source are refused (``restart=True`` deletes them).
* ``image_mean.json`` records the options that change pixels (``decode``), the time per
  stage (workers: read, decode, resize, collate; main: wait, transfer, forward, reduce)
  and the steady-state rate after the first batch.
* Corrupt samples are skipped and counted (never fatal unless ``skip_bad=False``).
* The per-unit sums are added in unit order, all-reduced with the counts, and rank 0
  writes ``image_mean.pt`` (a plain ``(e,)`` tensor, the seed's layout) with
  ``image_mean.json`` beside it (:mod:`sith.encode.seedfiles`), then drops the progress.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import time
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
from sith.encode.loader import UnitImages, default_workers, iter_images
from sith.encode.pixels import DECODE_MODES, WORKER_STAGES, Pixels, make_pixels
from sith.encode.progress import (
    PROGRESS_FORMAT,
    any_image,
    others_images,
    progress_dir,
    progress_meta,
    read_progress,
    write_progress,
)
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
from sith.io import first_missing, remove_created
from sith.load.weights import ModelInfo

logger = logging.getLogger(__name__)

__all__ = [
    "DECODE_MODES",
    "PRECISIONS",
    "PROGRESS_FORMAT",
    "autocast",
    "compute_image_mean",
    "default_workers",
    "iter_images",
    "load_image_mean",
    "progress_dir",
    "save_image_mean",
]

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
#: Fault injection for tests: a rank raises after finishing this many units in one run.
FAIL_AFTER_ENV = "SITH_FAIL_AFTER_UNITS"
#: Fault injection for tests: ``RANK:UNITS`` — that rank kills itself (SIGKILL) after this
#: many units, on the first attempt of a torchrun job only (``TORCHELASTIC_RESTART_COUNT`` 0).
KILL_AFTER_ENV = "SITH_KILL_AFTER_UNITS"
MAIN_STAGES = ("wait", "transfer", "forward", "reduce")


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


# --------------------------------------------------------------------------- the work


def _kill_after() -> int:
    """Units after which this rank SIGKILLs itself (:data:`KILL_AFTER_ENV`; 0: never)."""
    spec = os.environ.get(KILL_AFTER_ENV, "")
    if not spec or os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") != "0":
        return 0
    rank, _, units = spec.partition(":")
    return int(units) if int(rank) == int(os.environ.get("RANK", "0")) else 0


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
        self.kill_after = _kill_after()
        self.start = self.last_bar = time.monotonic()
        self.stages = dict.fromkeys((*WORKER_STAGES, *MAIN_STAGES), 0.0)
        self.first_batch: tuple[float, int] | None = None  # (time, images) when the first batch was done

    def run(self, todo: list[ImageUnit], pixels: Pixels, *, batch_size: int, workers: int) -> None:
        if not todo:
            return
        device = torch.device(self.clip.device)
        extra = {"prefetch_factor": 4 if device.type == "cuda" else 2} if workers else {}
        loader = DataLoader(UnitImages(todo, pixels, batch_size), batch_size=None, num_workers=workers,
                            pin_memory=device.type == "cuda", **extra)
        sums: Tensor | None = None
        counts = [0] * len(todo)
        skipped = [0] * len(todo)
        batches = iter(loader)
        while True:
            t0 = time.perf_counter()
            batch = next(batches, None)
            self.stages["wait"] += time.perf_counter() - t0
            if batch is None:
                break
            for stage, seconds in batch["stage_s"].items():
                self.stages[stage] += seconds
            for pos, n in batch["bad"].items():
                skipped[pos] += n
            self._report_bad(batch["bad_names"])
            if batch["pixels"] is not None:
                unit_emb, dropped = self._embed(pixels, batch["pixels"], device)
                owners = batch["units"]
                if dropped:  # the device decoder refused these
                    for i in dropped:
                        skipped[int(owners[i])] += 1
                    self._report_bad([f"a JPEG of unit {todo[int(owners[i])].key}" for i in dropped])
                    keep = torch.ones(len(owners), dtype=torch.bool)
                    keep[dropped] = False
                    owners = owners[keep]
                t0 = time.perf_counter()
                if sums is None:
                    sums = torch.zeros(len(todo), unit_emb.shape[1], dtype=torch.float64, device=device)
                if len(owners):
                    sums.index_add_(0, owners.to(device), unit_emb)
                for pos in owners.tolist():
                    counts[pos] += 1
                self.images += len(owners)
                self.stages["reduce"] += time.perf_counter() - t0
                if self.first_batch is None:
                    self.first_batch = (time.monotonic(), self.images)
            for pos in batch["finished"]:
                row = sums[pos].cpu() if sums is not None else torch.zeros(0, dtype=torch.float64)
                self._unit_done(todo[pos], row, counts[pos], skipped[pos])
            self._update_bar(force=bool(batch["finished"]))

    def _report_bad(self, names: list[str]) -> None:
        if not names:
            return
        if not self.skip_bad:
            raise ConfigError("skip_bad", f"cannot read image {names[0]}; remove it or pass {{on}}")
        logger.warning("skipping unreadable sample(s): %s", "; ".join(names))

    def _embed(self, pixels: Pixels, batch: Tensor | list[Tensor],
               device: torch.device) -> tuple[Tensor, list[int]]:
        """``(b, e)`` float64 unit embeddings of one worker batch and the positions the device
        decoder dropped; times transfer (and device decoding) and forward."""
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        t0 = time.perf_counter()
        x, dropped = pixels.finish(batch, device)
        sync()
        t1 = time.perf_counter()
        with torch.no_grad(), autocast(device, self.precision):
            emb = self.clip.encode_images(x) if len(x) else torch.zeros(0, 1, device=device)
        unit_emb = F.normalize(emb.detach().double(), dim=-1)
        sync()
        self.stages["transfer"] += t1 - t0
        self.stages["forward"] += time.perf_counter() - t1
        return unit_emb, dropped

    def timing(self) -> dict[str, Any]:
        """Seconds per stage, and images/s after the first batch (``None`` with fewer than 2 batches)."""
        steady = None
        if self.first_batch is not None and self.images > self.first_batch[1]:
            t, n = self.first_batch
            steady = round((self.images - n) / max(time.monotonic() - t, 1e-9), 3)
        return {"stage_seconds": {k: round(v, 3) for k, v in self.stages.items()},
                "steady_images_per_s": steady}

    def _unit_done(self, unit: ImageUnit, total: Tensor, count: int, skipped: int) -> None:
        self.done[unit.key] = {"sum": total if count else total[:0], "count": count, "skipped": skipped}
        self.finished += 1
        if self.folder is not None:
            write_progress(self.folder, self.ctx.rank, self.meta, self.done, self.images)
        if self.fail_after and self.finished >= self.fail_after:
            raise RuntimeError(f"{FAIL_AFTER_ENV}={self.fail_after}: stopping after {self.finished} units")
        if self.kill_after and self.finished >= self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    def _update_bar(self, *, force: bool) -> None:
        now = time.monotonic()
        if self.bar is None or (not force and now - self.last_bar < 1.0):
            return
        self.last_bar = now
        units, images = others_images(self.folder, self.ctx.rank)
        rate = (self.images + images) / max(now - self.start, 1e-9)
        self.bar.n = min(self.bar.total, self.done_before + self.finished + units)
        self.bar.set_postfix_str(f"{rate:.1f} images/s (all ranks)")


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
    workers: int | None = None,
    precision: str = "fp32",
    decode: str = "pil",
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
        workers: DataLoader worker processes that read and decode (0: in this process;
            ``None``: :func:`default_workers`).
        precision: ``fp32``, ``fp16`` or ``bf16`` autocast for the tower; sums are float64.
        decode: ``"pil"`` (the seed's pixels) or the options ``"draft"`` and ``"device"``
            (:mod:`sith.encode.pixels`), recorded in ``image_mean.json``.
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
            from another model/precision/decode/source, or no readable image; raised on every rank.
    """
    ctx = dist or DistContext(device=torch.device(clip.device))
    started = time.monotonic()
    if batch_size < 1:
        raise ConfigError("batch_size", f"{{name}} must be >= 1, got {batch_size}; pass e.g. 64")
    if workers is None:
        workers = default_workers(clip.device, ctx.world_size)
    if workers < 0:
        raise ConfigError("workers", f"{{name}} must be >= 0, got {workers}; pass e.g. 4")
    autocast(torch.device(clip.device), precision)  # validates the name
    pixels = make_pixels(clip, decode=decode)
    units = checked(ctx, lambda: make_units(images, files_per_unit=files_per_unit))
    digest = units_digest(units)
    if len(set(gather_objects(ctx, digest))) > 1:
        raise SithError(f"the ranks see different files for {images}; put the images on a filesystem "
                        "every node sees, under the same path")
    target = paths.image_mean_path(data_dir, clip.info.model_name, clip.info.pretrained) if data_dir else None
    folder = progress_dir(target) if target is not None else None
    meta = progress_meta(clip.info, precision, digest, len(units), decode)
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
        worker.run(todo, pixels, batch_size=batch_size, workers=workers)
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
        if created is not None and ctx.is_main and not any_image(folder, meta):
            remove_created(folder, created)  # a refused run that read nothing leaves nothing
        raise
    if skipped:
        logger.warning("image mean: skipped %d unreadable sample(s) of %d", skipped, count + skipped)
    mean = (total / count).float()
    if target is not None and ctx.is_main:
        info = {"count": count, "skipped": skipped, "source": str(images), "source_hash": digest,
                "n_units": len(units), "precision": precision, "decode": decode,
                "world_size": ctx.world_size, "batch_size": batch_size, "workers": workers,
                "seconds": round(time.monotonic() - started, 3),
                "images_resumed": sum(int(r["count"]) for r in recorded.values()),
                "rank0": worker.timing()}
        save_image_mean(mean, clip.info, target, info)
        shutil.rmtree(folder, ignore_errors=True)
        logger.info("wrote image mean over %d images (%d skipped) to %s", count, skipped, target)
    barrier(ctx)
    return mean
