"""Image collections as users name them, cut into units of work (issue 10).

A source is one string; several may be joined with ``::`` (webdataset's convention):

* a folder: its images (``.jpg .jpeg .png .webp .bmp``, any case, recursively, sorted
  by path); a folder with no images but ``.tar`` shards: those shards;
* a webdataset shard ``x.tar``, a brace pattern ``cc12m/{00000..01242}.tar`` (expanded
  with webdataset's ``expand_urls``) or a glob ``shards/*.tar``;
* a file list ``list.txt``: one image or shard path a line (relative to the list's
  folder; blank lines and ``#`` comments skipped);
* a URL webdataset can open (``https://…``, ``pipe:…``): a shard, not checked up front.

The work is cut into :class:`ImageUnit` s: one per shard, and loose image files in
chunks of ``FILES_PER_UNIT`` (sorted order). Units are what ranks split, what the
progress file records as done, and what a resumed job skips.
"""

from __future__ import annotations

import glob
import hashlib
import tarfile
from dataclasses import dataclass
from pathlib import Path

from webdataset.shardlists import expand_urls

from sith.encode.pools import read_utf8_lines
from sith.errors import SithError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
#: webdataset sample keys (lower-case extensions) that hold the image, in preference order.
IMAGE_KEYS = ("jpg", "jpeg", "png", "webp")
SHARD_SUFFIXES = (".tar",)
FILES_PER_UNIT = 256
#: Unreadable images are skipped and counted (a warning names them), the default of every
#: command that reads an image collection (``sith image-mean``, ``sith ground``);
#: ``--no-skip-bad`` makes the first one an error.
SKIP_BAD_DEFAULT = True
_GLOB_CHARS = "*?["


@dataclass(frozen=True)
class ImageUnit:
    """One piece of work.

    Attributes:
        key: stable identity (the shard path, or the chunk's first file, size and hash).
        shard: the shard URL/path for a shard unit, else ``None``.
        files: the image files of a file unit (empty for a shard).
    """

    key: str
    shard: str | None = None
    files: tuple[str, ...] = ()


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def is_shard(name: str) -> bool:
    return name.lower().endswith(SHARD_SUFFIXES)


def is_url(text: str) -> bool:
    return "://" in text or text.startswith("pipe:")


def _from_list(path: Path) -> tuple[list[str], list[str]]:
    files: list[str] = []
    shards: list[str] = []
    for line in read_utf8_lines(path, what="file list"):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        full = entry if is_url(entry) else str((path.parent / entry).expanduser())
        if is_url(entry) or is_shard(entry):
            shards.append(full)
        elif is_image(entry):
            files.append(full)
        else:
            raise SithError(
                f"{path}: entry {entry!r} is neither an image ({' '.join(IMAGE_SUFFIXES)}) nor a "
                ".tar shard; fix the list"
            )
    return files, shards


def _from_path(text: str) -> tuple[list[str], list[str]]:
    """``(image files, shards)`` for one concrete (expanded) entry."""
    if is_url(text):
        return [], [text]
    path = Path(text).expanduser()
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file())
        images = [str(p) for p in found if is_image(p.name)]
        return (images, []) if images else ([], [str(p) for p in found if is_shard(p.name)])
    if path.is_file():
        if is_shard(path.name):
            return [], [str(path)]
        if is_image(path.name):
            return [str(path)], []
        if path.suffix.lower() == ".txt":
            return _from_list(path)
        raise SithError(
            f"{path} is not an image, a .tar shard or a .txt file list; pass one of those or a folder"
        )
    raise SithError(f"image source {text} does not exist; pass a folder, shards, a pattern or a list")


def _expand(source: str) -> list[str]:
    """Brace patterns and globs → concrete entries (a glob with no match is an error)."""
    out: list[str] = []
    for item in expand_urls(source):
        if is_url(item) or not any(ch in item for ch in _GLOB_CHARS):
            out.append(item)
            continue
        matches = sorted(glob.glob(str(Path(item).expanduser()), recursive=True))
        if not matches:
            raise SithError(f"no files match {item!r}; check the pattern (e.g. shards/{{00000..00099}}.tar)")
        out.extend(matches)
    return out


def list_sources(source: str | Path) -> tuple[list[str], list[str]]:
    """``(image files, shards)`` named by ``source`` (see the module doc), duplicates dropped."""
    files: list[str] = []
    shards: list[str] = []
    for entry in _expand(str(source)):
        f, s = _from_path(entry)
        files += f
        shards += s
    files = list(dict.fromkeys(files))
    shards = list(dict.fromkeys(shards))
    if not files and not shards:
        raise SithError(
            f"no images or shards found in {source} (looked for {' '.join(IMAGE_SUFFIXES)} and .tar)"
        )
    return files, shards


def make_units(source: str | Path, *, files_per_unit: int = FILES_PER_UNIT) -> list[ImageUnit]:
    """The units of work of ``source``: one per shard, then loose files in chunks."""
    files, shards = list_sources(source)
    units = [ImageUnit(key=s, shard=s) for s in shards]
    for start in range(0, len(files), files_per_unit):
        chunk = tuple(files[start:start + files_per_unit])
        digest = hashlib.sha256("\n".join(chunk).encode()).hexdigest()[:12]
        units.append(ImageUnit(key=f"files:{chunk[0]}+{len(chunk)}#{digest}", files=chunk))
    return units


def units_digest(units: list[ImageUnit]) -> str:
    """A 16-hex-digit hash of the unit keys in order (what a resumed job must match)."""
    h = hashlib.sha256()
    for u in units:
        h.update(u.key.encode() + b"\n")
    return h.hexdigest()[:16]


def check_shard(shard: str) -> str | None:
    """``None`` if a local shard opens as a tar archive, else a one-line problem + fix."""
    if is_url(shard):
        return None
    try:
        if not tarfile.is_tarfile(shard):
            return f"{shard} is not a tar archive; remove it from the shard set or re-download it"
    except OSError as exc:
        return f"cannot read shard {shard} ({exc.strerror or exc}); check the path and permissions"
    return None
