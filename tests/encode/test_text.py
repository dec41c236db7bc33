"""Text encoding: equals the model's own encoding; cache reuse/rebuild; resume; atoms."""

from __future__ import annotations

import logging
from pathlib import Path

import open_clip
import pytest
import torch
import torch.nn.functional as F

from sith import paths
from sith.encode.pools import Pool, read_pool
from sith.encode.text import encode_pool, load_encoded
from sith.errors import SithError
from sith.io import save_pt, sha256_text

from .conftest import CONTEXT, FakeClip

CONCEPTS = ["dog", "cat", "red car", "a striped zebra", "tree", "ocean", "snow", "bread", "lamp"]


def make_pool(concepts: list[str] = CONCEPTS, name: str = "toy") -> Pool:
    return Pool(name, list(concepts), sha256_text(concepts), Path(f"{name}.txt"))


def direct(clip: FakeClip, texts: list[str]) -> torch.Tensor:
    with torch.no_grad():
        emb = clip.model.encode_text(open_clip.tokenize(texts, context_length=CONTEXT))
    return F.normalize(emb, dim=-1)


def cache_path(tmp_path: Path, clip: FakeClip, name: str = "toy") -> Path:
    return paths.encoded_dictionary_path(tmp_path, clip.info.model_name, clip.info.pretrained, name)


def test_matches_direct_model_encoding(clip: FakeClip) -> None:
    enc = encode_pool(clip, make_pool(), data_dir=None, batch_size=4, progress=False)
    assert enc.embeddings.shape == (9, 24) and enc.embeddings.dtype == torch.float32
    torch.testing.assert_close(enc.embeddings, direct(clip, CONCEPTS), atol=1e-5, rtol=0)
    torch.testing.assert_close(enc.embeddings.norm(dim=-1), torch.ones(9))
    assert clip.text_calls == 3 and clip.texts_encoded == 9
    assert enc.concepts == CONCEPTS and enc.model_fingerprint == clip.info.fingerprint


def test_template(clip: FakeClip) -> None:
    enc = encode_pool(clip, make_pool(), data_dir=None, template="a photo of {}", progress=False)
    want = direct(clip, [f"a photo of {c}" for c in CONCEPTS])
    torch.testing.assert_close(enc.embeddings, want, atol=1e-5, rtol=0)
    assert enc.template == "a photo of {}" and enc.concepts == CONCEPTS
    with pytest.raises(SithError, match="exactly once"):
        encode_pool(clip, make_pool(), data_dir=None, template="a photo", progress=False)


def test_fp16_needs_cuda(clip: FakeClip) -> None:
    with pytest.raises(SithError, match="CUDA"):
        encode_pool(clip, make_pool(), data_dir=None, fp16=True, progress=False)


def test_pool_by_name(tmp_path: Path, clip: FakeClip) -> None:
    (tmp_path / "dictionaries").mkdir()
    (tmp_path / "dictionaries" / "laion.txt").write_text("Dog\ncat\n")
    enc = encode_pool(clip, "laion", data_dir=tmp_path, progress=False)
    assert enc.name == "laion" and enc.concepts == ["dog", "cat"]
    assert cache_path(tmp_path, clip, "laion").is_file()


def test_cache_reused_without_reencoding(tmp_path: Path) -> None:
    first = FakeClip()
    a = encode_pool(first, make_pool(), data_dir=tmp_path, batch_size=4, progress=False)
    assert cache_path(tmp_path, first).is_file() and first.texts_encoded == 9
    second = FakeClip()
    b = encode_pool(second, make_pool(), data_dir=tmp_path, batch_size=4, progress=False)
    assert second.texts_encoded == 2  # only the spot check (first + last concept)
    assert torch.equal(a.embeddings, b.embeddings) and b.concepts == CONCEPTS


def test_changed_pool_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    encode_pool(FakeClip(), make_pool(), data_dir=tmp_path, progress=False)
    changed = CONCEPTS[:-1] + ["kettle"]
    clip = FakeClip()
    with caplog.at_level(logging.WARNING, logger="sith.encode.text"):
        enc = encode_pool(clip, make_pool(changed), data_dir=tmp_path, progress=False)
    assert clip.texts_encoded == 9 and enc.concepts == changed
    assert "rebuilding" in caplog.text and "pool_hash" in caplog.text
    torch.testing.assert_close(enc.embeddings, direct(clip, changed), atol=1e-5, rtol=0)
    assert load_encoded(cache_path(tmp_path, clip)).concepts == changed


