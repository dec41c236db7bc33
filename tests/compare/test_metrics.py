"""compare(): identical models do not move; a planted rank-one change is found where it is."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from sith.compare import compare_weights
from sith.errors import SithError
from sith.factor import head_vo
from tests.conftest import random_weights


def _base():
    w = random_weights(n_layers=3, d=32, n_heads=4, e=16, seed=5)
    # γpost is not part of W (docs/method.md §2); 1 keeps the test valid for the older factor too
    return dataclasses.replace(w, ln_post_weight=torch.ones(32))


def _with_W_O(w, layer, head, delta):
    lw = w.layers[layer]
    W_O = lw.W_O.clone()
    W_O[head] += delta
    layers = list(w.layers)
    layers[layer] = dataclasses.replace(lw, W_O=W_O)
    return dataclasses.replace(w, layers=tuple(layers))


def test_identical_models_do_not_move():
    w = _base()
    res = compare_weights(w, w, delta_top=2)
    assert list(res) == [0, 1, 2]
    for m in res.values():
        assert m["sv_change"].abs().max() == 0
        assert m["read_angles"].max() < 1e-3 and m["write_angles"].max() < 1e-3  # degrees
        assert (m["delta_energy"] == 0).all() and (m["delta_rel_energy"] == 0).all()
        assert (m["inside_both"] == 0).all() and (m["new_directions"] == 0).all()
        assert torch.allclose(m["match_cos_v"], torch.ones_like(m["match_cos_v"]), atol=1e-5)
        assert (m["match_index"] == torch.arange(8)).all()


def test_planted_rank_one_change_is_found():
    w = _base()
    g = torch.Generator().manual_seed(7)
    a, b = torch.randn(8, generator=g), torch.randn(32, generator=g)
    tuned = _with_W_O(w, 1, 2, 0.5 * a[:, None] * b[None, :])
    res = compare_weights(w, tuned, delta_top=3)
    for layer in (0, 2):
        assert (res[layer]["delta_energy"] == 0).all()
    m = res[1]
    assert (m["delta_energy"][[0, 1, 3]] == 0).all()
    assert m["delta_energy"][2] > 1e-3
    S = m["delta_S"][2]
    assert S[1] < 1e-6 * S[0]  # rank one
    # the change's write direction is C·b (γpost = 1), its read direction is what W_V maps a to
    v = b - b.mean()
    v = v / v.norm()
    assert abs(float(m["delta_Vh"][2, 0] @ v.double())) == pytest.approx(1.0, abs=1e-6)
    # exact against the dense difference of the two folded matrices
    dense = (head_vo(tuned, 1, fold_ln=True).dense - head_vo(w, 1, fold_ln=True).dense)[2].double()
    Ud, Sd, Vhd = torch.linalg.svd(dense)
    assert float(S[0]) == pytest.approx(float(Sd[0]), rel=1e-5)
    assert abs(float(m["delta_U"][2, :, 0] @ Ud[:, 0])) == pytest.approx(1.0, abs=1e-5)
    # other heads of the layer: no singular-value change
    assert m["sv_change"][[0, 1, 3]].abs().max() < 1e-6
    assert m["sv_change"][2] > 1e-3


def test_reweighting_stays_inside_new_direction_goes_outside():
    w = _base()
    lw = w.layers[0]
    svd = head_vo(w, 0, fold_ln=True).svd
    # reweight: scale the top singular value by 1.5 (docs/method.md §6 edit on W_O)
    R = lw.ln1_weight[:, None] * lw.W_V[1]
    R = R - R.mean(0, keepdim=True)
    s, u, v = svd.S[1, 0], svd.U[1, :, 0], svd.Vh[1, 0]
    reweighted = _with_W_O(w, 0, 1, 0.5 * s * torch.linalg.pinv(R) @ u[:, None] * v[None, :])
    m = compare_weights(w, reweighted)[0]
    assert float(m["inside_both"][1]) == pytest.approx(1.0, abs=1e-4)
    assert float(m["new_directions"][1]) == pytest.approx(0.0, abs=1e-4)
    # new direction: write along a centred vector orthogonal to the head's write space
    g = torch.Generator().manual_seed(3)
    b = torch.randn(32, generator=g)
    Vb = svd.Vh[1].T  # (d, dh)
    b = b - b.mean()
    b = b - Vb @ (Vb.T @ b)
    new = _with_W_O(w, 0, 1, torch.randn(8, generator=g)[:, None] * b[None, :])
    m = compare_weights(w, new)[0]
    assert float(m["inside_right"][1]) == pytest.approx(0.0, abs=1e-4)
    assert float(m["new_directions"][1]) == pytest.approx(1.0, abs=1e-4)
    assert float(m["write_angle_max"][1]) > 10.0


def test_different_architectures_are_refused():
    a = random_weights(n_layers=2, d=32, n_heads=4)
    b = random_weights(n_layers=2, d=32, n_heads=2)
    with pytest.raises(SithError, match="different architectures \\(heads 4 vs 2\\)"):
        compare_weights(a, b)
    with pytest.raises(SithError, match="delta-top"):
        compare_weights(a, a, delta_top=0)


def test_delta_svd_is_exact_and_follows_the_sign_rule():
    from sith.compare import delta_svd

    w = _base()
    g = torch.Generator().manual_seed(11)
    tuned = _with_W_O(w, 0, 0, 0.3 * torch.randn(8, 32, generator=g))
    sb, st = head_vo(w, 0, fold_ln=True).svd, head_vo(tuned, 0, fold_ln=True).svd
    d = delta_svd(sb, st)
    dense = (head_vo(tuned, 0, fold_ln=True).dense - head_vo(w, 0, fold_ln=True).dense).double()
    torch.testing.assert_close(d.U @ torch.diag_embed(d.S) @ d.Vh, dense, atol=1e-5, rtol=0)
    top = d.U[0, :, 0]
    assert top[top.abs().argmax()] > 0
