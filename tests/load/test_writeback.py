"""Write edited per-head W_O back into the model, save it, load it again (docs/method.md §6)."""

from __future__ import annotations

import pytest
import torch

from sith.errors import SithError
from sith.load import load_clip, save_model, verify, with_head_outputs, wrap_open_clip
from tests.load.tiny import tiny_open_clip


def _edited(W_O: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A rank-1 change of one head, like a singular-value edit."""
    g = torch.Generator().manual_seed(seed)
    H, dh, d = W_O.shape
    new = W_O.clone()
    new[2] += torch.randn(dh, 1, generator=g) @ torch.randn(1, d, generator=g) * 0.3
    return new


def _changed_params(a: torch.nn.Module, b: torch.nn.Module) -> set[str]:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return {k for k in sa if not torch.equal(sa[k], sb[k])}


def test_with_head_outputs_changes_only_listed_out_proj() -> None:
    clip = wrap_open_clip(tiny_open_clip(random_ls=True, ls_init_value=0.5), model_name="tiny")
    before = {k: v.clone() for k, v in clip.model.state_dict().items()}
    new = _edited(clip.weights.layers[1].W_O)
    edited = with_head_outputs(clip, {1: new})
    assert _changed_params(clip.model, edited.model) == {
        "visual.transformer.resblocks.1.attn.out_proj.weight"
    }
    assert all(
        torch.equal(before[k], v) for k, v in clip.model.state_dict().items()
    )  # original intact
    torch.testing.assert_close(edited.weights.layers[1].W_O, new, rtol=1e-6, atol=1e-7)
    assert torch.equal(edited.weights.layers[0].W_O, clip.weights.layers[0].W_O)
    assert edited.info.fingerprint != clip.info.fingerprint
    assert edited.weights.info == edited.info and edited.info.model_name == "tiny"
    # the raw parameter carries W_O / LayerScale (un-folded) and the model still matches its view
    ls = clip.model.visual.transformer.resblocks[1].ls_1.gamma.detach()
    raw = edited.model.visual.transformer.resblocks[1].attn.out_proj.weight.detach()
    torch.testing.assert_close(raw.T.reshape(4, 16, 64) * ls, new, rtol=1e-5, atol=1e-6)
    assert max(verify(edited)) < 1e-5


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_edit_save_load_round_trip(tiny_name: str, tmp_path, suffix: str) -> None:
    clip = load_clip(tiny_name, "")
    edited = with_head_outputs(clip, {0: _edited(clip.weights.layers[0].W_O, 1)})
    path = save_model(edited, tmp_path / f"edited{suffix}")
    again = load_clip(tiny_name, str(path))
    assert again.info.fingerprint == edited.info.fingerprint
    for a, b in zip(edited.weights.layers, again.weights.layers, strict=True):
        for name in ("W_V", "W_O", "b_V", "b_O", "ln1_weight", "ln1_bias", "layer_scale"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert torch.equal(edited.weights.proj, again.weights.proj)
    assert _changed_params(edited.model, again.model) == set()
    texts = ["a red circle", "water"]
    torch.testing.assert_close(again.encode_text(texts), edited.encode_text(texts))


def test_zero_layer_scale_entry() -> None:
    model = tiny_open_clip(random_ls=True, ls_init_value=0.5)
    with torch.no_grad():
        model.visual.transformer.resblocks[0].ls_1.gamma[5] = 0.0
    clip = wrap_open_clip(model, model_name="tiny")
    W = clip.weights.layers[0].W_O
    assert torch.all(W[..., 5] == 0)
    same_support = _edited(W)
    same_support[..., 5] = 0.0  # an edit in the row space keeps the dead channel dead: fine
    with_head_outputs(clip, {0: same_support})
    with pytest.raises(SithError, match=r"resblocks\.0\.ls_1\.gamma.*\[5\]"):
        with_head_outputs(clip, {0: _edited(W)})


def test_bad_edits_refused(tmp_path) -> None:
    clip = wrap_open_clip(tiny_open_clip(), model_name="tiny")
    W = clip.weights.layers[0].W_O
    with pytest.raises(SithError, match="out of range"):
        with_head_outputs(clip, {2: W})
    with pytest.raises(SithError, match="shape"):
        with_head_outputs(clip, {0: W[:2]})
    with pytest.raises(SithError, match="NaN"):
        with_head_outputs(clip, {0: W * float("nan")})
    with pytest.raises(SithError, match=r"\.safetensors or \.pt"):
        save_model(clip, tmp_path / "model.ckpt")


def test_layer_scale_unedited_heads_stay_bit_identical() -> None:
    """With LayerScale, only the edited head's columns of out_proj are rewritten; the
    other heads' stored values (and their folded view) are unchanged bit for bit."""
    clip = wrap_open_clip(tiny_open_clip(random_ls=True, ls_init_value=0.5), model_name="tiny")
    layer, dh = 1, clip.weights.d_head
    raw_before = clip.model.visual.transformer.resblocks[layer].attn.out_proj.weight.detach().clone()
    new = _edited(clip.weights.layers[layer].W_O)  # changes head 2 only
    edited = with_head_outputs(clip, {layer: new})
    raw_after = edited.model.visual.transformer.resblocks[layer].attn.out_proj.weight.detach()
    for h in range(clip.weights.n_heads):
        cols = slice(h * dh, (h + 1) * dh)
        same = torch.equal(raw_after[:, cols], raw_before[:, cols])
        assert same == (h != 2), h
        if h != 2:
            assert torch.equal(edited.weights.layers[layer].W_O[h], clip.weights.layers[layer].W_O[h])
    # the un-fold through LayerScale rounds: rewriting every head would have moved some values
    ls = clip.model.visual.transformer.resblocks[layer].ls_1.gamma.detach().double()
    round_trip = (clip.weights.layers[layer].W_O.double() / ls).float().reshape(-1, 64).T
    assert not torch.equal(round_trip[:, :dh], raw_before[:, :dh])


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_same_edit_twice_gives_identical_bytes(tmp_path, suffix: str) -> None:
    clip = wrap_open_clip(tiny_open_clip(random_ls=True, ls_init_value=0.5), model_name="tiny")
    new = _edited(clip.weights.layers[0].W_O, 3)
    blobs = []
    for i in range(3):  # three saves: a map-ordering difference would show with p >= 1 - 1/24²
        path = save_model(with_head_outputs(clip, {0: new}), tmp_path / f"e{i}{suffix}")
        blobs.append(path.read_bytes())
    assert blobs[0] == blobs[1] == blobs[2]


def test_apply_plan_twice_gives_identical_checkpoints(tmp_path) -> None:
    """``sith edit`` / ``--apply-log`` path: the same edit twice -> the same checkpoint bytes."""
    from sith.edit import ComponentEdit, apply_plan
    from sith.edit.run import EditPlan

    clip = wrap_open_clip(tiny_open_clip(random_ls=True, ls_init_value=0.5), model_name="tiny")
    plan = EditPlan([ComponentEdit(1, 2, 0, 0.0), ComponentEdit(1, 3, 1, 2.0)], False)
    out = []
    for i in range(3):
        ckpt, _ = apply_plan(clip, plan, tmp_path / f"run{i}" / "edited.safetensors")
        out.append(ckpt.read_bytes())
    assert out[0] == out[1] == out[2]


def test_unchanged_layer_is_a_no_op() -> None:
    clip = wrap_open_clip(tiny_open_clip(random_ls=True, ls_init_value=0.5), model_name="tiny")
    same = with_head_outputs(clip, {0: clip.weights.layers[0].W_O.double()})
    assert same.info.fingerprint == clip.info.fingerprint
