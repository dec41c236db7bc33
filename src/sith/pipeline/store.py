"""Where a :class:`~sith.pipeline.workspace.Workspace` reads and writes its files.

Two stores, one interface (:class:`Store`), so that no workspace method asks "are we
writing?":

* :class:`DiskStore` — the data directory: reads files, writes them (each writer writes
  atomically, temp + rename), downloads a missing public dictionary and keeps the
  checkpoints of long computations (an interrupted layer resumes).
* :class:`OverlayStore` — a dry run over another store: reads fall through to it, writes stay
  in memory (a later read in the same dry run sees them), nothing is downloaded and no
  checkpoint is kept. ``Workspace.read_only()`` is a workspace over one.

Values are keyed by the path they would have on disk (:mod:`sith.paths`); the reader and
writer of each kind of file are the stage's own (``LayerDecomposition.load``/``save``,
``load_image_mean``/``save_image_mean``, ``encode_pool``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sith.encode import EncodedPool, Pool, encode_pool
from sith.encode.dictfiles import encoded_path
from sith.encode.seedfiles import sidecar_path
from sith.errors import SithError
from sith.load.weights import ModelInfo
from sith.resources.seed import fetch_dictionary

log = logging.getLogger(__name__)

T = TypeVar("T")


class Store(Protocol):
    """Reads and writes of one data directory (``root``, the seed's layout)."""

    root: Path

    def read(self, path: Path, reader: Callable[[Path], T | None]) -> T | None:
        """The value stored at ``path`` (``reader(path)`` for a file), or None when there is none."""

    def write(self, path: Path, value: T, writer: Callable[[T, Path], Any]) -> T:
        """Store ``value`` at ``path`` (``writer(value, path)`` for a file); returns ``value``."""

    def checkpoint(self, path: Path) -> Path | None:
        """Where a long computation of ``path`` may keep its partial result (None: nowhere)."""

    def encoded(self, clip: Any, pool: Pool, *, template: str | None, progress: bool) -> EncodedPool:
        """``pool`` encoded by ``clip`` (a reusable stored encoding, or encoded and stored)."""

    def download_dictionary(self, name: str, *, progress: bool) -> None:
        """Fetch the public dictionary ``name`` into ``root``."""

    def output_dir(self, path: Path, what: str) -> Path:
        """``path``, where a command that only writes files (``what``) may write them."""


class DiskStore:
    """The data directory itself (module doc)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"DiskStore({str(self.root)!r})"

    def read(self, path: Path, reader: Callable[[Path], T | None]) -> T | None:
        return reader(path) if path.exists() else None

    def write(self, path: Path, value: T, writer: Callable[[T, Path], Any]) -> T:
        writer(value, path)
        log.info("wrote %s", path)
        return value

    def checkpoint(self, path: Path) -> Path | None:
        return path.with_name(path.stem + ".partial.pt")

    def encoded(self, clip: Any, pool: Pool, *, template: str | None, progress: bool) -> EncodedPool:
        return encode_pool(clip, pool, data_dir=self.root, template=template, progress=progress)

    def download_dictionary(self, name: str, *, progress: bool) -> None:
        log.warning("dictionary %r not downloaded yet: downloading the seed's list first", name)
        fetch_dictionary(name, data_dir=self.root, progress=progress)

    def output_dir(self, path: Path, what: str) -> Path:
        return path


class OverlayStore:
    """A dry run over ``base``: reads fall through, writes stay in memory (module doc)."""

    def __init__(self, base: Store) -> None:
        self.base = base
        self.root = base.root
        #: What this dry run made, by the path it would have had.
        self.memory: dict[Path, Any] = {}

    def __repr__(self) -> str:
        return f"OverlayStore({self.base!r}, {len(self.memory)} in memory)"

    def read(self, path: Path, reader: Callable[[Path], T | None]) -> T | None:
        if path in self.memory:
            return self.memory[path]
        return self.base.read(path, reader)

    def write(self, path: Path, value: T, writer: Callable[[T, Path], Any]) -> T:
        log.info("dry run: %s kept in memory (not written)", path.name)
        self.memory[path] = value
        return value

    def checkpoint(self, path: Path) -> Path | None:
        return None

    def encoded(self, clip: Any, pool: Pool, *, template: str | None, progress: bool) -> EncodedPool:
        """A stored encoding is read (and reused when it fits, as on disk); a missing or stale
        one is encoded in a scratch data dir that only links to the stored files, so whatever
        the encoder writes (the file, its checkpoints) lands there and is dropped."""
        info: ModelInfo = clip.info
        path = encoded_path(self.root, info, pool.name, template)
        if path not in self.memory:
            with tempfile.TemporaryDirectory(prefix="sith-dry-run-") as scratch:
                shadow = encoded_path(Path(scratch), info, pool.name, template)
                shadow.parent.mkdir(parents=True)
                for stored in (path, sidecar_path(path)):
                    if stored.is_file():
                        (shadow.parent / stored.name).symlink_to(stored.resolve())
                names = ScratchNames(Path(scratch), self.root)
                loggers = [logging.getLogger(n) for n in ("sith.encode.dictfiles", "sith.encode.text")]
                for lg in loggers:
                    lg.addFilter(names)
                try:
                    self.memory[path] = encode_pool(
                        clip, pool, data_dir=Path(scratch), template=template, progress=progress
                    )
                finally:
                    for lg in loggers:
                        lg.removeFilter(names)
        return self.memory[path]

    def download_dictionary(self, name: str, *, progress: bool) -> None:
        raise SithError(
            f"dictionary {name!r} is not downloaded and a dry run writes nothing; run "
            f"`sith download-dictionary {name}` first"
        )

    def output_dir(self, path: Path, what: str) -> Path:
        raise SithError(f"{what} writes its files; it cannot run inside a read-only (dry) run")


class ScratchNames(logging.Filter):
    """Log lines of an encoding run in a dry run's scratch data dir, told in the user's terms:
    a reused file by its stored path; a file the encoder wrote as kept in memory, not written."""

    def __init__(self, scratch: Path, root: Path) -> None:
        super().__init__()
        self.scratch, self.root = str(scratch), str(root)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if self.scratch in text:
            real = text.replace(self.scratch, self.root)
            if text.startswith("wrote "):
                real = "dry run: " + real.removeprefix("wrote ") + " kept in memory (not written)"
            record.msg, record.args = real, ()
        return True
