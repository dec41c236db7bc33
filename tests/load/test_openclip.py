"""open_clip loading: extraction against the raw parameters, verify, refusals, checkpoints."""

from __future__ import annotations

import dataclasses

import open_clip
import pytest
import torch
from PIL import Image

from sith.errors import SithError
from sith.load import (
    ModelInfo,
    extract_weights,
    load_clip,
    save_model,
    verify,
    wrap_open_clip,
)
from tests.load.tiny import tiny_open_clip


class _NotAllowed:
    """A pickled object that ``torch.load(weights_only=True)`` must refuse."""


def _raw_slices(model, layer: int):
    attn = model.visual.transformer.resblocks[layer].attn
    d = attn.embed_dim
    return attn.in_proj_weight[2 * d :].detach(), attn.out_proj.weight.detach(), d


@pytest.mark.parametrize("random_ls", [False, True])
def test_extract_matches_method_slicing(random_ls: bool) -> None:
    model = tiny_open_clip(random_ls=random_ls, ls_init_value=0.5 if random_ls else None)
    w = extract_weights(model, ModelInfo("tiny", "", ""))
    assert (w.n_layers, w.n_heads, w.d_model, w.d_head, w.d_embed) == (2, 4, 64, 16, 32)
    assert w.info.source == "open_clip" and len(w.info.fingerprint) == 16
    for layer in range(2):
        Wv, Wo, d = _raw_slices(model, layer)
        block = model.visual.transformer.resblocks[layer]
        ls = block.ls_1.gamma.detach() if random_ls else torch.ones(d)
        lw = w.layers[layer]
        for h in range(
            4
        ):  # docs/method.md §1: W_V^h = Wv[h*dh:(h+1)*dh].T, W_O^h = Wo[:, h*dh:(h+1)*dh].T
            sl = slice(h * 16, (h + 1) * 16)
            torch.testing.assert_close(lw.W_V[h], Wv[sl].T)
            torch.testing.assert_close(lw.W_O[h], Wo[:, sl].T * ls)
        torch.testing.assert_close(lw.b_O, block.attn.out_proj.bias.detach() * ls)
        torch.testing.assert_close(lw.b_V.flatten(), block.attn.in_proj_bias[2 * d :].detach())
        torch.testing.assert_close(lw.ln1_weight, block.ln_1.weight.detach())
        assert (lw.layer_scale is not None) == random_ls
    torch.testing.assert_close(w.proj, model.visual.proj.detach())
    torch.testing.assert_close(w.ln_post_weight, model.visual.ln_post.weight.detach())


@pytest.mark.parametrize(
    "kwargs", [{}, {"random_ls": True, "ls_init_value": 0.5}, {"quick_gelu": True}]
)
def test_verify_reproduces_real_attention(kwargs: dict) -> None:
    clip = wrap_open_clip(tiny_open_clip(**kwargs), model_name="tiny")
    errors = verify(clip, n_tokens=7, seed=3)
    assert len(errors) == 2
    assert max(errors) < 1e-5
    for block in clip.model.visual.transformer.resblocks:  # hooks removed afterwards
        assert not block._forward_pre_hooks and not block.ls_1._forward_hooks
    assert verify(clip, n_tokens=7, seed=3) == errors  # deterministic


def test_verify_detects_a_wrong_view() -> None:
    clip = wrap_open_clip(tiny_open_clip(random_ls=True, ls_init_value=0.5), model_name="tiny")
    lw = clip.weights.layers[1]
    swapped = dataclasses.replace(lw, W_O=lw.W_O[[1, 0, 2, 3]])  # heads mixed up
    unfolded = dataclasses.replace(lw, W_O=lw.W_O / lw.layer_scale)  # LayerScale forgotten
    for bad in (swapped, unfolded):
        weights = dataclasses.replace(clip.weights, layers=(clip.weights.layers[0], bad))
        errors = verify(dataclasses.replace(clip, weights=weights))
        assert errors[0] < 1e-5 and errors[1] > 1e-2


def test_vit_b_32_random_weights() -> None:
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    clip = wrap_open_clip(model, model_name="ViT-B-32")
    w = clip.weights
    assert (w.n_layers, w.n_heads, w.d_model, w.d_head, w.d_embed) == (12, 12, 768, 64, 512)
    assert w.layers[0].W_V.shape == (12, 768, 64) and w.layers[0].W_O.shape == (12, 64, 768)
    assert max(verify(clip, n_tokens=4)) < 1e-4
    assert clip.image_size == 224


def test_encoders_and_preprocess() -> None:
    clip = wrap_open_clip(tiny_open_clip(), model_name="tiny")
    t = clip.encode_text(["a red circle", "a blue square", "x"])
    assert t.shape == (3, 32) and t.dtype == torch.float32 and not t.requires_grad
    assert not torch.allclose(t.norm(dim=-1), torch.ones(3))  # unnormalised
    expected = clip.model.encode_text(open_clip.tokenize(["x"], context_length=16))
    torch.testing.assert_close(t[2:], expected.detach())
    pixels = clip.preprocess(Image.new("RGB", (50, 40), (200, 10, 10)))
    assert pixels.shape == (3, 32, 32)
    assert clip.encode_images(pixels[None].repeat(2, 1, 1, 1)).shape == (2, 32)
    with pytest.raises(SithError, match=r"\(B, 3, 32, 32\)"):
        clip.encode_images(torch.zeros(2, 3, 16, 16))
    assert clip.encode_text([]).shape == (0, 32)


