"""The provenance sidecar of a downloaded or fetched file: ``X.source.json`` beside ``X.pt``/``X.txt``.

The seed's files carry no metadata (a decomposition is a bare ``{"scores", "indices"}``
dict, an image mean a bare tensor), so the downloader records where each came from
beside it: source (``seed download`` / ``original``), Drive folder and file id, the
path inside the folder, size, sha256, UTC date, model and tag. The name never collides
with :func:`sith.encode.seedfiles.sidecar_path` (``X.json``), which holds *our* encoding
metadata. A sidecar whose recorded size differs from the file's (the file was replaced)
is ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sith import __version__
from sith.io import save_json

logger = logging.getLogger(__name__)

SEED_DOWNLOAD = "seed download"
ORIGINAL = "original"
FORMAT = "sith-provenance/1"


def provenance_path(path: str | Path) -> Path:
    """``X.pt`` → ``X.source.json`` (same folder)."""
    path = Path(path)
    return path.with_name(path.stem + ".source.json")


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """Full hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def write_provenance(path: str | Path, record: dict[str, Any], *, sha256: str | None = None) -> Path:
    """Write ``X.source.json`` for the finished file ``path`` (size and sha256 added)."""
    path = Path(path)
    full = {
        "format": FORMAT,
        **record,
        "file": path.name,
        "size": path.stat().st_size,
        "sha256": sha256 or file_sha256(path),
        "date": utc_now(),
        "sith_version": __version__,
    }
    return save_json(full, provenance_path(path))


def read_provenance(path: str | Path) -> dict[str, Any] | None:
    """The sidecar of ``path`` if present, readable, tagged :data:`FORMAT` (every one sith has
    written is) and still describing it (same size); else None (logged)."""
    path = Path(path)
    side = provenance_path(path)
    if not side.is_file():
        return None
    try:
        record = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("ignoring unreadable provenance file %s (%s)", side, exc)
        return None
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        found = record.get("format") if isinstance(record, dict) else None
        logger.warning("ignoring %s: not a sith provenance file (format %r, %s expected); download %s "
                       "again to record where it came from", side.name, found, FORMAT, path.name)
        return None
    if record.get("size") != size:
        logger.warning("ignoring %s: it describes another file than %s", side.name, path.name)
        return None
    return record


def describe(record: dict[str, Any] | None) -> str:
    """One short line for headers: ``made by the seed's code (seed download, Drive file …, 2026-…)``."""
    if not record:
        return "made by the seed's code? (no sith config, no provenance file: origin unknown)"
    if record.get("source") == SEED_DOWNLOAD:
        return (
            f"made by the seed's code (seed download: Drive file {record.get('drive_file_id')}, "
            f"sha256 {str(record.get('sha256', ''))[:12]}, {str(record.get('date', ''))[:10]})"
        )
    return f"source {record.get('source')}: {record.get('url', '')}"
