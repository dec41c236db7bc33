"""Atomic writes: umask-respecting permissions, one-line errors, nothing left behind (issue 9)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
import torch

from sith.errors import SithError
from sith.io import atomic_write, read_text, save_json, save_pt, save_text


@pytest.fixture
def umask():
    """Set a umask for one test, restoring the old one after."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_respect_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    paths = [
        save_text("x\n", tmp_path / "a.txt"),
        save_json({"a": 1}, tmp_path / "a.json"),
        save_pt({"t": torch.zeros(2)}, tmp_path / "a.pt"),
        atomic_write(tmp_path / "a.bin", lambda p: p.write_bytes(b"\x00")),
    ]
    assert [oct(_mode(p)) for p in paths] == [oct(expected)] * 4


def test_unwritable_location_is_one_line_and_leaves_nothing(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder\n")
    with pytest.raises(SithError, match=r"cannot use .*afile"):
        save_text("x", blocker / "sub" / "out.txt")
    with pytest.raises(SithError, match="cannot use"):
        atomic_write(tmp_path / "out.txt", lambda p: (_ for _ in ()).throw(PermissionError(13, "denied")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # no temp file left


def test_read_text_is_strict_utf8(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("café\n", encoding="utf-8")
    assert read_text(good) == "café\n"
    bad = tmp_path / "bad.txt"
    bad.write_bytes("ok\ncafé\n".encode("latin-1"))
    with pytest.raises(SithError, match=r"bad.txt is not UTF-8 text \(line 2"):
        read_text(bad)
    with pytest.raises(SithError, match="not found"):
        read_text(tmp_path / "none.txt")


def test_load_errors_are_one_verdict_however_the_unpickler_trips():
    """Random bytes make torch's unpickler fail in many ways (a bare number, "pop from empty
    list", a codec error); each reads as the same short verdict, never the internal text."""
    import pickle
    import random
    import warnings

    from sith.io import load_error_reason

    seen = set()
    for seed in range(40):
        path = Path(tempfile.mkdtemp()) / "g.pt"
        path.write_bytes(random.Random(seed).randbytes(256))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - whatever torch raises
            seen.add(load_error_reason(exc))
    for exc in (pickle.UnpicklingError("191"), IndexError("pop from empty list"), KeyError(0)):
        seen.add(load_error_reason(exc))
    assert seen and all("damaged one" in reason for reason in seen), seen
