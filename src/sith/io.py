"""Atomic, safe file I/O shared by every stage.

Every file is written to a temporary sibling and renamed into place, so an
interrupted run never leaves a half-written file; the file gets the permissions of a
normally created one (``0666 & ~umask``, 0644 under the usual umask 022), not the 0600 of
a temporary file. A folder or file that cannot be written raises :class:`SithError`
naming the path. Text is written and read as UTF-8. Every ``.pt`` is read with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sith.errors import SithError, os_error_text


def current_umask() -> int:
    """The process's umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` to ``path`` atomically.

    The result has mode ``0666 & ~umask`` (a folder written by ``write``: ``0777 & ~umask``).
    An unwritable location raises :class:`SithError` naming it; nothing is left behind.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise SithError(os_error_text(exc, path.parent)) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        mode = 0o777 if tmp_path.is_dir() else 0o666
        os.chmod(tmp_path, mode & ~current_umask())
        os.replace(tmp_path, path)
    except OSError as exc:
        raise SithError(os_error_text(exc, path)) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def save_pt(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through :func:`atomic_write`, byte-identical for identical ``obj``.

    The object is written through an open file handle: given a path, ``torch.save`` names
    the zip archive's records after the (random) temporary file name.
    """

    def write(p: Path) -> None:
        with open(p, "wb") as fh:
            torch.save(obj, fh)

    return atomic_write(path, write)


def save_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write pretty JSON through :func:`atomic_write`."""
    text = json.dumps(obj, indent=2, sort_keys=False) + "\n"
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def save_text(text: str, path: str | os.PathLike) -> Path:
    """Write UTF-8 text through :func:`atomic_write`."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def looks_utf16(raw: bytes) -> bool:
    """UTF-16 text: a byte-order mark, or NUL bytes at every other place of the first bytes
    (what Windows tools write); named as such instead of "binary"."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    head = raw[:200]
    half = len(head) // 2 - 1
    return len(head) >= 4 and (head[1::2].count(0) >= half or head[0::2].count(0) >= half)


UTF16_FIX = "is UTF-16 text; save it as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8 IN > OUT)"


def read_text(path: str | os.PathLike, *, what: str = "file") -> str:
    """A UTF-8 text file's content; a missing, unreadable or non-UTF-8 file raises
    :class:`SithError` naming the file (and the line of the first bad byte)."""
    path = Path(path)
    if not path.is_file():
        raise SithError(f"{what} not found: {path}; check the path")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SithError(os_error_text(exc, path)) from None
    if looks_utf16(data):
        raise SithError(f"{what} {path} {UTF16_FIX}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SithError(
            f"{what} {path} is not UTF-8 text (line {line}, byte {exc.start}); save it as UTF-8"
        ) from None


def load_error_reason(exc: BaseException) -> str:
    """Why ``torch.load`` / safetensors failed, in a few words (their messages run to many
    lines and quote internals)."""
    text = " ".join(str(exc).split())
    low = text.lower()
    if "unsupported global" in low:
        return "it holds pickled Python objects, which a weights-only load refuses to run"
    if "weights only load failed" in low:
        return "not a torch file, a damaged one, or pickled objects a weights-only load refuses to run"
    if any(s in low for s in ("invalid load key", "pytorchstreamreader", "zip archive", "unpickling",
                              "eof", "truncated", "header", "failed finding central directory")):
        return "not a torch/safetensors file, or a truncated or damaged one"
    # anything else is the unpickler tripping over bytes that are not a pickle ("pop from empty
    # list", "list index out of range", a bare number, a codec error): the same verdict
    return "not a torch/safetensors file, or a damaged one"


def load_pt(path: str | os.PathLike, *, what: str = "file") -> Any:
    """Load a ``.pt`` with ``weights_only=True``; corrupt or foreign files raise SithError."""
    path = Path(path)
    if not path.is_file():
        raise SithError(f"{what} not found: {path}; check the path")
    try:
        with warnings.catch_warnings():  # torch's warnings about a foreign file: we say it in one line
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is the user's file
        raise SithError(
            f"cannot read {what} {path}: not a valid weights-only torch file ({load_error_reason(exc)}); "
            "recreate it with sith"
        ) from None


def sha256_text(lines: list[str]) -> str:
    """Content hash of a list of strings (order matters), as a 16-hex-digit fingerprint."""
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def first_missing(path: str | os.PathLike) -> Path | None:
    """The outermost folder of ``path`` (``path`` included) that does not exist yet; None if
    ``path`` exists. What :func:`remove_created` may remove after a refused run."""
    path = Path(path)
    if path.exists():
        return None
    while not path.parent.exists() and path.parent != path:
        path = path.parent
    return path


def remove_created(path: str | os.PathLike, top: Path | None) -> None:
    """Remove ``path`` (a folder this run created) and its empty parents up to ``top``
    (:func:`first_missing` before the run), so a refused run leaves the disk as it found it."""
    import shutil

    if top is None:
        return
    path = Path(path)
    shutil.rmtree(path, ignore_errors=True)
    for parent in [path, *path.parents]:
        if not parent.is_relative_to(top):
            break
        try:
            parent.rmdir()
        except OSError:
            if parent.exists():
                break
