"""Issue 26: refused runs leave the data folder exactly as it was, even when warnings come
before the error (an image collection where every image is unreadable)."""

from __future__ import annotations

from pathlib import Path

from sith.cli import main


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) + ("/" if p.is_dir() else "") for p in root.rglob("*")}


def test_image_mean_of_only_corrupt_images_leaves_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corrupt").mkdir()
    for name in ("a.png", "b.jpg"):
        (tmp_path / "corrupt" / name).write_bytes(b"not an image")
    before = _listing(tmp_path)
    assert main(["-q", "image-mean", "--images", "corrupt"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("error: no readable images in corrupt (2 skipped)")
    assert _listing(tmp_path) == before  # no image_mean.progress/, no empty data/models/...
