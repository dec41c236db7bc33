"""Image mean: every source form gives the direct mean; corrupt samples; resume; seed layout; errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from sith import paths
from sith.encode.images import FAIL_AFTER_ENV, compute_image_mean, iter_images, progress_dir
from sith.encode.seedfiles import load_image_mean, save_image_mean, sidecar_path
from sith.errors import SithError
from sith.io import save_pt

from .conftest import FakeClip
from .imagedata import image_bytes, make_shards, samples, write_tar

N_IMAGES = 5


def direct_mean(clip: FakeClip, blobs: list[bytes]) -> torch.Tensor:
    pixels = torch.stack([clip.preprocess(Image.open(io.BytesIO(b)).convert("RGB")) for b in blobs])
    with torch.no_grad():
        return F.normalize(clip.model.encode_image(pixels).double(), dim=-1).mean(0).float()


def shard_blobs(n: int) -> list[bytes]:
    return [image_bytes(i, "JPEG") for i in range(n)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "imgs"
    (root / "sub").mkdir(parents=True)
    for i in range(N_IMAGES):
        sub = root / "sub" if i % 2 else root
        (sub / f"img{i}.{'png' if i != 3 else 'PNG'}").write_bytes(image_bytes(i))
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def shards(tmp_path: Path) -> Path:
    make_shards(tmp_path / "shards", n_shards=4, per_shard=3)
    return tmp_path / "shards"


def test_folder_equals_direct_computation(clip: FakeClip, folder: Path) -> None:
    mean = compute_image_mean(clip, folder, batch_size=2, progress=False, files_per_unit=2)
    assert mean.shape == (24,) and mean.dtype == torch.float32
    want = direct_mean(clip, [image_bytes(i) for i in range(N_IMAGES)])
    torch.testing.assert_close(mean, want, atol=1e-6, rtol=0)
    assert 0.0 < float(mean.norm()) < 1.0


def test_every_source_form_agrees(clip: FakeClip, shards: Path, tmp_path: Path) -> None:
    want = direct_mean(clip, shard_blobs(12))
    (tmp_path / "list.txt").write_text("# shards\nshards/00000.tar\n\nshards/00001.tar\nshards/00002.tar\n"
                                       "shards/00003.tar\n")
    sources = [shards, f"{shards}/*.tar", f"{shards}/{{00000..00003}}.tar", tmp_path / "list.txt",
               f"{shards}/{{00000..00001}}.tar::{shards}/{{00002..00003}}.tar"]
    for source in sources:
        got = compute_image_mean(clip, source, batch_size=5, progress=False)
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0, msg=str(source))


def test_workers_and_formats(clip: FakeClip, tmp_path: Path) -> None:
    write_tar(tmp_path / "a.tar", samples(range(0, 3), "PNG") + samples(range(3, 5), "WEBP"))
    write_tar(tmp_path / "b.tar", samples(range(5, 8), "JPEG"))
    blobs = [image_bytes(i, f) for i, f in [(0, "PNG"), (1, "PNG"), (2, "PNG"), (3, "WEBP"), (4, "WEBP"),
                                             (5, "JPEG"), (6, "JPEG"), (7, "JPEG")]]
    got = compute_image_mean(clip, f"{tmp_path}/*.tar", batch_size=3, workers=2, progress=False)
    torch.testing.assert_close(got, direct_mean(clip, blobs), atol=1e-6, rtol=0)


def test_saved_in_seed_layout(clip: FakeClip, shards: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    mean = compute_image_mean(clip, shards, data_dir=data, progress=False)
    path = paths.image_mean_path(data, clip.info.model_name, clip.info.pretrained)
    plain = torch.load(path, weights_only=True)  # what the seed's scripts do
    assert isinstance(plain, torch.Tensor) and plain.shape == (24,) and torch.equal(plain, mean)
    meta = json.loads(sidecar_path(path).read_text())
    assert meta["count"] == 12 and meta["skipped"] == 0 and meta["n_units"] == 4
    assert meta["model_fingerprint"] == clip.info.fingerprint and meta["precision"] == "fp32"
    assert not progress_dir(path).exists()
    assert torch.equal(load_image_mean(path, expect_model=clip.info, expect_width=24), mean)
    with pytest.raises(SithError, match="recompute the image mean"):
        load_image_mean(path, expect_model=FakeClip(seed=1).info)


def test_seed_made_and_legacy_means_are_read(clip: FakeClip, tmp_path: Path) -> None:
    seed = tmp_path / "image_mean.pt"
    torch.save(torch.arange(24.0), seed)  # the seed's own format: a plain (e,) tensor, no sidecar
    assert torch.equal(load_image_mean(seed, expect_model=clip.info, expect_width=24), torch.arange(24.0))
    with pytest.raises(SithError, match=r"width 24 .* 512.*sith image-mean") as err:
        load_image_mean(seed, expect_width=512)
    assert "\n" not in str(err.value)
    save_image_mean(torch.ones(24), FakeClip(seed=1).info, seed, {"count": 1})
    torch.save(torch.zeros(24), seed)  # replaced by another tool: the old sidecar no longer applies
    assert torch.equal(load_image_mean(seed, expect_model=clip.info), torch.zeros(24))
    legacy = tmp_path / "legacy.pt"
    save_pt({"mean": torch.ones(24), "model_name": "tiny-test", "pretrained": "",
             "model_fingerprint": clip.info.fingerprint}, legacy)
    assert torch.equal(load_image_mean(legacy, expect_model=clip.info), torch.ones(24))
    torch.save(torch.zeros(3, 24), seed)
    with pytest.raises(SithError, match="not \\(e,\\)"):
        load_image_mean(seed)


def test_corrupt_members_are_skipped_and_counted(clip: FakeClip, tmp_path: Path) -> None:
    items = samples(range(3)) + [("000003.jpg", b"\xff\xd8 not a jpeg"), ("000003.txt", b"x")]
    shard = write_tar(tmp_path / "s" / "00000.tar", items)
    data = tmp_path / "data"
    mean = compute_image_mean(clip, shard, data_dir=data, progress=False)
    torch.testing.assert_close(mean, direct_mean(clip, shard_blobs(3)), atol=1e-6, rtol=0)
    meta = json.loads(sidecar_path(paths.image_mean_path(data, "tiny-test", "")).read_text())
    assert meta["count"] == 3 and meta["skipped"] == 1
    with pytest.raises(SithError, match=r"00000\.tar:000003\.jpg"):
        compute_image_mean(clip, shard, skip_bad=False, progress=False)
    cut = write_tar(tmp_path / "s" / "00001.tar", samples(range(4, 8)))
    cut.write_bytes(cut.read_bytes()[:9000])  # truncated mid-member: what is readable counts
    mean = compute_image_mean(clip, f"{tmp_path}/s/*.tar", data_dir=data, progress=False)
    meta = json.loads(sidecar_path(paths.image_mean_path(data, "tiny-test", "")).read_text())
    assert 3 < meta["count"] < 7 and meta["skipped"] >= 2


class Counting(FakeClip):
    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.images = 0

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        self.images += pixels.shape[0]
        return super().encode_images(pixels)


def test_killed_run_resumes_to_the_same_mean(shards: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    clean = compute_image_mean(FakeClip(), shards, batch_size=2, progress=False)
    data = tmp_path / "data"
    target = paths.image_mean_path(data, "tiny-test", "")
    monkeypatch.setenv(FAIL_AFTER_ENV, "2")
    with pytest.raises(RuntimeError, match="stopping after 2 units"):
        compute_image_mean(FakeClip(), shards, data_dir=data, batch_size=2, progress=False)
    assert not target.exists()
    record = torch.load(progress_dir(target) / "rank-0.pt", weights_only=True)
    assert len(record["units"]) == 2
    monkeypatch.delenv(FAIL_AFTER_ENV)
    other = Counting(seed=1)
    with pytest.raises(SithError, match="written by model .*restart=True"):
        compute_image_mean(other, shards, data_dir=data, progress=False)
    with pytest.raises(SithError, match="another precision"):
        compute_image_mean(FakeClip(), shards, data_dir=data, precision="bf16", progress=False)
    resumed = Counting()
    mean = compute_image_mean(resumed, shards, data_dir=data, batch_size=2, progress=False)
    assert resumed.images == 6  # only the 2 unfinished shards
    torch.testing.assert_close(mean, clean, atol=1e-6, rtol=0)
    assert torch.equal(torch.load(target, weights_only=True), mean) and not progress_dir(target).exists()


def test_bad_sources(clip: FakeClip, shards: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    cases = {
        f"{shards}/{{00010..00012}}.tar": "does not exist",
        f"{tmp_path}/nothing/*.tar": "no files match",
        str(tmp_path / "missing"): "does not exist",
    }
    (tmp_path / "empty").mkdir()
    cases[str(tmp_path / "empty")] = "no images or shards found"
    (shards / "00004.tar").write_bytes(b"this is not a tar archive" * 40)
    cases[str(shards)] = "00004.tar is not a tar archive"
    (tmp_path / "list.txt").write_bytes(b"shards/00000.tar\nshards/\xff.tar\n")
    cases[str(tmp_path / "list.txt")] = r"list\.txt line 2 is not valid UTF-8"
    (tmp_path / "only_bad").mkdir()
    (tmp_path / "only_bad" / "x.png").write_bytes(b"junk")
    cases[str(tmp_path / "only_bad")] = "no readable images"
    for source, message in cases.items():
        with pytest.raises(SithError, match=message) as err:
            compute_image_mean(clip, source, data_dir=data, progress=False)
        assert "\n" not in str(err.value)
    assert not paths.image_mean_path(data, "tiny-test", "").exists()


def test_iter_images_streams_every_image(folder: Path, shards: Path) -> None:
    names = [name for name, _ in iter_images(folder)]
    assert len(names) == N_IMAGES and names == sorted(names)
    got = [read() for _, read in iter_images(f"{shards}/{{00000..00001}}.tar")]
    assert got == shard_blobs(6)
