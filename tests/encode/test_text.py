"""Text encoding: equals the model's own (unnormalised) encoding; seed-layout files; cache
reuse/rebuild; templated files apart; seed-made tensors read; resume; atoms."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import open_clip
import pytest
import torch
import torch.nn.functional as F

from sith import paths
from sith.encode.pools import Pool, read_pool
from sith.encode.text import encode_pool, encoded_path, load_encoded, template_tag
from sith.errors import SithError
from sith.io import save_pt, sha256_text

from .conftest import CONTEXT, FakeClip

CONCEPTS = ["dog", "cat", "red car", "a striped zebra", "tree", "ocean", "snow", "bread", "lamp"]


def make_pool(concepts: list[str] = CONCEPTS, name: str = "toy") -> Pool:
    return Pool(name, list(concepts), sha256_text(concepts), Path(f"{name}.txt"))


def direct(clip: FakeClip, texts: list[str]) -> torch.Tensor:
    """``encode_text`` outputs, unnormalised (the seed's dictionary rows)."""
    with torch.no_grad():
        return clip.model.encode_text(open_clip.tokenize(texts, context_length=CONTEXT))


def cache_path(tmp_path: Path, clip: FakeClip, name: str = "toy") -> Path:
    return paths.encoded_dictionary_path(tmp_path, clip.info.model_name, clip.info.pretrained, name)


def test_matches_direct_model_encoding(clip: FakeClip) -> None:
    enc = encode_pool(clip, make_pool(), data_dir=None, batch_size=4, progress=False)
    assert enc.embeddings.shape == (9, 24) and enc.embeddings.dtype == torch.float32
    torch.testing.assert_close(enc.embeddings, direct(clip, CONCEPTS), atol=1e-5, rtol=0)
    assert not torch.allclose(enc.embeddings.norm(dim=-1), torch.ones(9))  # unnormalised, as the seed
    assert clip.text_calls == 3 and clip.texts_encoded == 9
    assert enc.concepts == CONCEPTS and enc.model_fingerprint == clip.info.fingerprint


def test_template(clip: FakeClip) -> None:
    enc = encode_pool(clip, make_pool(), data_dir=None, template="a photo of {}", progress=False)
    want = direct(clip, [f"a photo of {c}" for c in CONCEPTS])
    torch.testing.assert_close(enc.embeddings, want, atol=1e-5, rtol=0)
    assert enc.template == "a photo of {}" and enc.concepts == CONCEPTS
    with pytest.raises(SithError, match="exactly once"):
        encode_pool(clip, make_pool(), data_dir=None, template="a photo", progress=False)


def test_precision_choices(clip: FakeClip) -> None:
    with pytest.raises(SithError, match="available: fp32, fp16, bf16"):
        encode_pool(clip, make_pool(), data_dir=None, precision="fp8", progress=False)
    enc = encode_pool(clip, make_pool(), data_dir=None, precision="bf16", progress=False)
    cos = F.cosine_similarity(enc.embeddings, direct(clip, CONCEPTS), dim=-1)
    assert enc.embeddings.dtype == torch.float32 and float(cos.min()) > 0.98


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
    with caplog.at_level(logging.WARNING, logger="sith.encode"):
        enc = encode_pool(clip, make_pool(changed), data_dir=tmp_path, progress=False)
    assert clip.texts_encoded == 9 and enc.concepts == changed
    assert "rebuilding" in caplog.text and "pool_hash" in caplog.text
    torch.testing.assert_close(enc.embeddings, direct(clip, changed), atol=1e-5, rtol=0)
    assert load_encoded(cache_path(tmp_path, clip), make_pool(changed)).concepts == changed


def test_other_models_cache_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    encode_pool(FakeClip(seed=0), make_pool(), data_dir=tmp_path, progress=False)
    other = FakeClip(seed=1)  # same name and tag, other weights
    with caplog.at_level(logging.WARNING, logger="sith.encode"):
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
    with caplog.at_level(logging.WARNING, logger="sith.encode"):
        enc = encode_pool(edited, make_pool(), data_dir=tmp_path, progress=False)
    assert "spot check" in caplog.text and edited.texts_encoded == 2 + 9
    torch.testing.assert_close(enc.embeddings, direct(edited, CONCEPTS), atol=1e-5, rtol=0)


def test_load_encoded_checks(tmp_path: Path) -> None:
    clip = FakeClip()
    encode_pool(clip, make_pool(), data_dir=tmp_path, progress=False)
    path = cache_path(tmp_path, clip)
    enc = load_encoded(path, make_pool(), expect_model=clip.info, expect_width=24)
    assert enc.embeddings.shape == (9, 24) and enc.model_fingerprint == clip.info.fingerprint
    with pytest.raises(SithError, match="encoded by model"):
        load_encoded(path, make_pool(), expect_model=FakeClip(seed=1).info)
    with pytest.raises(SithError, match="pool changed"):
        load_encoded(path, make_pool(CONCEPTS[:-1] + ["kettle"]))
    save_pt({"something": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(SithError, match="not an encoded dictionary"):
        load_encoded(tmp_path / "foreign.pt", make_pool())


def test_seed_layout_file_and_sidecar(tmp_path: Path, clip: FakeClip) -> None:
    enc = encode_pool(clip, make_pool(), data_dir=tmp_path, progress=False)
    path = cache_path(tmp_path, clip)
    plain = torch.load(path, weights_only=True)  # what the seed's scripts do
    assert isinstance(plain, torch.Tensor) and plain.shape == (9, 24) and torch.equal(plain, enc.embeddings)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["pool_hash"] == sha256_text(CONCEPTS) and meta["n_concepts"] == 9
    assert meta["model_fingerprint"] == clip.info.fingerprint and meta["template"] is None
    assert meta["precision"] == "fp32" and meta["normalized"] is False


def test_template_and_raw_files_never_overwrite_each_other(tmp_path: Path) -> None:
    tpl = encode_pool(FakeClip(), make_pool(), data_dir=tmp_path, template="a photo of {}", progress=False)
    tpl_path = encoded_path(tmp_path, FakeClip().info, "toy", "a photo of {}")
    assert tpl_path.name == f"toy.tpl-{template_tag('a photo of {}')}.pt"
    before = tpl_path.read_bytes()
    raw = encode_pool(FakeClip(), make_pool(), data_dir=tmp_path, progress=False)
    raw_path = cache_path(tmp_path, FakeClip())
    assert raw_path != tpl_path and raw_path.is_file() and tpl_path.read_bytes() == before
    assert not torch.allclose(raw.embeddings, tpl.embeddings, atol=1e-3)
    again = FakeClip()  # both are reused, each for its own setting
    assert torch.equal(encode_pool(again, make_pool(), data_dir=tmp_path, template="a photo of {}",
                                   progress=False).embeddings, tpl.embeddings)
    assert torch.equal(encode_pool(again, make_pool(), data_dir=tmp_path, progress=False).embeddings,
                       raw.embeddings)
    assert again.texts_encoded == 4  # two spot checks, nothing re-encoded


def test_seed_made_dictionary_is_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clip = FakeClip()
    path = cache_path(tmp_path, clip)
    path.parent.mkdir(parents=True)
    torch.save(direct(clip, CONCEPTS), path)  # the seed's file: plain (N, e), no sidecar
    with caplog.at_level(logging.INFO, logger="sith.encode"):
        enc = encode_pool(clip, make_pool(), data_dir=tmp_path, progress=False)
    assert clip.texts_encoded == 2 and "provenance unknown" in caplog.text
    assert torch.equal(enc.embeddings, torch.load(path, weights_only=True))
    assert not path.with_suffix(".json").exists()  # the seed's file is left as it was
    assert torch.equal(load_encoded(path, make_pool(), expect_width=24).embeddings, enc.embeddings)


@pytest.mark.parametrize(
    ("rows", "message"),
    [(torch.zeros(9, 512), r"has shape \(9, 512\) but this model encodes width 24"),
     (torch.zeros(5, 24), "has 5 rows but pool toy has 9 concepts"),
     (torch.randn(9, 24), "does not match this model's encoding")],
)
def test_bad_seed_made_dictionary(tmp_path: Path, rows: torch.Tensor, message: str) -> None:
    path = cache_path(tmp_path, FakeClip())
    path.parent.mkdir(parents=True)
    torch.save(rows, path)
    with pytest.raises(SithError, match=message) as err:
        encode_pool(FakeClip(), make_pool(), data_dir=tmp_path, progress=False)
    assert "\n" not in str(err.value) and "force=True" in str(err.value)
    assert torch.equal(torch.load(path, weights_only=True), rows)  # refused, not overwritten
    enc = encode_pool(FakeClip(), make_pool(), data_dir=tmp_path, force=True, progress=False)
    assert torch.equal(torch.load(path, weights_only=True), enc.embeddings)
    if rows.shape[1] != 24:  # the reader refuses it too, in one line
        seed = tmp_path / "seed.pt"
        torch.save(rows, seed)
        with pytest.raises(SithError, match="width 512 but this model's text tower gives 24"):
            load_encoded(seed, make_pool(), expect_width=24)


def test_legacy_dict_file_is_reused(tmp_path: Path) -> None:
    clip = FakeClip()
    path = cache_path(tmp_path, clip)
    unit = F.normalize(direct(clip, CONCEPTS), dim=-1)
    meta = {"format": "sith-encoded-dictionary/1", "pool_name": "toy", "pool_hash": sha256_text(CONCEPTS),
            "n_concepts": 9, "model_name": "tiny-test", "pretrained": "",
            "model_fingerprint": clip.info.fingerprint, "template": None}
    save_pt({"embeddings": unit, "concepts": CONCEPTS, "meta": meta}, path)
    enc = encode_pool(clip, make_pool(), data_dir=tmp_path, progress=False)
    assert clip.texts_encoded == 2 and torch.equal(enc.embeddings, unit)


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
    assert not torch.allclose(enc.embeddings.norm(dim=-1), torch.ones(3))
    again = encode_pool(clip, "efros", data_dir=tmp_path, progress=False)
    assert torch.equal(enc.embeddings, again.embeddings)
