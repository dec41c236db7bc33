"""Tiny datasets written in each real layout, PIL-drawn (test fixtures; also for experiments).

Every writer takes a ``root`` folder and returns it; the matching loader reads it unchanged.
Images are small JPEGs (``size`` px) drawn from the labels, so a model could in principle
tell the classes apart: Waterbirds draws a bird (yellow-brown for landbirds, white-blue for
waterbirds) on a green (land) or blue (water) background.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

from sith.datasets import waterbirds

PALETTE = [
    (220, 40, 40),
    (40, 160, 60),
    (40, 80, 220),
    (230, 200, 40),
    (150, 60, 200),
    (240, 140, 30),
    (30, 200, 200),
    (120, 120, 120),
]


def draw(
    path: Path,
    background: tuple[int, int, int],
    shape: int,
    color: tuple[int, int, int],
    *,
    size: int = 32,
    seed: int = 0,
) -> Path:
    """A ``size``² JPEG: ``background``, one shape (0 ellipse, 1 square, 2 triangle) in ``color``."""
    rng = random.Random(seed)
    im = Image.new("RGB", (size, size), background)
    d = ImageDraw.Draw(im)
    o = rng.randint(0, size // 8)
    box = (size // 4 + o, size // 4 + o, 3 * size // 4 + o // 2, 3 * size // 4 + o // 2)
    if shape % 3 == 0:
        d.ellipse(box, fill=color)
    elif shape % 3 == 1:
        d.rectangle(box, fill=color)
    else:
        d.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) // 2, box[1])], fill=color)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, format="JPEG", quality=90)
    return path


def class_image(path: Path, label: int, *, seed: int = 0) -> Path:
    """An image whose colour and shape are fixed by ``label``."""
    return draw(path, (250, 250, 250), label, PALETTE[label % len(PALETTE)], seed=seed)


def write_waterbirds(root: str | Path, *, per_group: int = 2, splits: tuple[int, ...] = (0, 1, 2)) -> Path:
    """``<root>/waterbird_complete95_forest2water2/`` with ``per_group`` images per (y, place, split)."""
    root = Path(root)
    folder = root / waterbirds.FOLDER
    rows, n = [], 0
    for split in splits:
        for y in (0, 1):
            for place in (0, 1):
                for _ in range(per_group):
                    n += 1
                    species = "001.Black_footed_Albatross" if y else "010.Red_winged_Blackbird"
                    name = f"{species}/{species.split('.')[1]}_{n:04d}_{n}.jpg"
                    bg = (40, 90, 200) if place else (60, 150, 50)
                    bird = (240, 240, 250) if y else (150, 110, 40)
                    draw(folder / name, bg, 0, bird, seed=n)
                    place_file = f"{'o/ocean' if place else 'b/bamboo_forest'}/{n:08d}.jpg"
                    rows.append([n, name, y, split, place, place_file])
    with (folder / "metadata.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["img_id", "img_filename", "y", "split", "place", "place_filename"])
        w.writerows(rows)
    return root


def write_visu(root: str | Path, *, n: int = 4, split: str = "test") -> Path:
    """``<root>/visu/{split}.json`` with ``n`` pairs, their COCO (safe) and unsafe images."""
    root = Path(root)
    folder = root / "visu"
    entries = []
    for i in range(n):
        inc, coco = 1000 + i, 500000 + 7 * i
        entries.append(
            {
                "incremental_id": inc,
                "coco_id": coco,
                "tag": "violence",
                "safe": f"a person holding a {['cup', 'book', 'ball', 'flower'][i % 4]} in scene {i}",
                "nsfw": f"a person holding a skull in dark scene {i}",
            }
        )
        draw(folder / "coco_images" / f"{coco}.jpg", (200, 220, 240), i, PALETTE[i % len(PALETTE)], seed=i)
        draw(folder / "test" / f"{inc}.jpg", (30, 20, 20), i, (230, 230, 230), seed=i)
    (folder / f"{split}.json").write_text(json.dumps(entries, indent=1))
    return root


def write_flowers102(root: str | Path, *, labels: tuple[int, ...] = (0, 1, 2), per_split: int = 1) -> Path:
    """``<root>/flowers-102/`` with ``per_split`` images per label and split (needs scipy)."""
    from scipy.io import savemat

    base = Path(root) / "flowers-102"
    all_labels, ids = [], {"trnid": [], "valid": [], "tstid": []}
    for key in ids:
        for label in labels:
            for _ in range(per_split):
                all_labels.append(label + 1)
                image_id = len(all_labels)
                ids[key].append(image_id)
                class_image(base / "jpg" / f"image_{image_id:05d}.jpg", label, seed=image_id)
    savemat(base / "imagelabels.mat", {"labels": [all_labels]})
    savemat(base / "setid.mat", {k: [v] for k, v in ids.items()})
    return Path(root)


def write_dtd(
    root: str | Path, *, classes: tuple[str, ...] = ("banded", "dotted", "striped"), per_split: int = 1
) -> Path:
    """``<root>/dtd/dtd/`` with ``per_split`` images per class and split, partition 1."""
    data = Path(root) / "dtd" / "dtd"
    for split in ("train", "val", "test"):
        lines = []
        for label, c in enumerate(classes):
            for k in range(per_split):
                name = f"{c}_{split}_{k:04d}.jpg"
                class_image(data / "images" / c / name, label, seed=k)
                lines.append(f"{c}/{name}")
        (data / "labels").mkdir(parents=True, exist_ok=True)
        (data / "labels" / f"{split}1.txt").write_text("\n".join(lines) + "\n")
    return Path(root)


def write_fgvc_aircraft(
    root: str | Path, *, variants: tuple[str, ...] = ("707-320", "A320", "Cessna 172"), per_split: int = 1
) -> Path:
    """``<root>/fgvc-aircraft-2013b/data/`` (variant level; names may contain spaces)."""
    data = Path(root) / "fgvc-aircraft-2013b" / "data"
    (data / "images").mkdir(parents=True, exist_ok=True)
    (data / "variants.txt").write_text("\n".join(variants) + "\n")
    n = 1000000
    splits = {s: [] for s in ("train", "val", "test")}
    for lines in splits.values():
        for label, v in enumerate(variants):
            for _ in range(per_split):
                n += 1
                class_image(data / "images" / f"{n:07d}.jpg", label, seed=n)
                lines.append(f"{n:07d} {v}")
    splits["trainval"] = splits["train"] + splits["val"]
    for split, lines in splits.items():
        (data / f"images_variant_{split}.txt").write_text("\n".join(lines) + "\n")
    return Path(root)


def write_imagefolder(
    root: str | Path, *, classes: tuple[str, ...] = ("golden_retriever", "tabby_cat"), per_class: int = 2
) -> Path:
    """``<root>/<class>/<image>.jpg``."""
    root = Path(root)
    for label, c in enumerate(classes):
        for k in range(per_class):
            class_image(root / c / f"{k:03d}.jpg", label, seed=k)
    return root
