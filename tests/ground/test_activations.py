"""A component's activation is exactly its share of the head output (docs/method.md §2, §6)."""

from __future__ import annotations

import pytest
import torch

from sith.factor import head_vo
from sith.ground.activations import component_activations, token_terms
from sith.ground.capture import capturing
from sith.load.clip import backend
from sith.load.openclip import wrap_open_clip
from tests.load.tiny import tiny_hf_model, tiny_open_clip


def _no_bias_paths(model, source: str) -> None:
    """Zero β1 and the value bias (their path is a per-head constant, not a component's
    activation) and set γpost = 1 (not part of W under docs/method.md §2)."""
    with torch.no_grad():
        if source == "open_clip":
            d = model.visual.transformer.width
            for block in model.visual.transformer.resblocks:
                block.ln_1.bias.zero_()
                block.attn.in_proj_bias[2 * d :].zero_()
            model.visual.ln_post.weight.fill_(1.0)
        else:
            for layer in model.vision_model.encoder.layers:
                layer.layer_norm1.bias.zero_()
                layer.self_attn.v_proj.bias.zero_()
            model.vision_model.post_layernorm.weight.fill_(1.0)


def _out_proj(model, source: str, layer: int) -> torch.nn.Parameter:
    return backend(source).head_output_param(model, layer)[0]


def _class_output(clip, layer: int, pixels: torch.Tensor) -> torch.Tensor:
    """The attention block's class-token output ``(B, d)``, centred over channels."""
    site = backend(clip.info.source).attention_sites(clip.model)[layer]
    got = {}

    def hook(module, args, output):
        out = output[0] if isinstance(output, tuple) else output
        got["out"] = out if site.batch_first else out.transpose(0, 1)

    h = site.output.register_forward_hook(hook)
    try:
        with torch.no_grad():
            clip.encode_images(pixels)
    finally:
        h.remove()
    cls = got["out"][:, 0, :].double()
    return cls - cls.mean(-1, keepdim=True)


def _check(clip, layer: int, head: int, index: int) -> None:
    w = clip.weights
    svd = head_vo(w, layer, fold_ln=True).svd
    rank = w.d_head
    gen = torch.Generator().manual_seed(1)
    pixels = torch.randn(3, 3, clip.image_size, clip.image_size, generator=gen)
    with capturing(clip, [layer]) as store:
        with torch.no_grad():
            clip.encode_images(pixels)
    cap = store[layer]
    act = component_activations(cap, svd, rank)
    terms = token_terms(cap, svd, rank)
    assert act.shape == (3, w.n_heads, rank)
    torch.testing.assert_close(terms.sum(-1), act, atol=1e-5, rtol=1e-5)

    before = _class_output(clip, layer, pixels)
    # docs/method.md §6 with α = 0: W_O ← W_O − s_i·pinv(C·diag(γ1)·W_V)·u_i·v_iᵀ
    lw = w.layers[layer]
    R = lw.ln1_weight.double()[:, None] * lw.W_V[head].double()
    R = R - R.mean(0, keepdim=True)
    u, v, s = svd.U[head, :, index].double(), svd.Vh[head, index].double(), svd.S[head, index].double()
    dWo = -s * torch.linalg.pinv(R) @ u[:, None] @ v[None, :]  # (dh, d)
    dh = w.d_head
    param = _out_proj(clip.model, clip.info.source, layer)
    with torch.no_grad():
        param[:, head * dh : (head + 1) * dh] += dWo.T.float()
    after = _class_output(clip, layer, pixels)
    diff = before - after  # the component's contribution, (B, d)
    along = diff @ v
    torch.testing.assert_close(along, act[:, head, index].double(), atol=1e-5, rtol=0)
    # and nothing else moved: the difference lies along v_i
    torch.testing.assert_close(diff, along[:, None] * v[None, :], atol=1e-5, rtol=0)
    assert along.abs().max() > 1e-3  # the test is not vacuous


@pytest.mark.parametrize("layer,head,index", [(0, 1, 0), (1, 3, 5)])
def test_activation_is_the_component_share_open_clip(layer, head, index):
    model = tiny_open_clip(seed=3)
    _no_bias_paths(model, "open_clip")
    clip = wrap_open_clip(model, model_name="tiny")
    _check(clip, layer, head, index)


def test_activation_is_the_component_share_hf():
    from sith.load.hf import extract

    model = tiny_hf_model(seed=4)
    _no_bias_paths(model, "hf")
    clip = _wrap_hf(model, extract)
    _check(clip, 1, 2, 3)


def _wrap_hf(model, extract):
    from sith.load.clip import LoadedClip
    from sith.load.weights import ModelInfo

    weights = extract(model, ModelInfo("tiny-hf", "", "hf"))
    size = model.config.vision_config.image_size
    return LoadedClip(model, weights, weights.info, size, (0.5,) * 3, (0.5,) * 3, torch.device("cpu"))
