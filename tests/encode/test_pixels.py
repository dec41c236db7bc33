"""The split preprocessing (uint8 in workers, float tail per batch) gives the old path's bits."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from sith.encode.images import compute_image_mean
from sith.encode.loader import default_workers
from sith.encode.pixels import make_pixels, split_preprocess
from sith.errors import SithError

from .conftest import FakeClip
from .imagedata import image_bytes, make_shards


def photo_bytes(seed: int, size: tuple[int, int], mode: str = "RGB", fmt: str = "JPEG") -> bytes:
    """A gradient-plus-noise photo-like image (``size`` is width, height)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], -1) + rng.normal(0, 12, (h, w, 3))
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


class OldPath(FakeClip):
    """The same model without a visible transform: workers run the whole preprocessing (the old path)."""

    def __init__(self) -> None:
        super().__init__()
        self.whole = self.transform
        del self.transform

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self.whole(image)


@pytest.mark.parametrize("size", [224, 32])
def test_split_pixels_are_the_full_transforms_bits(size: int) -> None:
    transform = open_clip.image_transform(size, is_train=False)
    head, mean, std = split_preprocess(transform, transform)
    assert mean is not None and std is not None
    clip = FakeClip()
    clip.transform = transform
    pixels = make_pixels(clip)
    blobs = [photo_bytes(0, (512, 384)), photo_bytes(1, (301, 417), "L"), photo_bytes(2, (97, 60)),
             photo_bytes(3, (200, 150), "RGBA", "PNG"), photo_bytes(4, (120, 90), "P", "PNG")]
    batch = torch.stack([pixels.image(b) for b in blobs])
    assert batch.dtype == torch.uint8
    got, dropped = pixels.finish(batch, torch.device("cpu"))
    want = torch.stack([transform(Image.open(io.BytesIO(b)).convert("RGB")) for b in blobs])
    assert torch.equal(got, want) and dropped == []


def test_new_default_path_gives_the_old_mean_exactly(tmp_path: Path) -> None:
    make_shards(tmp_path / "shards", n_shards=3, per_shard=4)
    source = str(tmp_path / "shards")
    new = compute_image_mean(FakeClip(), source, batch_size=3, workers=1, progress=False)
    old = compute_image_mean(OldPath(), source, batch_size=3, workers=0, progress=False)
    assert not make_pixels(OldPath()).split and make_pixels(FakeClip()).split
    assert torch.equal(new, old)


def test_draft_decoding_is_an_option_that_changes_pixels(tmp_path: Path) -> None:
    clip = FakeClip()
    big = photo_bytes(5, (640, 480))
    full, draft = make_pixels(clip).image(big), make_pixels(clip, decode="draft").image(big)
    assert full.shape == draft.shape == (3, 32, 32)
    assert not torch.equal(full, draft)  # 640x480 → 80x60 at 1/8, then resized
    assert (full.float() - draft.float()).abs().mean() < 8  # the same picture
    small = image_bytes(0, "JPEG")  # 40 px: no reduction keeps both sides >= 32
    assert torch.equal(make_pixels(clip).image(small), make_pixels(clip, decode="draft").image(small))
    with pytest.raises(SithError, match="--decode device needs"):
        make_pixels(OldPath(), decode="device")  # no visible transform to repeat on the device
    with pytest.raises(SithError, match="unknown decode mode 'gpu'"):
        make_pixels(clip, decode="gpu")


def test_progress_for_another_decode_mode_is_refused(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from sith.encode.images import FAIL_AFTER_ENV

    make_shards(tmp_path / "shards", n_shards=2, per_shard=2)
    monkeypatch.setenv(FAIL_AFTER_ENV, "1")
    with pytest.raises(RuntimeError):
        compute_image_mean(FakeClip(), tmp_path / "shards", data_dir=tmp_path / "data", workers=0,
                           progress=False)
    monkeypatch.delenv(FAIL_AFTER_ENV)
    with pytest.raises(SithError, match="another decode"):
        compute_image_mean(FakeClip(), tmp_path / "shards", data_dir=tmp_path / "data", decode="draft",
                           workers=0, progress=False)


def test_workers_are_sized_to_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(16)))
    assert default_workers("cpu") == 8
    assert default_workers("cpu", world_size=2) == 4
    assert default_workers("cuda") == 15
    assert default_workers("cuda", world_size=8) == 1
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0})
    assert default_workers("cpu") == 1 and default_workers("cuda") == 1


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torchvision.io points to torchcodec
def test_device_decoding_matches_pil_within_one_level() -> None:
    """The ``device`` option on CPU: libjpeg's decode (PIL's bits), then a tensor resize ≤ 1 level off."""
    from torchvision.io import decode_jpeg

    clip = FakeClip()
    clip.transform = open_clip.image_transform(224, is_train=False)
    clip.image_size = 224
    blobs = [photo_bytes(i, size) for i, size in enumerate([(512, 384), (300, 500), (230, 230)])]
    raw = torch.frombuffer(bytearray(blobs[0]), dtype=torch.uint8)
    pil = torch.from_numpy(np.array(Image.open(io.BytesIO(blobs[0])).convert("RGB"))).permute(2, 0, 1)
    assert torch.equal(decode_jpeg(raw), pil)
    png = photo_bytes(9, (260, 240), fmt="PNG")
    default, device = make_pixels(clip), make_pixels(clip, decode="device")
    items = [device.image(b) for b in [*blobs, png]]
    assert [t.ndim for t in items] == [1, 1, 1, 3]  # JPEGs stay encoded, the PNG is decoded by PIL
    got, dropped = device.finish(device.collate(items), torch.device("cpu"))
    want, _ = default.finish(torch.stack([default.image(b) for b in [*blobs, png]]), torch.device("cpu"))
    assert dropped == [] and got.shape == want.shape == (4, 3, 224, 224)
    level = 1 / 255 / min(default.std)  # one uint8 level after normalisation
    assert float((got - want).abs().max()) <= level * 1.0001
    assert torch.equal(got[3], want[3])


def test_device_decoding_skips_what_it_cannot_decode(tmp_path: Path) -> None:
    from .imagedata import samples, write_tar

    good = samples(range(3))
    bad = [("000009.jpg", b"\xff\xd8" + b"not a jpeg" * 20), ("000009.txt", b"x")]
    write_tar(tmp_path / "s" / "00000.tar", good + bad)
    clip = FakeClip()
    default = compute_image_mean(clip, tmp_path / "s", workers=0, progress=False)
    mean = compute_image_mean(clip, tmp_path / "s", data_dir=tmp_path / "data", workers=0, decode="device",
                              progress=False)
    record = json.loads(next((tmp_path / "data").rglob("image_mean.json")).read_text())
    assert record["count"] == 3 and record["skipped"] == 1 and record["decode"] == "device"
    assert float(torch.nn.functional.cosine_similarity(mean, default, dim=0)) > 0.999
    with pytest.raises(SithError, match="cannot read image"):
        compute_image_mean(clip, tmp_path / "s", workers=0, decode="device", skip_bad=False, progress=False)
