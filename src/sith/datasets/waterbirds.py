"""Waterbirds (Sagawa et al. 2020) in its published layout, unchanged.

Layout::

    <root>/waterbird_complete95_forest2water2/metadata.csv    img_id,img_filename,y,split,place[,...]
    <root>/waterbird_complete95_forest2water2/<img_filename>  e.g. 001.Black_footed_Albatross/....jpg

``y``: 0 landbird, 1 waterbird; ``place``: 0 land, 1 water; ``split``: 0 train, 1 val, 2 test.
Groups are ``(y, place)`` with index ``group = 2·y + place`` (:data:`GROUP_NAMES`).
``root`` may also be the ``waterbird_complete95_forest2water2`` folder itself.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sith.datasets.common import ImageDataset, Sample, check_split, require
from sith.errors import SithError

FOLDER = "waterbird_complete95_forest2water2"
LAYOUT = f"<root>/{FOLDER}/metadata.csv with columns img_id,img_filename,y,split,place"
CLASS_NAMES = ("landbird", "waterbird")
PLACE_NAMES = ("land", "water")
GROUP_NAMES = tuple(f"{c} on {p}" for c in CLASS_NAMES for p in PLACE_NAMES)
SPLITS = {"train": 0, "val": 1, "test": 2}
COLUMNS = ("img_id", "img_filename", "y", "split", "place")


def dataset_dir(root: str | Path) -> Path:
    """The folder holding ``metadata.csv`` (``root`` itself or ``root/FOLDER``)."""
    root = Path(root)
    if (root / "metadata.csv").is_file() and not (root / FOLDER).is_dir():
        return root
    return root / FOLDER


def as_int(value: str, column: str, row: int, path: Path, allowed: tuple[int, ...]) -> int:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if x != x or int(x) != x or int(x) not in allowed:
        raise SithError(
            f"{path} row {row}: column {column} is {value!r}, expected one of {allowed}; "
            "use the published metadata.csv"
        )
    return int(x)


def load_waterbirds(root: str | Path, split: str = "test") -> ImageDataset:
    """The samples of one split; ``label`` = y, fields ``place``, ``group``, ``img_id``."""
    check_split(split, tuple(SPLITS), "Waterbirds")
    folder = dataset_dir(root)
    meta = require(folder / "metadata.csv", "Waterbirds metadata", LAYOUT)
    with meta.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SithError(f"{meta} lacks column(s) {', '.join(missing)}; expected {LAYOUT}")
        samples = []
        for row_no, row in enumerate(reader, start=2):
            if as_int(row["split"], "split", row_no, meta, (0, 1, 2)) != SPLITS[split]:
                continue
            y = as_int(row["y"], "y", row_no, meta, (0, 1))
            place = as_int(row["place"], "place", row_no, meta, (0, 1))
            fields = {"place": place, "group": 2 * y + place, "img_id": row["img_id"]}
            samples.append(Sample(folder / row["img_filename"], y, fields))
    if not samples:
        raise SithError(f"{meta} has no rows with split {SPLITS[split]} ({split}); check the file")
    return ImageDataset("waterbirds", split, tuple(samples), CLASS_NAMES, GROUP_NAMES)
