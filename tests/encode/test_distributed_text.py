"""``torchrun --nproc_per_node 2 -m sith encode-dictionary`` (gloo, CPU) writes what one process encodes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sith.encode.text import encode_pool
from sith.load import load_clip

from .torchrun import run_sith

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")


def test_two_ranks_write_the_single_process_dictionary(tmp_path: Path) -> None:
    done = run_sith(["-q", "encode-dictionary", "--data-dir", "data", "--batch-size", "64"], nproc=2,
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "data" / "models" / "sith-organism" / "v1" / "dictionaries" / "organism.pt"
    assert done.stdout.strip().endswith("organism.pt")
    two = torch.load(path, weights_only=True)  # the seed's plain (N, e) tensor
    one = encode_pool(load_clip(), "organism", data_dir=None, batch_size=64, progress=False)  # same batches
    assert two.shape == one.embeddings.shape == (len(one), 128)
    torch.testing.assert_close(two, one.embeddings, atol=1e-6, rtol=0)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["world_size"] == 2 and meta["n_concepts"] == len(one) and meta["normalized"] is False
    assert not list(path.parent.glob("*.partial*"))
