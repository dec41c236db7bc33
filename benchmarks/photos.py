"""Benchmark inputs at realistic sizes: photo-like JPEG shards and a concept pool from the seed's lists.

Shared by ``bench_throughput.py`` and ``real_size.py``; benchmarks may read
``/work/shared/dictionaries`` (the package never does).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SEED_DICTIONARIES = Path("/work/shared/dictionaries")


def photo(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A photo-like RGB image: a smooth colour field, a few soft shapes, sensor grain."""
    low = rng.uniform(0, 255, (4, 5, 3)).astype(np.uint8)
    img = Image.fromarray(low).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 8))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1, y1 = x0 + int(rng.integers(20, width // 2)), y0 + int(rng.integers(20, height // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(1.5))
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, 6, (height, width, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_shards(folder: Path, n_images: int, per_shard: int, size: tuple[int, int]) -> str:
    """webdataset shards (``%06d.jpg`` + ``.txt``) of photo-like JPEGs, quality 90; the brace pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n_shards = -(-n_images // per_shard)
    for s in range(n_shards):
        with tarfile.open(folder / f"{s:05d}.tar", "w") as tar:
            for key in range(s * per_shard, min(n_images, (s + 1) * per_shard)):
                buf = io.BytesIO()
                photo(rng, *size).save(buf, "JPEG", quality=90)
                for name, blob in ((f"{key:06d}.jpg", buf.getvalue()), (f"{key:06d}.txt", b"a photo")):
                    info = tarfile.TarInfo(name)
                    info.size = len(blob)
                    tar.addfile(info, io.BytesIO(blob))
    return str(folder / f"{{00000..{n_shards - 1:05d}}}.tar")


def make_pool(path: Path, size: int) -> list[str]:
    """``size`` distinct concepts: the seed's lists, then two-word phrases of their words."""
    seen: dict[str, None] = {}
    for f in sorted(SEED_DICTIONARIES.glob("*.txt")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                seen.setdefault(line.strip())
    words = [w for w in seen if " " not in w] or list(seen)
    rng = np.random.default_rng(0)
    while len(seen) < size:
        a, b = rng.integers(0, len(words), 2)
        seen.setdefault(f"{words[a]} {words[b]}")
    concepts = list(seen)[:size]
    path.write_text("\n".join(concepts) + "\n", encoding="utf-8")
    return concepts
