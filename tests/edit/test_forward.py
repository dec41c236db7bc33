"""In a real forward pass an edit changes a head's output only along the edited component
(hooks on a random-weight open_clip model with LayerScale and on a tiny HF CLIPModel)."""

from __future__ import annotations

import pytest
import torch

from sith.edit import ComponentEdit, edited_head_outputs, rank_one_updates
from sith.load import load_clip, with_head_outputs
from sith.load.clip import backend
from sith.load.openclip import wrap_open_clip
from tests.load.tiny import tiny_hf_model, tiny_open_clip


def attention_outputs(clip, pixels: torch.Tensor) -> list[torch.Tensor]:
    """Each block's attention contribution to the residual stream (LayerScale applied)."""
    sites = backend(clip.info.source).attention_sites(clip.model)
    store: list[torch.Tensor] = [None] * len(sites)  # type: ignore[list-item]
    handles = []
    for i, site in enumerate(sites):

        def hook(_m, _inp, out, i=i, site=site):
            t = out[0] if isinstance(out, tuple) else out
            store[i] = (t if site.batch_first else t.transpose(0, 1)).detach().double()

        handles.append(site.output.register_forward_hook(hook))
    try:
        clip.encode_images(pixels)
    finally:
        for h in handles:
            h.remove()
    return store


def check_edit_is_local(clip, edit: ComponentEdit, fold_ln: bool) -> None:
    pixels = torch.randn(
        2, 3, clip.image_size, clip.image_size, generator=torch.Generator().manual_seed(0)
    )
    before = attention_outputs(clip, pixels)
    edited = with_head_outputs(clip, edited_head_outputs(clip.weights, [edit], fold_ln=fold_ln))
    after = attention_outputs(edited, pixels)
    # blocks before the edited one are untouched
    for layer in range(edit.layer):
        assert torch.equal(before[layer], after[layer])
    diff = (after[edit.layer] - before[edit.layer]).reshape(-1, clip.weights.d_model)
    assert diff.norm() > 1e-3 * before[edit.layer].norm()
    # the change is rank one, along y (the edited write direction, docs/method.md §6)
    ((_, _, _, y),) = rank_one_updates(clip.weights, [edit], fold_ln=fold_ln)
    y = y / y.norm()
    along = diff @ y
    residual = diff - along[:, None] * y[None, :]
    assert residual.norm() < 1e-5 * diff.norm() + 1e-9
    # and that change is exactly the head's mixed values through the rank-one update
    sv = torch.linalg.svdvals(diff)
    assert sv[1] < 1e-5 * sv[0]


@pytest.mark.parametrize("fold_ln", [True, False])
def test_open_clip_forward_changes_only_the_component(fold_ln):
    model = tiny_open_clip(seed=1, ls_init_value=0.7, random_ls=True)
    clip = wrap_open_clip(model, model_name="tiny")
    check_edit_is_local(clip, ComponentEdit(1, 2, 0, 0.0), fold_ln)
    check_edit_is_local(clip, ComponentEdit(0, 3, 4, 2.0), fold_ln)


@pytest.mark.parametrize("fold_ln", [True, False])
def test_hf_forward_changes_only_the_component(tmp_path, fold_ln):
    tiny_hf_model(seed=2).save_pretrained(tmp_path / "clip")
    clip = load_clip(str(tmp_path / "clip"))
    check_edit_is_local(clip, ComponentEdit(1, 1, 0, 0.0), fold_ln)
    check_edit_is_local(clip, ComponentEdit(0, 0, 2, 3.0), fold_ln)


def test_no_other_parameter_changes():
    clip = wrap_open_clip(tiny_open_clip(seed=3), model_name="tiny")
    edited = with_head_outputs(
        clip, edited_head_outputs(clip.weights, [ComponentEdit(1, 0, 0, 0.0)], fold_ln=True)
    )
    a, b = clip.model.state_dict(), edited.model.state_dict()
    changed = [k for k in a if not torch.equal(a[k], b[k])]
    assert changed == ["visual.transformer.resblocks.1.attn.out_proj.weight"]
