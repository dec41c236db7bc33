"""``sith image-mean`` / ``encode-dictionary`` as commands: bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sith import paths
from sith.cli import main
from sith.encode.images import FAIL_AFTER_ENV, PROGRESS_FORMAT, progress_dir
from sith.encode.sources import make_units, units_digest
from sith.io import save_pt

from .imagedata import make_shards


def _fails(args: list[str], capsys: pytest.CaptureFixture, message: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err, err


def test_image_mean_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_shards(tmp_path / "shards", n_shards=2, per_shard=2)
    data = tmp_path / "data"
    base = ["-q", "image-mean", "--data-dir", str(data), "--workers", "0", "--images"]
    _fails(base + [f"{tmp_path}/none/*.tar"], capsys, "no files match")
    _fails(base + [f"{tmp_path}/shards/{{00005..00007}}.tar"], capsys, "does not exist")
    source = f"{tmp_path}/shards/{{00000..00001}}.tar"
    target = paths.image_mean_path(data, "sith-organism", "v1")
    units = make_units(source)
    foreign = {"model_name": "sith-organism", "pretrained": "v1", "model_fingerprint": "0123456789abcdef",
               "precision": "fp32", "source_hash": units_digest(units), "n_units": 2}
    save_pt({"format": PROGRESS_FORMAT, "meta": foreign, "units": {}}, progress_dir(target) / "rank-1.pt")
    _fails(base + [source], capsys, "rank-1.pt was written by model sith-organism/v1 (fingerprint 0123")
    assert not target.exists()
    assert main(base + [source, "--restart"]) == 0
    assert torch.load(target, weights_only=True).shape == (128,)


def test_templated_and_raw_encodings_both_kept(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["-q", "encode-dictionary", "--data-dir", str(tmp_path), "--batch-size", "128"]
    assert main(args + ["--template", "a photo of {}"]) == 0
    tpl = Path(capsys.readouterr().out.strip())
    before = tpl.read_bytes()
    assert main(args) == 0
    raw = Path(capsys.readouterr().out.strip())
    assert raw.name == "organism.pt" and tpl.name.startswith("organism.tpl-") and tpl != raw
    assert tpl.read_bytes() == before and raw.with_suffix(".json").is_file()
    assert not torch.allclose(torch.load(raw, weights_only=True), torch.load(tpl, weights_only=True))


def test_killed_command_resumes(tmp_path: Path, capsys: pytest.CaptureFixture,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    make_shards(tmp_path / "shards", n_shards=4, per_shard=3)
    args = ["-q", "image-mean", "--workers", "0", "--images", f"{tmp_path}/shards/{{00000..00003}}.tar"]
    assert main(args + ["--data-dir", str(tmp_path / "clean")]) == 0
    clean = torch.load(Path(capsys.readouterr().out.strip()), weights_only=True)
    data = tmp_path / "data"
    target = paths.image_mean_path(data, "sith-organism", "v1")
    monkeypatch.setenv(FAIL_AFTER_ENV, "2")
    with pytest.raises(RuntimeError, match="after 2 units"):
        main(args + ["--data-dir", str(data)])
    assert not target.exists() and (progress_dir(target) / "rank-0.pt").is_file()
    monkeypatch.delenv(FAIL_AFTER_ENV)
    assert main(args + ["--data-dir", str(data)]) == 0
    meta = json.loads(target.with_suffix(".json").read_text())
    assert meta["count"] == 12 and meta["images_resumed"] == 6
    torch.testing.assert_close(torch.load(target, weights_only=True), clean, atol=1e-6, rtol=0)