@pytest.mark.parametrize(
    ("vision", "reason"),
    [
        ({"qk_norm": True}, "qk-norm"),
        ({"scaled_cosine_attn": True}, "scaled-cosine"),
        ({"scale_attn_inner": True}, "inner LayerNorm"),
        (
            {"attentional_pool": True, "attn_pooler_queries": 4, "attn_pooler_heads": 2},
            "attentional pooler",
        ),
        ({"pool_type": "avg"}, "'avg'"),
        ({"layers": (1, 1, 1, 1), "width": 16, "head_width": 8}, "ResNet"),
    ],
)
def test_unsupported_architectures_refused(vision: dict, reason: str) -> None:
    model = tiny_open_clip(**vision)
    with pytest.raises(SithError, match=reason):
        extract_weights(model, ModelInfo("odd", "", ""))


def test_missing_proj_refused() -> None:
    model = tiny_open_clip()
    model.visual.proj = None
    with pytest.raises(SithError, match="proj"):
        extract_weights(model, ModelInfo("noproj", "", ""))


def test_named_refusals_before_any_download() -> None:
    with pytest.raises(SithError, match="ResNet"):
        load_clip("RN50", "openai")
    with pytest.raises(SithError, match="timm"):
        load_clip("ViT-B-16-SigLIP", "webli")


def test_rn50_random_weights_refused() -> None:
    model = open_clip.create_model("RN50", pretrained=None)
    with pytest.raises(SithError, match="ResNet"):
        extract_weights(model, ModelInfo("RN50", "", ""))


def test_unknown_model_and_tag() -> None:
    with pytest.raises(SithError, match="unknown model 'ViT-Q-99'.*ViT-B-32"):
        load_clip("ViT-Q-99", "")
    with pytest.raises(SithError, match="unknown pretrained tag 'nope'.*laion2b_s34b_b79k"):
        load_clip("ViT-B-32", "nope")
    with pytest.raises(SithError, match="no such|not found"):
        load_clip("ViT-B-32", "/nonexistent/ckpt.pt")


def test_named_random_and_checkpoint_round_trip(tiny_name: str, tmp_path) -> None:
    clip = load_clip(tiny_name, "none")
    assert clip.info.model_name == tiny_name and clip.info.pretrained == ""
    assert clip.weights.layers[0].layer_scale is not None
    assert max(verify(clip)) < 1e-5
    for suffix in (".pt", ".safetensors"):
        path = save_model(clip, tmp_path / f"ckpt{suffix}")
        again = load_clip(tiny_name, str(path))
        assert again.info.fingerprint == clip.info.fingerprint
        assert again.info.pretrained == str(path)
        for a, b in zip(clip.weights.layers, again.weights.layers, strict=True):
            assert torch.equal(a.W_V, b.W_V) and torch.equal(a.W_O, b.W_O)


def test_checkpoint_wrappers_accepted(tiny_name: str, tmp_path) -> None:
    clip = load_clip(tiny_name, "")
    sd = {f"module.{k}": v for k, v in clip.model.state_dict().items()}
    torch.save({"state_dict": sd, "epoch": 3}, tmp_path / "wrapped.pt")
    again = load_clip(tiny_name, str(tmp_path / "wrapped.pt"))
    assert again.info.fingerprint == clip.info.fingerprint


def test_corrupt_and_foreign_checkpoints(tiny_name: str, tmp_path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00\x01garbage")
    torch.save({"foo.weight": torch.zeros(3)}, tmp_path / "foreign.pt")
    torch.save({"obj": _NotAllowed()}, tmp_path / "pickle.pt")  # refused by weights_only
    for name, pattern in [
        ("junk.pt", "cannot read checkpoint"),
        ("junk.safetensors", "cannot read checkpoint"),
        ("foreign.pt", "does not match architecture"),
        ("pickle.pt", "cannot read checkpoint|state dict of tensors"),
    ]:
        with pytest.raises(SithError, match=pattern):
            load_clip(tiny_name, str(tmp_path / name))
    other = tiny_open_clip(width=32, head_width=8)  # same keys, other shapes
    torch.save(other.state_dict(), tmp_path / "shapes.pt")
    with pytest.raises(SithError, match="shape"):
        load_clip(tiny_name, str(tmp_path / "shapes.pt"))


def test_bad_device_and_empty_name() -> None:
    with pytest.raises(SithError, match="device"):
        load_clip("ViT-B-32", "", device="tpu:7")
    with pytest.raises(SithError, match="empty model name"):
        load_clip("  ", "")


def test_tokenizer_failure_is_one_line_and_before_building(monkeypatch) -> None:
    """A tokenizer that must come from the hub (e.g. ViT-L-14-worldwide's mt5) fails offline:
    one line, and before the (possibly billion-parameter) model is built."""

    def no_hub(name, *a, **k):
        raise OSError("We couldn't connect to 'https://huggingface.co'.\nCheck your internet connection")

    def no_build(*a, **k):
        raise AssertionError("the model was built before the tokenizer failed")

    monkeypatch.setattr(open_clip, "get_tokenizer", no_hub)
    monkeypatch.setattr(open_clip, "create_model_and_transforms", no_build)
    with pytest.raises(SithError) as exc:
        load_clip("ViT-B-32", "none")
    assert "\n" not in str(exc.value)
    assert str(exc.value).startswith("could not create the tokenizer of ViT-B-32 (We couldn't connect")
