"""Concept pools: public sources, download, cleaning, reading (docs/method.md §3).

A *pool* is a text file with one concept a line. ``download_dictionary`` fetches one
of the seed's four public pools, cleans it and writes ``data/dictionaries/NAME.txt``;
``read_pool`` reads a pool by name (or any text file) into a :class:`Pool` with a
content hash that every later stage records.

Every pool, downloaded or custom, is cleaned by
:func:`sith.encode.pool_formats.clean_concepts` (NFKC, lowercase, deduplicated).

Packaged pools plug in from above: a model plugin's entry (:class:`sith.plugins.ModelEntry`,
e.g. the built-in organism's) names its pool files and its default dictionary
(:func:`builtin_pools`, :func:`model_pool`); :func:`register_builtin_pool` and
:func:`register_model_pool` add them by hand. The core names neither.

Sources (``POOLS``):

* ``laion`` — SpLiCE's LAION vocabulary (AI4LIFE-GROUP/SpLiCE, ``data/vocab/laion.txt``,
  Apache-2.0): frequent one-word concepts from LAION captions, least frequent first.
* ``efros`` — TextSpan's general image descriptions (yossigandelsman/clip_text_span,
  ``text_descriptions/image_descriptions_general.txt``, MIT): ~3.5k short phrases.
* ``wordnet`` — every lemma of Princeton WordNet 3.0's ``index.noun`` then ``index.adj``
  (nouns and adjectives: objects plus the colours, textures and styles CLIP sees),
  underscores become spaces, index order (alphabetical). Read offline from Debian's
  ``wordnet-base`` (``/usr/share/wordnet``) when present, otherwise streamed from the
  Princeton ``WNdb-3.0.tar.gz`` database tarball.
* ``conceptnet`` — English concepts of ConceptNet 5.7 (CC-BY-SA 4.0), streamed from the
  public assertions dump (``conceptnet-assertions-5.7.0.csv.gz``, ~475 MB): every
  ``/c/en/TERM`` node of an edge whose both ends are English, TERM with underscores
  as spaces, kept if it has at most 3 words and appears in at least 5 such edges (drops
  the long, noisy Wiktionary tail); ordered by edge count, most connected first, ties
  alphabetical.
"""

from __future__ import annotations

import io
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tqdm.auto import tqdm

from sith import paths, plugins
from sith.encode.pool_formats import (
    clean_concepts,
    parse_conceptnet,
    parse_lines,
    parse_wordnet_dir,
    parse_wordnet_tar,
)
from sith.errors import ConfigError, SithError
from sith.io import UTF16_FIX, looks_utf16, save_text, sha256_text

logger = logging.getLogger(__name__)

#: A concept is a word or phrase; a longer line is refused (it is almost surely not one concept a
#: line: a paragraph, a file with other line endings). CLIP's text tower reads 77 tokens at most.
MAX_CONCEPT_CHARS = 1000
DOWNLOAD_TIMEOUT_S = 60.0
WORDNET_LOCAL_DIR = Path("/usr/share/wordnet")


@dataclass(frozen=True)
class PoolSource:
    """Where a public pool comes from and how its raw file is parsed.

    Attributes:
        url: the public download address (a ``file://`` URL or local path can override it).
        kind: parser — ``"lines"``, ``"wordnet"`` or ``"conceptnet"``.
        license: the source's license.
        description: one line for ``--help`` and docs.
    """

    url: str
    kind: str
    license: str
    description: str


