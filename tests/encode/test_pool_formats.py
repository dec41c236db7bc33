"""Pool formats: the cleaning rules and the source parsers' edge cases."""

from __future__ import annotations

import io

import pytest

from sith.encode.pool_formats import clean_concepts, parse_lines, parse_wordnet_index
from sith.errors import SithError


def test_clean_concepts_rules() -> None:
    raw = ["  Dog ", "dog", "# a comment", "", "   ", "hot\t\tdog", "Hot Dog", "a\x00b", "Café",
           "cat"]
    assert clean_concepts(raw) == ["dog", "hot dog", "a b", "café", "cat"]


def test_clean_is_idempotent() -> None:
    once = clean_concepts(["  A  B ", "c\u200bd", "ＡＢＣ"])
    assert clean_concepts(once) == once
    assert once == ["a b", "c d", "abc"]


def test_wordnet_index_skips_license_and_spaces_lemmas() -> None:
    lines = ["  1 license text", "hot_dog n 2 4 @ ~ 2 0 07697537", "red a 3 4 ! & 3 1 00381097"]
    assert list(parse_wordnet_index(lines)) == ["hot dog", "red"]


def test_parse_lines_names_the_bad_line() -> None:
    assert list(parse_lines(io.BytesIO(b"dog\ncat\n"))) == ["dog\n", "cat\n"]
    with pytest.raises(SithError, match="line 2 is not valid UTF-8"):
        list(parse_lines(io.BytesIO(b"dog\n\xff\xfe\n"), source="pool.txt"))
    with pytest.raises(SithError, match="UTF-16 text"):  # NULs between ASCII letters: UTF-16
        list(parse_lines(io.BytesIO(b"a\x00b\n")))
    with pytest.raises(SithError, match="binary file"):
        list(parse_lines(io.BytesIO(b"\x89PNG\x00\x00\x00\rIHDRxxxxxxxxxxxxxxxx\n")))
