"""The weights fingerprint: SHA-256 of every tensor of the vision tower (issue 8)."""

from __future__ import annotations

import re

import pytest
import torch

from sith.load import load_clip, save_model, wrap_open_clip
from sith.load.weights import weights_fingerprint
from tests.load.tiny import tiny_hf_model, tiny_open_clip

DH = 16  # head width of the tiny models


def _fp(model) -> str:
    return wrap_open_clip(model, model_name="tiny").info.fingerprint


def _swap_cols(w: torch.Tensor, a: int, b: int, width: int = DH) -> None:
    """Swap column blocks ``a`` and ``b`` (each ``width`` wide) of ``w`` in place."""
    ca, cb = w[:, a * width : (a + 1) * width].clone(), w[:, b * width : (b + 1) * width].clone()
    w[:, a * width : (a + 1) * width], w[:, b * width : (b + 1) * width] = cb, ca


def _swap_rows(w: torch.Tensor, a: int, b: int) -> None:
    ra, rb = w[a].clone(), w[b].clone()
    w[a], w[b] = rb, ra


def test_format_and_stable_for_equal_weights() -> None:
    fp = _fp(tiny_open_clip(seed=3, random_ls=True, ls_init_value=0.5))
    assert re.fullmatch(r"[0-9a-f]{16}", fp)
    assert _fp(tiny_open_clip(seed=3, random_ls=True, ls_init_value=0.5)) == fp
    assert _fp(tiny_open_clip(seed=4, random_ls=True, ls_init_value=0.5)) != fp


def test_stable_across_loads_of_a_checkpoint(tiny_name: str, tmp_path) -> None:
    clip = load_clip(tiny_name, "none")
    path = save_model(clip, tmp_path / "m.safetensors")
    first, second = load_clip(tiny_name, str(path)), load_clip(tiny_name, str(path))
    assert first.info.fingerprint == second.info.fingerprint == clip.info.fingerprint


def _swap_heads(model, layer: int, a: int, b: int) -> None:
    """Swap heads ``a`` and ``b`` completely (q, k, v rows and out_proj columns): the model
    computes the same function, but its weights differ."""
    attn = model.visual.transformer.resblocks[layer].attn
    d = attn.embed_dim
    w, bias = attn.in_proj_weight, attn.in_proj_bias
    for part in range(3):
        for t in (w, bias):
            block = t[part * d : (part + 1) * d]
            ra = block[a * DH : (a + 1) * DH].clone()
            block[a * DH : (a + 1) * DH] = block[b * DH : (b + 1) * DH]
            block[b * DH : (b + 1) * DH] = ra
    _swap_cols(attn.out_proj.weight, a, b)


EDITS = {
    "swap two heads": lambda m: _swap_heads(m, 1, 0, 2),
    "swap out_proj columns of two heads": lambda m: _swap_cols(
        m.visual.transformer.resblocks[0].attn.out_proj.weight, 1, 3
    ),
    "scale ln_post weight": lambda m: m.visual.ln_post.weight.mul_(1.5),
    "permute rows of proj": lambda m: _swap_rows(m.visual.proj, 0, 5),
    "scale LayerScale": lambda m: m.visual.transformer.resblocks[0].ls_1.gamma.mul_(2.0),
    "change the patch embedding": lambda m: m.visual.conv1.weight[0, 0, 0, 0].add_(1e-3),
}


@pytest.mark.parametrize("what", list(EDITS))
def test_changes_when_the_tower_changes(what: str) -> None:
    model = tiny_open_clip(seed=1, random_ls=True, ls_init_value=0.5)
    before = _fp(model)
    with torch.no_grad():
        EDITS[what](model)
    assert _fp(model) != before, what


def test_swapped_heads_keep_sums_but_not_the_fingerprint() -> None:
    """The old fingerprint (sums of W_V, W_O, γ1, P) could not see these changes."""
    model = tiny_open_clip(seed=1, random_ls=True, ls_init_value=0.5)
    clip = wrap_open_clip(model, model_name="tiny")
    W_O = clip.weights.layers[0].W_O.double().sum()
    with torch.no_grad():
        _swap_cols(model.visual.transformer.resblocks[0].attn.out_proj.weight, 1, 3)
    other = wrap_open_clip(model, model_name="tiny")
    assert torch.isclose(other.weights.layers[0].W_O.double().sum(), W_O, rtol=1e-6)
    assert other.info.fingerprint != clip.info.fingerprint


def test_names_dtypes_and_shapes_count() -> None:
    t = torch.arange(6, dtype=torch.float32)
    base = weights_fingerprint({"a": t})
    assert weights_fingerprint({"a": t.clone()}) == base
    assert weights_fingerprint({"b": t}) != base
    assert weights_fingerprint({"a": t.reshape(2, 3)}) != base
    assert weights_fingerprint({"a": t.view(torch.int32)}) != base  # same bytes, other dtype
    assert weights_fingerprint({"a": t, "b": t}) == weights_fingerprint({"b": t, "a": t})


def test_hf_fingerprint_covers_projection_and_post_layernorm() -> None:
    pytest.importorskip("transformers")
    from sith.load import extract_weights
    from sith.load.weights import ModelInfo

    def fp(m) -> str:
        return extract_weights(m, ModelInfo("tiny-hf", "", "hf")).info.fingerprint

    model = tiny_hf_model()
    base = fp(model)
    assert fp(tiny_hf_model()) == base
    with torch.no_grad():
        _swap_rows(model.visual_projection.weight.T, 0, 5)  # rows of P = columns of the Linear
    permuted = fp(model)
    assert permuted != base
    with torch.no_grad():
        model.vision_model.post_layernorm.weight.mul_(1.5)
    assert fp(model) != permuted
