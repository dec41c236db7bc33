"""Atomic, safe file I/O shared by every stage.

Every file is written to a temporary sibling and renamed into place, so an
interrupted run never leaves a half-written file. Every ``.pt`` is read with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sith.errors import SithError


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
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
    return atomic_write(path, lambda p: p.write_text(text))


def save_text(text: str, path: str | os.PathLike) -> Path:
    """Write text through :func:`atomic_write`."""
    return atomic_write(path, lambda p: p.write_text(text))


def load_pt(path: str | os.PathLike, *, what: str = "file") -> Any:
    """Load a ``.pt`` with ``weights_only=True``; corrupt or foreign files raise SithError."""
    path = Path(path)
    if not path.is_file():
        raise SithError(f"{what} not found: {path}; check the path")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is the user's file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SithError(
            f"cannot read {what} {path}: not a valid weights-only torch file ({first[:120]}); "
            "recreate it with sith"
        ) from None


def sha256_text(lines: list[str]) -> str:
    """Content hash of a list of strings (order matters), as a 16-hex-digit fingerprint."""
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]
