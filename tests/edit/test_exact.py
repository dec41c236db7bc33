"""Exactness and locality of singular-component edits (docs/method.md §6) on pure weights."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from sith.edit import ComponentEdit, edit_log, edited_head_outputs, undo_head_outputs
from sith.errors import SithError
from sith.factor import head_vo
from sith.load.weights import VisionWeights
from tests.conftest import random_weights


def with_W_O(weights: VisionWeights, new: dict[int, torch.Tensor]) -> VisionWeights:
    layers = tuple(
        dataclasses.replace(lw, W_O=new[i]) if i in new else lw for i, lw in enumerate(weights.layers)
    )
    return dataclasses.replace(weights, layers=layers)


@pytest.mark.parametrize("fold_ln", [True, False])
def test_edit_scales_exactly_the_chosen_singular_values(fold_ln):
    w = random_weights(n_layers=2, d=32, n_heads=4, e=16, seed=1)
    edits = [ComponentEdit(1, 2, 0, 0.0), ComponentEdit(1, 2, 3, 2.5), ComponentEdit(0, 1, 5, 0.5)]
    new = with_W_O(w, edited_head_outputs(w, edits, fold_ln=fold_ln))
    for layer in (0, 1):
        U, S, Vh = (t.double() for t in head_vo(w, layer, fold_ln=fold_ln).svd)
        expect = head_vo(w, layer, fold_ln=fold_ln).dense.double()
        S_expect = S.clone()
        for e in edits:
            if e.layer == layer:
                expect[e.head] += (
                    (e.alpha - 1)
                    * S[e.head, e.index]
                    * torch.outer(U[e.head, :, e.index], Vh[e.head, e.index])
                )
                S_expect[e.head, e.index] *= e.alpha
        got = head_vo(new, layer, fold_ln=fold_ln).dense.double()
        # the whole (folded) VO matrix: chosen components scaled, everything else identical
        torch.testing.assert_close(got, expect, atol=2e-5, rtol=1e-5)
        # singular values: exactly the chosen ones scaled
        S_new = head_vo(new, layer, fold_ln=fold_ln).svd.S.double()
        torch.testing.assert_close(S_new, S_expect.sort(-1, descending=True).values, atol=2e-5, rtol=1e-5)
        # untouched singular vectors unchanged (up to sign)
        U2, _, Vh2 = (t.double() for t in head_vo(new, layer, fold_ln=fold_ln).svd)
        for h in range(w.n_heads):
            touched = {e.index for e in edits if e.layer == layer and e.head == h}
            if not touched:
                torch.testing.assert_close(U2[h], U[h], atol=1e-4, rtol=0)
                torch.testing.assert_close(Vh2[h], Vh[h], atol=1e-4, rtol=0)
    # heads and layers not named keep their W_O bit for bit; W_V never changes
    for layer, lw in enumerate(new.layers):
        for h in range(w.n_heads):
            if not any(e.layer == layer and e.head == h for e in edits):
                assert torch.equal(lw.W_O[h], w.layers[layer].W_O[h])
        assert torch.equal(lw.W_V, w.layers[layer].W_V)


def test_identity_edit_and_undo():
    w = random_weights(seed=2)
    same = edited_head_outputs(w, [ComponentEdit(0, 0, 0, 1.0)], fold_ln=True)
    torch.testing.assert_close(same[0], w.layers[0].W_O, atol=1e-6, rtol=0)
    edits = [ComponentEdit(0, 1, 0, 0.0), ComponentEdit(1, 3, 2, 3.0)]
    log = edit_log(w, edits, fold_ln=True)
    edited = with_W_O(w, edited_head_outputs(w, edits, fold_ln=True))
    restored = with_W_O(edited, undo_head_outputs(edited, log))
    for a, b in zip(restored.layers, w.layers):
        torch.testing.assert_close(a.W_O, b.W_O, atol=1e-5, rtol=1e-5)
    assert log["edits"][0]["singular_value"] > 0 and len(log["edits"]) == 2


def test_bad_edits_are_refused():
    w = random_weights(seed=3)
    with pytest.raises(SithError, match="alpha"):
        edited_head_outputs(w, [ComponentEdit(0, 0, 0, -1.0)], fold_ln=True)
    with pytest.raises(SithError, match="alpha"):
        edited_head_outputs(w, [ComponentEdit(0, 0, 0, float("nan"))], fold_ln=True)
    with pytest.raises(SithError, match="component index"):
        edited_head_outputs(w, [ComponentEdit(0, 0, w.d_head, 0.0)], fold_ln=True)
    with pytest.raises(SithError, match="head"):
        edited_head_outputs(w, [ComponentEdit(0, 99, 0, 0.0)], fold_ln=True)


def test_zero_gains_still_edit_exactly():
    """γpost is not folded (docs/method.md §2) and a zero γ1 entry only shrinks R's span, which
    still holds every u_i: the folded matrix changes by exactly the chosen component."""
    w = random_weights(seed=4)
    w.ln_post_weight[3] = 0.0
    w.layers[1].ln1_weight[0] = 0.0
    before = head_vo(w, 1, fold_ln=True)
    U, S, Vh = before.svd
    new = edited_head_outputs(w, [ComponentEdit(1, 2, 0, 0.0)], fold_ln=True)
    after = head_vo(with_W_O(w, new), 1, fold_ln=True).dense
    expect = before.dense.clone()
    expect[2] -= S[2, 0] * torch.outer(U[2, :, 0], Vh[2, 0])
    torch.testing.assert_close(after, expect, atol=1e-5, rtol=1e-5)
