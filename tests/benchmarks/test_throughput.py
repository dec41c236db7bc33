"""The throughput benchmark's inputs and verdicts (benchmarks/bench_throughput.py), and its stored result."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from benchmarks import bench_throughput as bench

RESULT = Path(bench.__file__).parent / "results" / "throughput.json"


def test_shards_hold_photo_sized_jpegs(tmp_path: Path) -> None:
    pattern = bench.make_shards(tmp_path, n_images=5, per_shard=3, size=(512, 384))
    assert pattern.endswith("{00000..00001}.tar")
    with tarfile.open(tmp_path / "00000.tar") as tar:
        names = tar.getnames()
        blob = tar.extractfile("000000.jpg").read()  # type: ignore[union-attr]
    assert names == ["000000.jpg", "000000.txt", "000001.jpg", "000001.txt", "000002.jpg", "000002.txt"]
    img = Image.open(io.BytesIO(blob))
    assert img.format == "JPEG" and img.size == (512, 384)
    assert len(img.convert("L").histogram()) == 256 and sum(c > 0 for c in img.convert("L").histogram()) > 100


@pytest.mark.skipif(not bench.SEED_DICTIONARIES.is_dir(), reason="no seed concept lists here")
def test_pool_is_distinct_lines_of_the_seed_lists(tmp_path: Path) -> None:
    concepts = bench.make_pool(tmp_path / "pool.txt", 500)
    assert len(concepts) == len(set(concepts)) == 500
    assert (tmp_path / "pool.txt").read_text().splitlines() == concepts


def test_bound_is_the_loader_only_when_the_forward_pass_waits() -> None:
    fed = {"wait": 0.5, "transfer": 0.2, "forward": 10.0, "reduce": 0.1, "read": 1, "decode": 2,
           "resize": 3, "collate": 0.1}
    assert bench.image_bound(fed, 1) == "forward"
    starved = {**fed, "wait": 8.0}
    assert bench.image_bound(starved, 2) == "resize (2 workers)"


def test_stored_result_covers_every_model() -> None:
    if not RESULT.exists():
        pytest.skip("no stored throughput result")
    result = json.loads(RESULT.read_text())
    assert [m["model"] for m in result["models"]] == ["organism", "ViT-B-32", "ViT-L-14"]
    assert {"start", "end"} <= set(result["loadavg_1min"])
    for m in result["models"]:
        for side in ("image", "text"):
            assert m[side]["ratio_steady"] > 0 and m[side]["bound"]
    readme = (RESULT.parent.parent / "README.md").read_text()
    assert bench.BEGIN in readme and bench.END in readme
