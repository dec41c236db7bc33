"""A disk cache of judge answers: one JSON file ``{key: {"answer": int, "model": str}}``.

Keys are :func:`sith.edit.judges.prompt.cache_key` (sha256 of model and prompt). The file is
rewritten atomically (temp + rename, :func:`sith.io.atomic_write`) by :meth:`AnswerCache.flush`,
so an interrupted run leaves the last flushed state, never a half-written file.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from sith.errors import FormatError, SithError
from sith.io import save_json

FORMAT = "sith-judge-cache/1"


class AnswerCache:
    """Thread-safe ``key -> answer`` store backed by one JSON file (or memory only if path is None)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self.lock = threading.Lock()
        self.entries: dict[str, dict] = {}
        self.dirty = 0
        if self.path is not None and self.path.exists():
            self.entries = read_cache(self.path)

    def get(self, key: str) -> int | None:
        with self.lock:
            hit = self.entries.get(key)
        return None if hit is None else int(hit["answer"])

    def put(self, key: str, answer: int, model: str) -> None:
        with self.lock:
            self.entries[key] = {"answer": int(answer), "model": model}
            self.dirty += 1

    def flush(self) -> None:
        """Write the file if anything changed since the last flush."""
        with self.lock:
            if self.path is None or not self.dirty:
                return
            save_json({"format": FORMAT, "answers": self.entries}, self.path)
            self.dirty = 0

    def __len__(self) -> int:
        return len(self.entries)


def read_cache(path: Path) -> dict[str, dict]:
    """The answers of a cache file; a corrupt or foreign file is the user's error."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SithError(
            f"cannot read judge cache {path} ({type(exc).__name__}); delete it to start over"
        ) from None
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or not isinstance(data.get("answers"), dict)
    ):
        raise FormatError(f"{path} is not a sith judge cache; pass another cache path", path=path)
    return data["answers"]
