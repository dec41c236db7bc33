"""``sith organism train`` through the CLI: tiny run, resume, and bad configs."""

from __future__ import annotations

import pytest
import torch

from sith.cli import main

TINY = [
    "--set",
    "image_size=32",
    "--set",
    "patch_size=8",
    "--set",
    "vision_width=32",
    "--set",
    "vision_layers=1",
    "--set",
    "vision_heads=2",
    "--set",
    "text_width=32",
    "--set",
    "text_layers=1",
    "--set",
    "text_heads=2",
    "--set",
    "embed_dim=16",
    "--set",
    "batch_size=8",
    "--set",
    "context_length=16",
    "--set",
    "threads=1",
]


def test_train_tiny_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["-q", "organism", "train", "--output-dir", str(out), *TINY, "--set", "steps=2"]) == 0
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 2
    before = (out / "checkpoint.pt").read_bytes()
    # the same command again resumes from the finished checkpoint: nothing is retrained
    assert main(["-q", "organism", "train", "--output-dir", str(out), *TINY, "--set", "steps=2"]) == 0
    assert (out / "checkpoint.pt").read_bytes() == before
    # another config in the same directory is refused, and the checkpoint stays intact
    capsys.readouterr()
    assert main(["-q", "organism", "train", "--output-dir", str(out), *TINY, "--set", "steps=5"]) == 2
    assert "another TrainConfig" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == before


@pytest.mark.parametrize(
    "override,needle",
    [
        ("vision_layers=0", "vision_layers"),
        ("vision_width=33", "divisible"),
        ("batch_size=1", "batch_size"),
        ("warp_speed=9", "unknown TrainConfig"),
    ],
)
def test_bad_config_one_line_error(tmp_path, capsys, override, needle):
    code = main(["-q", "organism", "train", "--output-dir", str(tmp_path / "x"), *TINY, "--set", override])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and needle in err[0]
    assert not (tmp_path / "x" / "checkpoint.pt").exists()