POOLS: dict[str, PoolSource] = {
    "conceptnet": PoolSource(
        url="https://s3.amazonaws.com/conceptnet/downloads/2019/edges/"
        "conceptnet-assertions-5.7.0.csv.gz",
        kind="conceptnet",
        license="CC-BY-SA-4.0",
        description="ConceptNet 5.7 English concepts (<=3 words, >=5 English edges)",
    ),
    "efros": PoolSource(
        url="https://raw.githubusercontent.com/yossigandelsman/clip_text_span/main/"
        "text_descriptions/image_descriptions_general.txt",
        kind="lines",
        license="MIT",
        description="TextSpan general image descriptions (~3.5k phrases)",
    ),
    "laion": PoolSource(
        url="https://raw.githubusercontent.com/AI4LIFE-GROUP/SpLiCE/main/data/vocab/laion.txt",
        kind="lines",
        license="Apache-2.0",
        description="SpLiCE LAION caption vocabulary (~37k words)",
    ),
    "wordnet": PoolSource(
        url="https://wordnetcode.princeton.edu/3.0/WNdb-3.0.tar.gz",
        kind="wordnet",
        license="WordNet-3.0",
        description="WordNet 3.0 noun + adjective lemmas (offline from wordnet-base if installed)",
    ),
}


@dataclass(frozen=True)
class Pool:
    """A cleaned concept pool.

    Attributes:
        name: pool name (``laion``…, or ``{stem}-{hash8}`` for a file named by path).
        concepts: ``N`` cleaned, distinct concept strings, in file order.
        hash: :func:`sith.io.sha256_text` of ``concepts``.
        path: the text file it was read from.
    """

    name: str
    concepts: list[str]
    hash: str
    path: Path

    def __len__(self) -> int:
        return len(self.concepts)


#: Packaged pools registered by plugins: name -> a function giving the pool file's path.
BUILTIN_POOLS: dict[str, Callable[[], Path]] = {}
_MODEL_POOLS: dict[str, str] = {}


def register_builtin_pool(name: str, path: Callable[[], Path]) -> None:
    """Make ``name`` a pool read from the file ``path()`` (called on use; a SithError it
    raises reaches the user). A name of ``POOLS`` cannot be taken."""
    if name in POOLS:
        raise SithError(
            f"pool name {name!r} is a public pool's; register the packaged pool under another name"
        )
    BUILTIN_POOLS[name] = path


def register_model_pool(model_name: str, pool: str) -> None:
    """Make ``pool`` the default dictionary of the model named ``model_name``."""
    _MODEL_POOLS[str(model_name)] = str(pool)


def model_pool(model_name: str, pretrained: str | None = None) -> str | None:
    """The default dictionary of ``model_name`` (registered, or its model plugin's — for the tag
    ``pretrained`` when the plugin gives tags their own: :func:`sith.plugins.model_entry`), or
    None (use the seed's)."""
    if str(model_name) in _MODEL_POOLS:
        return _MODEL_POOLS[str(model_name)]
    entry = plugins.model_entry(model_name)
    if entry is None:
        return None
    own = entry.pool_of(pretrained) if entry.pool_of is not None and pretrained else None
    return own or entry.default_pool


def builtin_pools() -> dict[str, Callable[[], Path]]:
    """Packaged pools by name: the model plugins' (:mod:`sith.plugins`) and the registered ones."""
    found = {name: path for e in plugins.model_entries() for name, path in e.pools.items()}
    return {**found, **BUILTIN_POOLS}


def _pool_names() -> str:
    return ", ".join(sorted(POOLS) + sorted(builtin_pools()))


# --------------------------------------------------------------------------- download


@contextmanager
def open_source(source: str | Path, *, timeout: float = DOWNLOAD_TIMEOUT_S, progress: bool = True):
    """Open a URL (``https://``, ``file://``…) or a local file as a streaming binary reader."""
    text = str(source)
    is_url = "://" in text
    try:
        raw = urllib.request.urlopen(text, timeout=timeout) if is_url else open(text, "rb")  # noqa: SIM115
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(
            "source",
            f"cannot open {text}: {reason}; check the address and your connection, "
            "or pass {name} with a local copy",
        ) from None
    total = int(raw.headers.get("Content-Length") or 0) if is_url else Path(text).stat().st_size
    bar = tqdm(
        total=total or None, unit="B", unit_scale=True, desc="download", disable=not progress
    )
    try:
        yield io.BufferedReader(_ProgressReader(raw, bar.update), buffer_size=1 << 20)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise SithError(
            f"download of {text} failed midway ({exc}); run the command again"
        ) from None
    finally:
        bar.close()
        raw.close()


