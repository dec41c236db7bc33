"""Image mean: folder == tar shard == glob of shards == direct computation; errors; provenance."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from sith import paths
from sith.encode.images import compute_image_mean, load_image_mean
from sith.errors import SithError

from .conftest import FakeClip

N_IMAGES = 5


def _png_bytes(seed: int, size: int = 40) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (size, size + seed, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "imgs"
    (root / "sub").mkdir(parents=True)
    for i in range(N_IMAGES):
        sub = root / "sub" if i % 2 else root
        (sub / f"img{i}.{'png' if i != 3 else 'PNG'}").write_bytes(_png_bytes(i))
    (root / "notes.txt").write_text("not an image")
    return root


def _shard(path: Path, items: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, blob in items:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def _items(ids: range) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for i in ids:
        out += [(f"{i:06d}.png", _png_bytes(i)), (f"{i:06d}.txt", b"a caption")]
    return out


def direct_mean(clip: FakeClip) -> torch.Tensor:
    pixels = torch.stack([clip.preprocess(Image.open(io.BytesIO(_png_bytes(i))).convert("RGB"))
                          for i in range(N_IMAGES)])
    with torch.no_grad():
        return F.normalize(clip.model.encode_image(pixels), dim=-1).mean(0)


def test_folder_equals_direct_computation(clip: FakeClip, folder: Path) -> None:
    mean = compute_image_mean(clip, folder, batch_size=2, progress=False)
    assert mean.shape == (24,) and mean.dtype == torch.float32
    torch.testing.assert_close(mean, direct_mean(clip), atol=1e-6, rtol=0)
    assert 0.0 < float(mean.norm()) < 1.0


def test_tar_shard_and_glob_equal_folder(clip: FakeClip, folder: Path, tmp_path: Path) -> None:
    from_folder = compute_image_mean(clip, folder, batch_size=3, progress=False)
    one = _shard(tmp_path / "one.tar", _items(range(N_IMAGES)))
    torch.testing.assert_close(compute_image_mean(clip, one, progress=False), from_folder,
                               atol=1e-6, rtol=0)
    shards = tmp_path / "shards"
    shards.mkdir()
    _shard(shards / "000.tar", _items(range(0, 2)))
    _shard(shards / "001.tar", _items(range(2, N_IMAGES)))
    for source in (shards, str(shards / "*.tar")):
        got = compute_image_mean(clip, source, batch_size=4, progress=False)
        torch.testing.assert_close(got, from_folder, atol=1e-6, rtol=0)


def test_saved_with_provenance_and_checked(clip: FakeClip, folder: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    mean = compute_image_mean(clip, folder, data_dir=data, progress=False)
    path = paths.image_mean_path(data, clip.info.model_name, clip.info.pretrained)
    record = torch.load(path, weights_only=True)
    assert record["count"] == N_IMAGES and record["skipped"] == 0
    assert record["model_fingerprint"] == clip.info.fingerprint and record["source"] == str(folder)
    assert torch.equal(load_image_mean(path, expect_model=clip.info), mean)
    with pytest.raises(SithError, match="recompute the image mean"):
        load_image_mean(path, expect_model=FakeClip(seed=1).info)


def test_unreadable_image(clip: FakeClip, folder: Path) -> None:
    bad = folder / "sub" / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(SithError, match=r"broken\.jpg.*skip_bad=True"):
        compute_image_mean(clip, folder, progress=False)
    mean = compute_image_mean(clip, folder, skip_bad=True, progress=False)
    torch.testing.assert_close(mean, direct_mean(clip), atol=1e-6, rtol=0)


def test_unreadable_member_in_shard(clip: FakeClip, tmp_path: Path) -> None:
    shard = _shard(tmp_path / "s.tar", _items(range(2)) + [("bad.png", b"\x89PNG broken")])
    with pytest.raises(SithError, match=r"s\.tar:bad\.png"):
        compute_image_mean(clip, shard, progress=False)


def test_no_images(clip: FakeClip, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SithError, match="no images found"):
        compute_image_mean(clip, tmp_path / "empty", progress=False)
    with pytest.raises(SithError, match="does not exist"):
        compute_image_mean(clip, tmp_path / "missing", progress=False)
    (tmp_path / "only_bad").mkdir()
    (tmp_path / "only_bad" / "x.png").write_bytes(b"junk")
    with pytest.raises(SithError, match="no readable images"):
        compute_image_mean(clip, tmp_path / "only_bad", skip_bad=True, progress=False)