def test_other_models_cache_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    encode_pool(FakeClip(seed=0), make_pool(), data_dir=tmp_path, progress=False)
    other = FakeClip(seed=1)  # same name and tag, other weights
    with caplog.at_level(logging.WARNING, logger="sith.encode.text"):
        enc = encode_pool(other, make_pool(), data_dir=tmp_path, progress=False)
    assert "model_fingerprint" in caplog.text and other.texts_encoded == 9
    assert enc.model_fingerprint == other.info.fingerprint
    torch.testing.assert_close(enc.embeddings, direct(other, CONCEPTS), atol=1e-5, rtol=0)


def test_text_tower_change_caught_by_spot_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    encode_pool(FakeClip(), make_pool(), data_dir=tmp_path, progress=False)
    edited = FakeClip()
    with torch.no_grad():
        edited.model.text_projection.add_(torch.randn_like(edited.model.text_projection))
    with caplog.at_level(logging.WARNING, logger="sith.encode.text"):
        enc = encode_pool(edited, make_pool(), data_dir=tmp_path, progress=False)
    assert "spot check" in caplog.text and edited.texts_encoded == 2 + 9
    torch.testing.assert_close(enc.embeddings, direct(edited, CONCEPTS), atol=1e-5, rtol=0)


def test_load_encoded_checks(tmp_path: Path) -> None:
    clip = FakeClip()
    encode_pool(clip, make_pool(), data_dir=tmp_path, progress=False)
    path = cache_path(tmp_path, clip)
    enc = load_encoded(path, expect_model=clip.info, expect_pool_hash=sha256_text(CONCEPTS))
    assert enc.embeddings.shape == (9, 24)
    with pytest.raises(SithError, match="encoded by model"):
        load_encoded(path, expect_model=FakeClip(seed=1).info)
    with pytest.raises(SithError, match="pool changed"):
        load_encoded(path, expect_pool_hash="0" * 16)
    save_pt({"something": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(SithError, match="not a sith encoded dictionary"):
        load_encoded(tmp_path / "foreign.pt")


class Interrupt(RuntimeError):
    pass


def test_interrupted_run_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = encode_pool(FakeClip(), make_pool(), data_dir=None, batch_size=2, progress=False)
    crashing = FakeClip()
    real = crashing.encode_text

    def flaky(texts: list[str]) -> torch.Tensor:
        if crashing.text_calls == 3:  # the 4th batch fails
            raise Interrupt("simulated crash")
        return real(texts)

    monkeypatch.setattr(crashing, "encode_text", flaky)
    with pytest.raises(Interrupt):
        encode_pool(crashing, make_pool(), data_dir=tmp_path, batch_size=2, progress=False,
                    checkpoint_seconds=0)
    target = cache_path(tmp_path, crashing)
    partial = target.with_name("toy.partial.pt")
    assert partial.is_file() and not target.exists()
    assert torch.load(partial, weights_only=True)["done"] == 6

    resumed = FakeClip()
    enc = encode_pool(resumed, make_pool(), data_dir=tmp_path, batch_size=2, progress=False,
                      checkpoint_seconds=0)
    assert resumed.texts_encoded == 3  # only concepts 6..8
    assert target.is_file() and not partial.exists()
    torch.testing.assert_close(enc.embeddings, clean.embeddings, atol=1e-6, rtol=0)


def test_stale_partial_is_discarded(tmp_path: Path) -> None:
    clip = FakeClip()
    partial = cache_path(tmp_path, clip).with_name("toy.partial.pt")
    meta = {"format": "sith-encoded-dictionary/1", "pool_hash": "deadbeef", "n_concepts": 9}
    save_pt({"embeddings": torch.zeros(4, 24), "done": 4, "meta": meta}, partial)
    enc = encode_pool(clip, make_pool(), data_dir=tmp_path, progress=False)
    assert clip.texts_encoded == 9 and not partial.exists()
    torch.testing.assert_close(enc.embeddings, direct(clip, CONCEPTS), atol=1e-5, rtol=0)


@pytest.fixture
def encoded(clip: FakeClip):
    return encode_pool(clip, make_pool(), data_dir=None, progress=False)


def test_with_real_loaded_clip(tmp_path: Path) -> None:
    load = pytest.importorskip("sith.load")
    if not hasattr(load, "load_clip"):
        pytest.skip("sith.load.load_clip not written yet")
    (tmp_path / "dictionaries").mkdir()
    (tmp_path / "dictionaries" / "efros.txt").write_text("a dog\na cat\na red car\n")
    clip = load.load_clip("ViT-B-32", "", device="cpu")
    enc = encode_pool(clip, read_pool("efros", data_dir=tmp_path), data_dir=tmp_path,
                      progress=False)
    assert enc.embeddings.shape == (3, clip.weights.d_embed)
    torch.testing.assert_close(enc.embeddings.norm(dim=-1), torch.ones(3))
    again = encode_pool(clip, "efros", data_dir=tmp_path, progress=False)
    assert torch.equal(enc.embeddings, again.embeddings)
