"""Mean image embedding over an image collection (METHOD.md §3, modality gap).

``ī = (1/M) Σ_m  f(x_m) / ‖f(x_m)‖`` over ``M`` images, ``f`` the model's image
tower. The seed computes it over CC12M; any collection works:

* a folder of images, searched recursively (``.jpg .jpeg .png .webp .bmp``, any case,
  sorted by path);
* a webdataset ``.tar`` shard (image members in archive order);
* a folder with no images but ``.tar`` shards, or a glob of shards (``shards/*.tar``).

Saved to ``data/models/{model}/{pretrained}/image_mean.pt`` as
``{"mean": (e,), "count", "skipped", "model_name", "pretrained", "model_fingerprint",
"source"}``.
"""

from __future__ import annotations

import glob
import io
import logging
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from tqdm.auto import tqdm

from sith import paths
from sith.errors import SithError
from sith.io import load_pt, save_pt
from sith.load.weights import ModelInfo

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


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


ImageItem = tuple[str, Callable[[], bytes]]


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _shard_items(shard: Path) -> Iterator[ImageItem]:
    """``(name, read)`` for each image member of a tar shard, in archive order."""
    try:
        with tarfile.open(shard, mode="r|*") as tar:
            for member in tar:
                if member.isfile() and _is_image(member.name):
                    fh = tar.extractfile(member)
                    data = fh.read() if fh is not None else b""
                    yield f"{shard}:{member.name}", lambda data=data: data
    except tarfile.TarError as exc:
        raise SithError(f"cannot read shard {shard} ({exc}); check it is a .tar archive") from None


def _list_sources(images: str | Path) -> tuple[list[Path], list[Path]]:
    """``(image files, tar shards)`` named by ``images`` (see the module doc)."""
    text = str(images)
    if any(ch in text for ch in "*?["):
        matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
        files = [p for p in matches if p.is_file()]
        return [p for p in files if _is_image(p.name)], [p for p in files if p.suffix == ".tar"]
    path = Path(text).expanduser()
    if path.is_file():
        return ([], [path]) if path.suffix == ".tar" else ([path], [])
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        found = [p for p in files if _is_image(p.name)]
        return (found, []) if found else ([], [p for p in files if p.suffix == ".tar"])
    raise SithError(f"image source {text} does not exist; pass a folder, a .tar shard or a glob")


def iter_images(images: str | Path) -> Iterator[ImageItem]:
    """Every image of a folder, shard or glob of shards as ``(name, read bytes)``."""
    files, shards = _list_sources(images)
    if not files and not shards:
        raise SithError(
            f"no images found in {images} (looked for {' '.join(IMAGE_SUFFIXES)} and .tar shards)"
        )
    for f in files:
        yield str(f), f.read_bytes
    for shard in shards:
        yield from _shard_items(shard)


class _BadImage(Exception):
    def __init__(self, name: str, exc: Exception) -> None:
        super().__init__(f"{name}: {exc}")
        self.name = name


def _decode(clip: ImageEncoder, name: str, read: Callable[[], bytes]) -> Tensor:
    try:
        with Image.open(io.BytesIO(read())) as img:
            return clip.preprocess(img.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _BadImage(name, exc) from None


def compute_image_mean(
    clip: ImageEncoder,
    images: str | Path,
    *,
    data_dir: str | Path | None = None,
    batch_size: int = 64,
    skip_bad: bool = False,
    progress: bool = True,
) -> Tensor:
    """Mean of L2-normalised image embeddings ``(e,)`` over a collection.

    Args:
        clip: model handle (:class:`ImageEncoder`).
        images: folder, ``.tar`` shard, or glob of shards.
        data_dir: if given, save ``image_mean.pt`` there (:func:`sith.paths.image_mean_path`).
        batch_size: images per forward pass.
        skip_bad: skip (and count) unreadable images instead of failing.
        progress: tqdm progress bar.

    Raises:
        SithError: no images, or an unreadable image without ``skip_bad``.
    """
    if batch_size < 1:
        raise SithError(f"batch_size must be >= 1, got {batch_size}; pass --batch-size 64")
    total: Tensor | None = None
    count = skipped = 0
    batch: list[Tensor] = []

    def flush() -> None:
        nonlocal total, count
        with torch.no_grad():
            emb = clip.encode_images(torch.stack(batch).to(clip.device))
        part = F.normalize(emb.detach().double().cpu(), dim=-1).sum(0)
        total = part if total is None else total + part
        count += len(batch)
        batch.clear()

    bar = tqdm(unit="image", desc="image mean", disable=not progress)
    try:
        for name, read in iter_images(images):
            try:
                batch.append(_decode(clip, name, read))
            except _BadImage as bad:
                if not skip_bad:
                    raise SithError(
                        f"cannot read image {bad}; remove it or pass skip_bad=True (--skip-bad)"
                    ) from None
                skipped += 1
                logger.warning("skipping unreadable image %s", bad)
            bar.update(1)
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
    finally:
        bar.close()
    if total is None:
        raise SithError(f"no readable images in {images} ({skipped} skipped); check the source")
    if skipped:
        logger.warning("image mean: skipped %d unreadable image(s) of %d", skipped, count + skipped)
    mean = (total / count).float()
    if data_dir is not None:
        out = paths.image_mean_path(data_dir, clip.info.model_name, clip.info.pretrained)
        save_pt(_mean_record(clip.info, mean, count, skipped, images), out)
        logger.info("wrote image mean over %d images to %s", count, out)
    return mean


def _mean_record(
    info: ModelInfo, mean: Tensor, count: int, skipped: int, source: str | Path
) -> dict[str, Any]:
    return {
        "mean": mean,
        "count": count,
        "skipped": skipped,
        "model_name": info.model_name,
        "pretrained": info.pretrained,
        "model_fingerprint": info.fingerprint,
        "source": str(source),
    }


def load_image_mean(path: str | Path, *, expect_model: ModelInfo | None = None) -> Tensor:
    """Load ``image_mean.pt`` ``(e,)``; refuse one computed with another model.

    The check uses the fingerprint (the vision tower's weights, which alone decide the
    image embeddings); without one, model name and tag.
    """
    data = load_pt(path, what="image mean")
    if not isinstance(data, dict) or not isinstance(data.get("mean"), Tensor):
        raise SithError(f"{path} is not a sith image mean; recompute it with compute-image-mean")
    if expect_model is not None:
        if expect_model.fingerprint:
            ok = data.get("model_fingerprint") == expect_model.fingerprint
        else:
            ok = (data.get("model_name"), data.get("pretrained")) == (
                expect_model.model_name,
                expect_model.pretrained,
            )
        if not ok:
            raise SithError(
                f"{path} was computed with model {data.get('model_name')}/"
                f"{data.get('pretrained')} (fingerprint {data.get('model_fingerprint')}), not "
                f"{expect_model.model_name}/{expect_model.pretrained} "
                f"({expect_model.fingerprint}); recompute the image mean for this model"
            )
    return data["mean"]
