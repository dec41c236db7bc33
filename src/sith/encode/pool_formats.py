"""Concept-pool formats: the cleaning every pool gets, and the parsers of the sources'
file formats (docs/method.md §3; the sources themselves are in :mod:`sith.encode.pools`).

Cleaning (:func:`clean_concepts`), applied to every pool, downloaded or custom:

1. Unicode NFKC, control/format characters (``Cc``/``Cf``…) become spaces.
2. Strip, collapse runs of whitespace to one space.
3. Lowercase. CLIP's tokenizers (open_clip ``SimpleTokenizer``, HF ``CLIPTokenizer``)
   lowercase their input, so ``Dog`` and ``dog`` encode to the same atom; keeping both
   would put duplicate atoms in the dictionary.
4. Drop empty lines and comment lines (starting with ``#``).
5. Deduplicate, keeping the first occurrence (the source's order is kept).

Parsers: a plain UTF-8 list (:func:`parse_lines`), a WordNet ``index.*`` file, dict
directory or database tarball (``parse_wordnet_*``), a ConceptNet assertions CSV
(:func:`parse_conceptnet`: English nodes with at most ``CONCEPTNET_MAX_WORDS`` words seen
in at least ``CONCEPTNET_MIN_EDGES`` English–English edges, most connected first).
"""

from __future__ import annotations

import gzip
import io
import tarfile
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from sith.errors import ConfigError, SithError

WORDNET_INDEX_FILES = ("index.noun", "index.adj")
CONCEPTNET_MAX_WORDS = 3
CONCEPTNET_MIN_EDGES = 5


# --------------------------------------------------------------------------- cleaning


def clean_concept(line: str) -> str:
    """One raw line → a cleaned concept (``""`` for a line to drop); see the module doc."""
    text = unicodedata.normalize("NFKC", line)
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    text = " ".join(text.split()).lower()
    return "" if text.startswith("#") else text


def clean_concepts(lines: Iterable[str]) -> list[str]:
    """Clean every line, drop empties and comments, deduplicate keeping the first occurrence."""
    seen: set[str] = set()
    out: list[str] = []
    for line in lines:
        concept = clean_concept(line)
        if concept and concept not in seen:
            seen.add(concept)
            out.append(concept)
    return out


# --------------------------------------------------------------------------- parsers


def parse_lines(stream: IO[bytes], *, source: str = "the source") -> Iterator[str]:
    """A plain text list, one concept a line, decoded strictly as UTF-8.

    Raises:
        SithError: a binary file (NUL bytes) or a line that is not UTF-8 (named).
    """
    for n, raw in enumerate(stream, 1):
        if n == 1:
            from sith.io import UTF16_FIX, looks_utf16  # here: sith.io imports torch (sith --help must not)

            if looks_utf16(raw):
                raise SithError(f"{source} {UTF16_FIX}")
        if b"\x00" in raw:
            raise SithError(
                f"{source} is a binary file, not a text list (line {n}); "
                "pass a UTF-8 text file, one concept a line"
            )
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SithError(
                f"{source} line {n} is not valid UTF-8 ({exc.reason}); convert the file to UTF-8"
            ) from None


def parse_wordnet_index(lines: Iterable[str]) -> Iterator[str]:
    """Lemmas of a WordNet ``index.*`` file (``lemma pos synset_cnt ...``; license lines skipped).

    The license header lines start with a space; a lemma uses ``_`` for spaces.
    """
    for line in lines:
        if not line or line[0].isspace():
            continue
        lemma = line.split(" ", 1)[0]
        yield lemma.replace("_", " ")


def parse_wordnet_dir(directory: Path) -> Iterator[str]:
    """Lemmas of ``index.noun`` then ``index.adj`` in a WordNet dict directory."""
    for name in WORDNET_INDEX_FILES:
        path = directory / name
        if not path.is_file():
            raise SithError(f"WordNet index {path} not found; pass a WordNet 'dict' directory")
        with path.open(encoding="utf-8", errors="replace") as fh:
            yield from parse_wordnet_index(fh)


def parse_wordnet_tar(stream: IO[bytes]) -> Iterator[str]:
    """Lemmas from a WordNet database tarball (``dict/index.noun``, ``dict/index.adj``)."""
    found: dict[str, list[str]] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in WORDNET_INDEX_FILES:
                    fh = tar.extractfile(member)
                    text = fh.read().decode("utf-8", errors="replace") if fh else ""
                    found[base] = list(parse_wordnet_index(text.splitlines()))
    except tarfile.TarError as exc:
        raise ConfigError(
            "source",
            f"the WordNet source is not a tar archive ({exc}); install Debian's wordnet-base "
            "or pass {name} with WNdb-3.0.tar.gz or a WordNet 'dict' directory",
        ) from None
    missing = [n for n in WORDNET_INDEX_FILES if n not in found]
    if missing:
        raise SithError(f"the WordNet archive lacks {', '.join(missing)}; pass WNdb-3.0.tar.gz")
    for name in WORDNET_INDEX_FILES:
        yield from found[name]


def parse_conceptnet(
    stream: IO[bytes],
    *,
    max_words: int = CONCEPTNET_MAX_WORDS,
    min_edges: int = CONCEPTNET_MIN_EDGES,
) -> list[str]:
    """English concepts of a ConceptNet assertions CSV (gzip or plain), see the module doc.

    Each row is ``edge_uri \\t relation \\t start \\t end \\t json``; a node is
    ``/c/en/term[/pos[/...]]``.
    """
    head = stream.peek(2)[:2] if hasattr(stream, "peek") else b""
    raw = gzip.GzipFile(fileobj=stream) if head == b"\x1f\x8b" else stream
    text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace")
    counts: Counter[str] = Counter()
    for line in text:
        row = line.split("\t", 4)
        if len(row) < 4 or not (row[2].startswith("/c/en/") and row[3].startswith("/c/en/")):
            continue
        for node in (row[2], row[3]):
            counts[node.split("/")[3].replace("_", " ")] += 1
    kept = [
        (-n, term)
        for term, n in counts.items()
        if n >= min_edges and len(term.split()) <= max_words
    ]
    return [term for _, term in sorted(kept)]