class _ProgressReader(io.RawIOBase):
    """A readable raw stream that reports the bytes it passes through."""

    def __init__(self, raw: IO[bytes], report: Callable[[int], object]) -> None:
        self._raw = raw
        self._report = report

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._report(n)
        return n


def _raw_concepts(name: str, source: str | Path, *, progress: bool) -> list[str]:
    """Fetch and parse ``source`` with the parser of pool ``name`` (uncleaned strings)."""
    kind = POOLS[name].kind
    if kind == "wordnet" and Path(str(source)).is_dir():
        return list(parse_wordnet_dir(Path(source)))
    with open_source(source, progress=progress) as stream:
        if kind == "lines":
            return list(parse_lines(stream, source=str(source)))
        if kind == "wordnet":
            return list(parse_wordnet_tar(stream))
        return parse_conceptnet(stream)


def default_source(name: str) -> str | Path:
    """The source ``download_dictionary`` uses without ``source=`` (WordNet: local if installed)."""
    if POOLS[name].kind == "wordnet" and (WORDNET_LOCAL_DIR / "index.noun").is_file():
        return WORDNET_LOCAL_DIR
    return POOLS[name].url


def _check_pool_name(name: str) -> None:
    if name not in POOLS:
        raise SithError(
            f"unknown dictionary {name!r}; available: {', '.join(sorted(POOLS))} "
            "(or a path to a text file with one concept a line)"
        )


