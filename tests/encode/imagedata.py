"""Tiny image collections in the real layouts: webdataset shards (``%06d.jpg`` + ``.txt``), folders."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def image_bytes(seed: int, fmt: str = "PNG", size: int = 40) -> bytes:
    """A random RGB image (height ``size``, width ``size + seed % 7``) encoded as ``fmt``."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (size, size + seed % 7, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def write_tar(path: Path, items: list[tuple[str, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name, blob in items:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def samples(ids: range, fmt: str = "JPEG") -> list[tuple[str, bytes]]:
    """webdataset samples ``%06d.jpg`` (or png/webp) + ``%06d.txt`` for each id."""
    ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt]
    out: list[tuple[str, bytes]] = []
    for i in ids:
        out += [(f"{i:06d}.{ext}", image_bytes(i, fmt)), (f"{i:06d}.txt", b"a caption")]
    return out


def make_shards(folder: Path, n_shards: int = 4, per_shard: int = 3) -> list[Path]:
    """``folder/00000.tar ...``: ``n_shards`` shards of ``per_shard`` jpg samples (ids 0..)."""
    return [
        write_tar(folder / f"{s:05d}.tar", samples(range(s * per_shard, (s + 1) * per_shard)))
        for s in range(n_shards)
    ]
