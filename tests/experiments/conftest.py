"""Shared fixtures: one organism data dir per session (image mean and decompositions reused)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sith.cli import main
from tests.conftest import copy_data


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory, organism_data) -> Path:
    """A copy of the session's organism data dir (tests/conftest.py): its image mean, encoded
    pool and seed-recipe decompositions are not made again."""
    return copy_data(organism_data, tmp_path_factory.mktemp("experiments") / "data")


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """``sith -q ARGS``: exit code, stdout, stderr."""
    code = main(["-q", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def payload(out_dir: Path, name: str) -> dict:
    """The JSON result of a finished run (its four files must exist)."""
    for ext in ("json", "csv", "md", "png"):
        assert (out_dir / f"{name}.{ext}").is_file(), ext
    data = json.loads((out_dir / f"{name}.json").read_text())
    assert data["complete"] is True
    return data


def leftovers(parent: Path) -> list[str]:
    """Temporary or incomplete result folders left in ``parent``."""
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


FAST = ["--seeds", "1", "--draws", "1", "--layers", "5", "--n-boot", "20"]