def download_dictionary(
    name: str,
    *,
    data_dir: str | Path = paths.DEFAULT_DATA_DIR,
    source: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Fetch public pool ``name``, clean it, write ``data/dictionaries/NAME.txt`` atomically.

    Args:
        name: one of ``POOLS`` (``conceptnet``, ``efros``, ``laion``, ``wordnet``).
        data_dir: root of the data layout (:mod:`sith.paths`).
        source: override the address: a URL (``file://`` too) or a local file; for
            ``wordnet`` also a WordNet ``dict`` directory or the database tarball.
        progress: show a byte progress bar.

    Returns:
        The written path.
    """
    _check_pool_name(name)
    src = default_source(name) if source is None else source
    logger.info("downloading dictionary %s from %s", name, src)
    concepts = clean_concepts(_raw_concepts(name, src, progress=progress))
    if len(concepts) < 2:
        raise SithError(
            f"{src} gave {len(concepts)} concept(s) for {name!r}; check the source "
            "(it should be the file documented in sith.encode.pools.POOLS)"
        )
    out = paths.dictionary_text_path(data_dir, name)
    save_text("\n".join(concepts) + "\n", out)
    logger.info("wrote %d concepts to %s", len(concepts), out)
    return out


# --------------------------------------------------------------------------- reading


def resolve_pool_path(dictionary: str, *, data_dir: str | Path) -> tuple[str, Path]:
    """``(name, path)`` for a pool name, a registered packaged pool, or a text-file path.

    Order: a ``BUILTIN_POOLS`` name → its packaged file; a ``POOLS`` name →
    ``data/dictionaries/NAME.txt``; an existing file → custom pool (:func:`read_pool` names
    it stem + content hash); a plain name with a file in ``data/dictionaries`` → that file.
    """
    packaged = builtin_pools()
    if dictionary in packaged:
        return dictionary, Path(packaged[dictionary]())
    if dictionary in POOLS:
        path = paths.dictionary_text_path(data_dir, dictionary)
        if not path.is_file():
            raise SithError(
                f"dictionary {dictionary!r} is not downloaded ({path} missing); "
                f"run `sith download-dictionary --dictionary {dictionary}`"
            )
        return dictionary, path
    as_path = Path(dictionary).expanduser()
    if as_path.is_file():
        return paths.slug(as_path.stem), as_path
    stored = paths.dictionary_text_path(data_dir, dictionary)
    if "/" not in dictionary and stored.is_file():
        return dictionary, stored
    raise SithError(
        f"dictionary {dictionary!r} is neither a pool name ({_pool_names()}) "
        "nor an existing file; check the name or the path"
    )


def seed_layout_name(path: Path, data_dir: str | Path) -> str | None:
    """``NAME`` when ``path`` is the seed layout's ``data/dictionaries/NAME.txt``, else None."""
    name = path.stem
    if path.suffix != ".txt" or paths.slug(name) != name:
        return None
    try:
        same = path.resolve() == paths.dictionary_text_path(data_dir, name).resolve()
    except OSError:
        return None
    return name if same else None


def read_utf8_lines(path: str | Path, *, what: str = "dictionary file") -> list[str]:
    """The lines of a UTF-8 text file, decoded strictly.

    Raises:
        SithError: unreadable file, a binary file (NUL bytes), or bytes that are not
            UTF-8 (the message names the file and the line).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SithError(f"cannot read {what} {path}: {exc.strerror}; check it") from None
    if looks_utf16(raw):
        raise SithError(f"{what} {path} {UTF16_FIX}")
    if b"\x00" in raw:
        raise SithError(f"{what} {path} is a binary file, not text; pass a text file, one entry a line")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SithError(
            f"{what} {path} line {line} is not valid UTF-8 ({exc.reason}); convert the file to UTF-8"
        ) from None
    return text.removeprefix("\ufeff").splitlines()


def pool_name(path: Path, concepts: list[str]) -> str:
    """A custom pool file's name: ``{stem}-{8 hex of its content hash}``.

    Used everywhere the pool is named (encoded ``dictionaries/NAME.pt``, decomposition
    file names, records): two different ``words.txt`` in different folders never share a
    name; the same concepts under any path do.
    """
    return f"{paths.slug(path.stem)}-{sha256_text(concepts)[:8]}"


def read_pool(dictionary: str, *, data_dir: str | Path = paths.DEFAULT_DATA_DIR) -> Pool:
    """Read and clean a pool by name or path (see :func:`resolve_pool_path`).

    A pool given by a file path outside the seed's layout is named :func:`pool_name`
    (stem + content hash); the seed's pools and ``data/dictionaries/NAME.txt`` keep ``NAME``.

    Raises:
        SithError: missing, binary or non-UTF-8 file, or fewer than 2 distinct concepts
            after cleaning (a pool of one concept has nothing to choose from, and
            centering zeroes it).
    """
    try:
        name, path = resolve_pool_path(str(dictionary), data_dir=data_dir)
    except SithError:
        if Path(str(dictionary)).expanduser().is_dir():
            raise SithError(
                f"dictionary {dictionary!r} is a directory; pass a text file, one concept a line"
            ) from None
        raise
    lines = read_utf8_lines(path)
    concepts = clean_concepts(lines)
    if not concepts:
        raise SithError(f"dictionary file {path} has no concepts after cleaning; fill it")
    if len(concepts) < 2:
        raise SithError(
            f"dictionary file {path} has only 1 distinct concept after cleaning "
            f"({len(lines)} lines, the rest duplicates/empty); a pool needs at least 2"
        )
    too_long = next((c for c in concepts if len(c) > MAX_CONCEPT_CHARS), None)
    if too_long is not None:
        line = next((n for n, text in enumerate(lines, 1) if len(text) >= len(too_long)), "?")
        raise SithError(
            f"dictionary file {path} line {line} has {len(too_long):,} characters; a concept is a word or "
            f"phrase (at most {MAX_CONCEPT_CHARS} characters, and the text tower reads only 77 tokens): "
            "put one concept a line"
        )
    dropped = sum(1 for line in lines if line.strip()) - len(concepts)
    if dropped > 0:
        logger.info("pool %s: dropped %d duplicate/comment lines", name, dropped)
    if name not in POOLS and name not in builtin_pools() and Path(str(dictionary)).expanduser().is_file():
        name = pool_name(path, concepts)
    name = seed_layout_name(path, data_dir) or name  # data/dictionaries/NAME.txt, by name or path
    return Pool(name=name, concepts=concepts, hash=sha256_text(concepts), path=path)
