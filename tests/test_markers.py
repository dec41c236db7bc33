"""The ``slow`` list of tests/conftest.py names tests that exist (a moved or renamed test would
otherwise silently stop being marked)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SLOW

ROOT = Path(__file__).resolve().parents[1]


def test_every_slow_entry_names_an_existing_test():
    for entry in SLOW:
        file, _, name = entry.partition("::")
        path = ROOT / file
        assert path.is_file(), f"{entry}: no such test file"
        assert not name or f"def {name}" in path.read_text(), f"{entry}: no such test"
