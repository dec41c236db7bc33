from __future__ import annotations

import pytest
import torch

from sith.errors import SithError
from sith.factor import (
    FactoredMatrix,
    head_vo,
    joint_targets,
    singular_targets,
    tied_mask,
)
from tests.conftest import random_weights


def test_factored_svd_equals_dense_svd(weights):
    fm = head_vo(weights, 0, fold_ln=False)
    dense = fm.dense.double()
    U, S, Vh = fm.svd
    # reconstruction and orthonormality
    torch.testing.assert_close(
        (U.double() * S.double()[:, None, :]) @ Vh.double(), dense, atol=1e-5, rtol=1e-5
    )
    eye = torch.eye(S.shape[-1], dtype=torch.float64).expand(S.shape[0], -1, -1)
    torch.testing.assert_close(U.double().transpose(-1, -2) @ U.double(), eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(Vh.double() @ Vh.double().transpose(-1, -2), eye, atol=1e-5, rtol=0)
    # singular values equal the dense SVD's top-dh values
    S_dense = torch.linalg.svdvals(dense)[:, : S.shape[-1]]
    torch.testing.assert_close(S.double(), S_dense, atol=1e-5, rtol=1e-5)
    # singular subspaces match the dense SVD (compare projectors per untied vector)
    _, _, Vh_dense = torch.linalg.svd(dense)
    for h in range(S.shape[0]):
        for i in range(S.shape[1]):
            c = (Vh[h, i].double() @ Vh_dense[h, i]).abs()
            assert c > 1 - 1e-4


def test_matmul_stays_factored(weights):
    fm = head_vo(weights, 1, fold_ln=True)
    x = torch.randn(5, weights.d_model)
    torch.testing.assert_close(x @ fm, x @ fm.dense, atol=1e-5, rtol=1e-5)
    y = torch.randn(weights.d_model, 3)
    torch.testing.assert_close(fm @ y, fm.dense @ y, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError):
        FactoredMatrix(torch.zeros(2, 3), torch.zeros(4, 2))


def test_fold_ln_matrix_follows_method(weights):
    """docs/method.md §2: foldln = C·diag(γ1)·W_V·W_O·C (both sides centred, γpost not folded)."""
    lw = weights.layers[0]
    d = weights.d_model
    C = torch.eye(d) - torch.ones(d, d) / d
    for h in range(weights.n_heads):
        W = lw.W_V[h] @ lw.W_O[h]
        folded = C @ torch.diag(lw.ln1_weight) @ W @ C
        torch.testing.assert_close(head_vo(weights, 0, fold_ln=True).dense[h], folded, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(head_vo(weights, 0, fold_ln=False).dense[h], W, atol=1e-6, rtol=1e-5)
    ones = torch.ones(d)
    dense = head_vo(weights, 0, fold_ln=True).dense
    assert (ones @ dense).abs().max() < 1e-5 and (dense @ ones).abs().max() < 1e-5


def test_sign_rule_is_on_u(weights):
    """docs/method.md §2: the largest-|·| entry of each U column is positive."""
    U, S, Vh = head_vo(weights, 0, fold_ln=True).svd
    idx = U.abs().argmax(-2, keepdim=True)
    assert (torch.gather(U, -2, idx) > 0).all()
    dense = head_vo(weights, 0, fold_ln=True).dense
    torch.testing.assert_close((U * S[:, None, :]) @ Vh, dense, atol=1e-5, rtol=1e-5)


def reference_target(weights, x: torch.Tensor, m: torch.Tensor | None) -> torch.Tensor:
    """docs/method.md §3 written out: full ln_post (with βpost and eps), P, normalise, − m, normalise."""
    x = x.double()
    mu = x.mean()
    var = ((x - mu) ** 2).mean()
    y = (x - mu) / torch.sqrt(var + weights.ln_post_eps) * weights.ln_post_weight.double()
    y = y + weights.ln_post_bias.double()
    t = y @ weights.proj.double()
    t = t / t.norm()
    if m is not None:
        t = t - m.double()
        t = t / t.norm()
    return t.float()


@pytest.mark.parametrize("sv_type", ["left", "right"])
@pytest.mark.parametrize("fold_ln", [True, False])
@pytest.mark.parametrize("with_mean", [True, False])
def test_singular_targets(weights, sv_type, fold_ln, with_mean):
    m = 0.4 * torch.nn.functional.normalize(torch.randn(weights.d_embed), dim=0) if with_mean else None
    t = singular_targets(weights, -1, fold_ln=fold_ln, sv_type=sv_type, rank=5, image_mean=m)
    H, e = weights.n_heads, weights.d_embed
    assert t.vectors.shape == (H, 5, e)
    assert t.singular_values.shape == (H, 5) and t.tied.shape == (H, 5)
    torch.testing.assert_close(t.vectors.norm(dim=-1), torch.ones(H, 5))
    assert (t.singular_values[:, :-1] >= t.singular_values[:, 1:]).all()
    svd = head_vo(weights, 1, fold_ln=fold_ln).svd
    d = svd.Vh[:, :5] if sv_type == "right" else svd.U[:, :, :5].transpose(-1, -2)
    for h in range(H):
        for i in range(5):
            torch.testing.assert_close(
                t.vectors[h, i], reference_target(weights, d[h, i], m), atol=1e-5, rtol=1e-5
            )


def test_eps_and_beta_matter(weights):
    """βpost and eps enter the target: changing either changes it (so both are really used)."""
    import dataclasses

    x = head_vo(weights, 0, fold_ln=True).svd.Vh[:1, :1]
    base = joint_targets(weights, x, None)
    no_beta = dataclasses.replace(weights, ln_post_bias=torch.zeros_like(weights.ln_post_bias))
    big_eps = dataclasses.replace(weights, ln_post_eps=1.0)
    assert (joint_targets(no_beta, x, None) - base).abs().max() > 1e-3
    assert (joint_targets(big_eps, x, None) - base).abs().max() > 1e-3
    with pytest.raises(SithError, match="image mean has width"):
        joint_targets(weights, x, torch.zeros(weights.d_embed + 1))


def test_rank_and_layer_validation(weights):
    with pytest.raises(SithError, match="pass rank between"):
        singular_targets(weights, 0, rank=weights.d_head + 1)
    with pytest.raises(SithError, match="pass layers within"):
        singular_targets(weights, 7)
    with pytest.raises(SithError, match="unknown sv_type"):
        singular_targets(weights, 0, sv_type="middle", rank=4)
    # rank == head width is allowed
    assert singular_targets(weights, 0, rank=weights.d_head).vectors.shape[1] == weights.d_head


def test_tied_mask():
    S = torch.tensor([[5.0, 4.999, 3.0, 1.0]])
    assert tied_mask(S).tolist() == [[True, True, False, False]]


def test_rank_deficient_head_is_exact():
    w = random_weights(d=24, n_heads=3, seed=3)
    lw = w.layers[0]
    lw.W_O[0, 0] = 0.0  # head 0 now has rank dh-1: last singular value ~ 0
    fm = head_vo(w, 0, fold_ln=False)
    U, S, Vh = fm.svd
    assert S[0, -1] < 1e-5
    torch.testing.assert_close((U * S[:, None, :]) @ Vh, fm.dense, atol=1e-5, rtol=1e-5)


def test_layer_svd_is_computed_once_per_layer_and_fold_per_view(weights, monkeypatch):
    """The SVD is cached on the weight view (not passed around): decompose, search and the
    targets of one view share it; another view (an edited model) computes its own."""
    import dataclasses

    from sith import factor
    from sith.decompose import decompose_layer, rank_heads

    calls = []
    real = factor.head_vo
    monkeypatch.setattr(factor, "head_vo", lambda w, lay, **k: calls.append((lay, k)) or real(w, lay, **k))
    expect = real(weights, 1, fold_ln=True).svd
    got = factor.layer_svd(weights, 1, fold_ln=True)
    assert all(torch.equal(a, b) for a, b in zip(got, expect))  # same numbers
    assert factor.layer_svd(weights, -1, fold_ln=True) is got  # -1 is layer 1 of 2
    atoms = torch.nn.functional.normalize(torch.randn(12, weights.d_embed), dim=-1)
    decompose_layer(weights, atoms, [f"c{i}" for i in range(12)], 1, rank=3, sparsity=2)
    rank_heads(weights, atoms[0], layers=[1], top=2)
    singular_targets(weights, 1, rank=2)
    assert calls == [(1, {"fold_ln": True})]
    factor.layer_svd(weights, 1, fold_ln=False)
    assert calls[-1] == (1, {"fold_ln": False}) and len(calls) == 2
    other = dataclasses.replace(weights)  # a new view: its own cache, the view's value unchanged
    factor.layer_svd(other, 1, fold_ln=True)
    assert len(calls) == 3 and len(other.derived) == 1 and len(weights.derived) == 2
    assert other == weights and hash(other) == hash(weights) and "derived" not in repr(weights)
