"""Edited checkpoints keep the input's dtype, and ``--undo-log`` gives the input's bytes back."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sith.cli import main
from sith.load import load_clip
from sith.load.writeback import save_state_dict
from sith.organism import ORGANISM_NAME, ORGANISM_TAG


def raw(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1).view(torch.uint8)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["-q", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def fp16_file(tmp_path_factory) -> Path:
    clip = load_clip(ORGANISM_NAME, ORGANISM_TAG)
    path = tmp_path_factory.mktemp("fp16") / "organism-fp16.safetensors"
    save_state_dict(clip.model, path, clip.info, dtype=torch.float16)
    return path


def test_fp16_in_fp16_out_and_undo_is_byte_identical(fp16_file, tmp_path, capsys):
    data = str(tmp_path / "data")
    edited, restored = tmp_path / "edited.safetensors", tmp_path / "restored.safetensors"
    code, _, err = run(capsys, "edit", "--model-name", ORGANISM_NAME, "--pretrained", str(fp16_file),
                       "--component", "5:0:0", "--component", "4:1:2:2.5", "--output", str(edited),
                       "--data-dir", data)
    assert code == 0, err
    before, after = load_file(fp16_file), load_file(edited)
    assert {t.dtype for t in after.values()} == {torch.float16}
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {f"visual.transformer.resblocks.{i}.attn.out_proj.weight" for i in (4, 5)}
    code, _, err = run(capsys, "edit", "--model-name", ORGANISM_NAME, "--pretrained", str(edited),
                       "--undo-log", str(tmp_path / "edited.edit-log.json"), "--output", str(restored),
                       "--data-dir", data)
    assert code == 0, err
    back = load_file(restored)
    assert back.keys() == before.keys()
    for k, t in before.items():  # the same bytes, tensor by tensor
        assert back[k].dtype == t.dtype and raw(back[k]).equal(raw(t)), k


class FakeSafetensorError(Exception):
    """What safetensors raises when the disk fills (not an OSError)."""


@pytest.mark.parametrize("error", [
    FakeSafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                        'message: "No space left on device" })'),
    OSError(errno.ENOSPC, "No space left on device"),
])
def test_full_disk_while_writing_the_checkpoint_is_one_line(fp16_file, tmp_path, capsys, monkeypatch, error):
    import sith.load.writeback as wb

    def full(*args, **kwargs):
        raise error

    monkeypatch.setattr(wb, "save_file", full)
    out = tmp_path / "out" / "e.safetensors"
    out.parent.mkdir()
    code, _, err = run(capsys, "edit", "--model-name", ORGANISM_NAME, "--pretrained", str(fp16_file),
                       "--component", "5:0:0", "--output", str(out), "--data-dir", str(tmp_path / "data"))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "No space left on device" in err and str(out) in err
    assert list(out.parent.iterdir()) == []


def test_dtype_option_chooses_the_stored_type_and_undo_matches(fp16_file, tmp_path, capsys):
    """--dtype float32 from an fp16 input: fp32 out; the log's fingerprint is what the file reloads to."""
    data = str(tmp_path / "data")
    edited, restored = tmp_path / "e32.safetensors", tmp_path / "r.safetensors"
    code, _, err = run(capsys, "edit", "--model-name", ORGANISM_NAME, "--pretrained", str(fp16_file),
                       "--component", "5:0:0", "--dtype", "float32", "--output", str(edited),
                       "--data-dir", data)
    assert code == 0, err
    assert {t.dtype for t in load_file(edited).values()} == {torch.float32}
    code, _, err = run(capsys, "edit", "--model-name", ORGANISM_NAME, "--pretrained", str(edited),
                       "--undo-log", str(tmp_path / "e32.edit-log.json"), "--output", str(restored),
                       "--data-dir", data)
    assert code == 0, err
    before, back = load_file(fp16_file), load_file(restored)
    assert all(torch.equal(back[k], t.float()) for k, t in before.items())  # fp16 values, exactly
