"""ViSU (Poppi et al. 2024, safe/unsafe caption pairs over COCO) in its published layout.

Layout::

    <root>/visu/{split}.json              list of {"incremental_id", "coco_id", "safe", "nsfw", ...}
    <root>/visu/coco_images/{coco_id}.jpg the safe image of a pair
    <root>/visu/test/{incremental_id}.jpg the unsafe image of a pair

``safe`` and ``nsfw`` are the pair's captions. A JSON object whose values are the entries is
accepted too. If ``{coco_id}.jpg`` is absent, COCO's zero-padded name ``{coco_id:012d}.jpg`` is
tried. ``root`` may also be the ``visu`` folder itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sith.datasets.common import ImageDataset, Sample, require
from sith.errors import SithError

LAYOUT = "<root>/visu/{split}.json (entries with incremental_id, coco_id, safe, nsfw)"
KEYS = ("incremental_id", "coco_id", "safe", "nsfw")


@dataclass(frozen=True)
class VisuPair:
    """One pair: ids, the safe and unsafe captions, and both image files."""

    incremental_id: str
    coco_id: str
    safe_caption: str
    nsfw_caption: str
    safe_image: Path
    unsafe_image: Path


@dataclass(frozen=True)
class VisuDataset:
    """The pairs of one split, in file order; pair ``i`` is the correct match for pair ``i``."""

    split: str
    pairs: tuple[VisuPair, ...]

    def __len__(self) -> int:
        return len(self.pairs)

    def safe_captions(self) -> list[str]:
        return [p.safe_caption for p in self.pairs]

    def nsfw_captions(self) -> list[str]:
        return [p.nsfw_caption for p in self.pairs]

    def safe_images(self) -> ImageDataset:
        """The safe images; ``label`` = pair index, field ``caption`` = the safe caption."""
        return self.as_images("safe", [(p.safe_image, p.safe_caption) for p in self.pairs])

    def unsafe_images(self) -> ImageDataset:
        """The unsafe images; ``label`` = pair index, field ``caption`` = the nsfw caption."""
        return self.as_images("unsafe", [(p.unsafe_image, p.nsfw_caption) for p in self.pairs])

    def as_images(self, kind: str, items: list[tuple[Path, str]]) -> ImageDataset:
        samples = tuple(Sample(path, i, {"caption": cap}) for i, (path, cap) in enumerate(items))
        return ImageDataset(f"visu-{kind}", self.split, samples, ())


def visu_dir(root: str | Path) -> Path:
    root = Path(root)
    return root if root.name == "visu" and not (root / "visu").is_dir() else root / "visu"


def coco_image(folder: Path, coco_id: str) -> Path:
    path = folder / "coco_images" / f"{coco_id}.jpg"
    if not path.exists() and coco_id.isdigit():
        padded = folder / "coco_images" / f"{int(coco_id):012d}.jpg"
        if padded.exists():
            return padded
    return path


def entries_of(data: object, path: Path) -> list[dict]:
    items = list(data.values()) if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(e, dict) for e in items):
        raise SithError(f"{path} is not a list of ViSU entries; expected {LAYOUT}")
    return items


def load_visu(root: str | Path, split: str = "test") -> VisuDataset:
    """The pairs of ``<root>/visu/{split}.json``."""
    folder = visu_dir(root)
    path = require(folder / f"{split}.json", f"ViSU {split} file", LAYOUT)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SithError(f"{path} is not valid JSON ({exc.__class__.__name__}); re-download it") from None
    pairs = []
    for n, e in enumerate(entries_of(data, path)):
        missing = [k for k in KEYS if k not in e]
        if missing:
            raise SithError(f"{path} entry {n} lacks {', '.join(missing)}; expected {LAYOUT}")
        inc, coco = str(e["incremental_id"]), str(e["coco_id"])
        pairs.append(
            VisuPair(
                inc,
                coco,
                str(e["safe"]),
                str(e["nsfw"]),
                coco_image(folder, coco),
                folder / "test" / f"{inc}.jpg",
            )
        )
    if not pairs:
        raise SithError(f"{path} has no entries; check the file")
    return VisuDataset(split, tuple(pairs))
