"""``torchrun --nproc_per_node 2 -m sith image-mean`` (gloo, CPU) equals one process; bad input stops
all; a killed rank is restarted by ``--max-restarts`` and the job ends with the same mean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sith import paths
from sith.encode.images import KILL_AFTER_ENV, compute_image_mean
from sith.load import load_clip

from .imagedata import make_shards
from .torchrun import run_sith

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")


def test_two_ranks_equal_one_process(tmp_path: Path) -> None:
    make_shards(tmp_path / "shards", n_shards=4, per_shard=3)
    source = str(tmp_path / "shards" / "{00000..00003}.tar")
    done = run_sith(["-q", "image-mean", "--images", source, "--data-dir", "data", "--workers", "1",
                     "--batch-size", "2"], nproc=2, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    target = paths.image_mean_path(tmp_path / "data", "sith-organism", "v1")
    assert done.stdout.strip() == str(paths.image_mean_path("data", "sith-organism", "v1"))  # once
    two = torch.load(target, weights_only=True)
    one = compute_image_mean(load_clip(), source, batch_size=5, progress=False)
    assert two.shape == (128,)
    torch.testing.assert_close(two, one, atol=1e-6, rtol=0)
    assert not (target.parent / "image_mean.progress").exists()


def test_a_bad_shard_on_one_rank_stops_every_rank(tmp_path: Path) -> None:
    make_shards(tmp_path / "shards", n_shards=3, per_shard=2)
    (tmp_path / "shards" / "00003.tar").write_bytes(b"not a tar " * 100)  # rank 1's second unit
    done = run_sith(["-q", "image-mean", "--images", "shards/{00000..00003}.tar", "--data-dir", "data",
                     "--workers", "0"], nproc=2, cwd=tmp_path)
    assert done.returncode != 0
    assert "00003.tar is not a tar archive" in done.stderr
    assert not paths.image_mean_path(tmp_path / "data", "sith-organism", "v1").exists()


def test_a_killed_rank_is_restarted_and_the_mean_is_unchanged(tmp_path: Path) -> None:
    make_shards(tmp_path / "shards", n_shards=4, per_shard=3)
    source = str(tmp_path / "shards" / "{00000..00003}.tar")
    done = run_sith(["-q", "image-mean", "--images", source, "--data-dir", "data", "--workers", "0",
                     "--batch-size", "2"], nproc=2, cwd=tmp_path,
                    torchrun_args=("--max-restarts=1", "--monitor-interval=0.2"),
                    extra_env={KILL_AFTER_ENV: "1:1"})  # rank 1 SIGKILLs itself after its first shard
    assert done.returncode == 0, done.stderr
    assert "Signals.SIGKILL" in done.stderr or "SIGKILL" in done.stderr or "exitcode: -9" in done.stderr
    target = paths.image_mean_path(tmp_path / "data", "sith-organism", "v1")
    meta = json.loads(target.with_suffix(".json").read_text())
    assert meta["count"] == 12 and meta["images_resumed"] >= 3  # rank 1's first shard was kept
    one = compute_image_mean(load_clip(), source, batch_size=5, workers=0, progress=False)
    torch.testing.assert_close(torch.load(target, weights_only=True), one, atol=1e-6, rtol=0)
    assert not (target.parent / "image_mean.progress").exists()
