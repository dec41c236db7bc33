"""Hugging Face CLIPModel: extraction, verify, save_pretrained round trip, refusals."""

from __future__ import annotations

import json

import pytest
import torch

from sith.errors import SithError
from sith.load import (
    ModelInfo,
    extract_weights,
    load_clip,
    save_model,
    verify,
    with_head_outputs,
)
from tests.load.tiny import tiny_hf_model

transformers = pytest.importorskip("transformers")


@pytest.fixture
def hf_dir(tmp_path):
    model = tiny_hf_model()
    model.save_pretrained(tmp_path / "clip")
    return model, tmp_path / "clip"


def test_extract_matches_method_slicing() -> None:
    model = tiny_hf_model()
    w = extract_weights(model, ModelInfo("tiny-hf", "", ""))
    assert (w.n_layers, w.n_heads, w.d_model, w.d_head, w.d_embed) == (2, 4, 64, 16, 24)
    assert w.info.source == "hf"
    for layer, lw in zip(model.vision_model.encoder.layers, w.layers, strict=True):
        a = layer.self_attn
        for h in range(4):
            sl = slice(h * 16, (h + 1) * 16)
            torch.testing.assert_close(lw.W_V[h], a.v_proj.weight.detach()[sl].T)
            torch.testing.assert_close(lw.W_O[h], a.out_proj.weight.detach()[:, sl].T)
            torch.testing.assert_close(lw.b_V[h], a.v_proj.bias.detach()[sl])
        torch.testing.assert_close(lw.ln1_weight, layer.layer_norm1.weight.detach())
        assert lw.layer_scale is None
    torch.testing.assert_close(w.proj, model.visual_projection.weight.detach().T)
    torch.testing.assert_close(w.ln_post_bias, model.vision_model.post_layernorm.bias.detach())


def test_load_dir_verify_and_encoders(hf_dir) -> None:
    model, path = hf_dir
    clip = load_clip(str(path))
    assert clip.info.source == "hf" and clip.info.pretrained == ""
    assert clip.image_size == 32
    assert max(verify(clip, n_tokens=5)) < 1e-5
    assert clip.encode_text(["a red circle", "b"]).shape == (2, 24)
    pixels = torch.randn(2, 3, 32, 32)
    expected = model.get_image_features(pixel_values=pixels)
    expected = expected if isinstance(expected, torch.Tensor) else expected.pooler_output
    torch.testing.assert_close(clip.encode_images(pixels), expected.detach())


def test_edit_save_pretrained_round_trip(hf_dir, tmp_path) -> None:
    _, path = hf_dir
    clip = load_clip(str(path))
    new = clip.weights.layers[1].W_O.clone()
    new[0] *= -2.0
    edited = with_head_outputs(clip, {1: new})
    torch.testing.assert_close(edited.weights.layers[1].W_O, new)
    out = save_model(edited, tmp_path / "edited")
    again = load_clip(str(out))
    assert again.info.fingerprint == edited.info.fingerprint
    for a, b in zip(edited.weights.layers, again.weights.layers, strict=True):
        assert torch.equal(a.W_O, b.W_O) and torch.equal(a.W_V, b.W_V)
    sa, sb = clip.model.state_dict(), again.model.state_dict()
    changed = {k for k in sa if not torch.equal(sa[k], sb[k])}
    assert changed == {"vision_model.encoder.layers.1.self_attn.out_proj.weight"}
    assert again.image_mean == clip.image_mean and again.image_std == clip.image_std
    with pytest.raises(SithError, match="not an empty directory"):
        save_model(edited, out)


def _weights(folder) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_fp16_folder_stays_fp16_and_dtype_chooses(tmp_path) -> None:
    """fp16 in, fp16 out for a save_pretrained folder too; ``--dtype`` chooses another."""
    from sith.load.storage import stored_as

    model = tiny_hf_model().half()
    model.save_pretrained(tmp_path / "clip16")
    clip = load_clip(str(tmp_path / "clip16"))
    new = clip.weights.layers[1].W_O.clone()
    new[0] *= -2.0
    out = save_model(with_head_outputs(clip, {1: new}), tmp_path / "edited16")
    assert {t.dtype for t in _weights(out).values() if t.is_floating_point()} == {torch.float16}
    cfg = json.loads((out / "config.json").read_text())
    assert "float16" in {cfg.get("dtype"), cfg.get("torch_dtype")}
    again = load_clip(str(out))  # and a second save keeps it
    out2 = save_model(with_head_outputs(again, {1: new}), tmp_path / "edited16b")
    assert {t.dtype for t in _weights(out2).values() if t.is_floating_point()} == {torch.float16}
    out32 = stored_as("float32", lambda: save_model(with_head_outputs(clip, {1: new}), tmp_path / "e32"))
    assert {t.dtype for t in _weights(out32).values() if t.is_floating_point()} == {torch.float32}


def test_refusals(tmp_path) -> None:
    (tmp_path / "siglip").mkdir()
    (tmp_path / "siglip" / "config.json").write_text(json.dumps({"model_type": "siglip"}))
    with pytest.raises(SithError, match="model_type 'siglip'"):
        load_clip(str(tmp_path / "siglip"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SithError, match="no config.json"):
        load_clip(str(tmp_path / "empty"))
    model = tiny_hf_model()
    model.save_pretrained(tmp_path / "clip")
    with pytest.raises(SithError, match="leave pretrained unset"):
        load_clip(str(tmp_path / "clip"), "openai")
