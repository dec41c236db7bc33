"""Sparse solvers (docs/method.md §4) on planted codes and against reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import nnls as scipy_nnls
from sklearn.linear_model import Lasso, orthogonal_mp

from sith.decompose.solvers import (
    METHODS,
    SparseCode,
    comp,
    lasso,
    ncomp,
    omp,
    parse_method,
    solve,
    somp,
    topk,
)
from sith.errors import SithError

from . import seed_reference as seed_ref

ALL_SPECS = (
    "topk",
    "mp",
    "omp",
    "comp-0",
    "comp-0.3",
    "comp-1",
    "ncomp-0",
    "ncomp-0.3",
    "somp",
    "lasso-0.02",
)


def unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=1)


def random_atoms(n: int, e: int, seed: int) -> torch.Tensor:
    return unit(torch.randn(n, e, generator=torch.Generator().manual_seed(seed)))


def planted(
    atoms: torch.Tensor, b: int, k: int, seed: int, *, signed: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets that are exact ``k``-sparse combinations; returns (targets, dense codes)."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.zeros(b, atoms.shape[0])
    for i in range(b):
        support = torch.randperm(atoms.shape[0], generator=g)[:k]
        mag = 0.5 + torch.rand(k, generator=g)
        sign = torch.where(torch.rand(k, generator=g) < 0.5, -1.0, 1.0) if signed else 1.0
        codes[i, support] = mag * sign
    y = codes @ atoms
    norms = y.norm(dim=1, keepdim=True)
    return y / norms, codes / norms


def dense(code: SparseCode, n: int) -> np.ndarray:
    out = np.zeros((code.weights.shape[0], n))
    for r in range(out.shape[0]):
        for w, i in zip(code.weights[r].tolist(), code.indices[r].tolist(), strict=True):
            if i >= 0:
                out[r, i] += w
    return out


# ------------------------------------------------------------------ parse_method


def test_parse_method_forms() -> None:
    assert parse_method("comp-0.3") == ("comp", {"lam": 0.3})
    assert parse_method("comp") == ("comp", {"lam": 0.3})
    assert parse_method("comp-2") == ("comp", {"lam": 2.0})  # the seed's λ is any number ≥ 0
    assert parse_method("ncomp-0.5") == ("ncomp", {"lam": 0.5})
    assert parse_method("lasso") == ("lasso", {"l1": 0.05})
    for name in ("topk", "omp", "mp", "somp"):
        assert parse_method(name) == (name, {})
    assert set(METHODS) == {"comp", "omp", "mp", "topk", "ncomp", "somp", "lasso"}


@pytest.mark.parametrize(
    "spec",
    [
        "foo",
        "nnomp",
        "ncomp-1.5",
        "comp--0.1",
        "comp-x",
        "comp-nan",
        "omp-0.3",
        "mp-1",
        "lasso--1",
        "lasso-inf",
    ],
)
def test_parse_method_rejects(spec: str) -> None:
    with pytest.raises(SithError, match="valid forms"):
        parse_method(spec)


# ----------------------------------------------------------------------- inputs


def test_bad_inputs_raise_sith_error() -> None:
    A = random_atoms(10, 8, 0)
    Y = random_atoms(3, 8, 1)
    for k in (0, 11, 2.5, True, -1):
        with pytest.raises(SithError, match="^sparsity"):
            solve(Y, A, k, method="omp")
    with pytest.raises(SithError, match="unit L2 norm"):
        solve(Y * 2, A, 2)
    with pytest.raises(SithError, match="unit L2 norm"):
        solve(Y, A * 0.5, 2)
    with pytest.raises(SithError, match="unit L2 norm"):
        solve(torch.full((1, 8), float("nan")), A, 2)
    with pytest.raises(SithError, match="width"):
        solve(Y[:, :4].contiguous(), A, 2)
    with pytest.raises(SithError, match="valid forms"):
        solve(Y, A, 2, method="bogus")
    with pytest.raises(SithError, match=r"\[0, 1"):
        ncomp(Y, A, 2, lam=1.2)
    with pytest.raises(SithError, match="chunk_size"):
        solve(Y, A, 2, chunk_size=0)


# ------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_shapes_and_dtypes_identical(spec: str) -> None:
    A = random_atoms(60, 16, 0)
    Y = random_atoms(7, 16, 1)
    code = solve(Y, A, 4, method=spec)
    assert isinstance(code, SparseCode)
    assert code.weights.shape == (7, 4) and code.weights.dtype == torch.float32
    assert code.indices.shape == (7, 4) and code.indices.dtype == torch.int64
    assert code.fidelity.shape == (7,) and code.fidelity.dtype == torch.float32
    assert bool(((code.indices >= -1) & (code.indices < 60)).all())
    assert bool((code.weights[code.indices < 0] == 0).all())
    # fidelity is the cosine of the stated reconstruction
    idx = code.indices.clamp_min(0)
    recon = (code.weights[:, :, None] * A[idx]).sum(1)
    expect = F.cosine_similarity(recon, Y, dim=1)
    assert torch.allclose(code.fidelity, expect, atol=1e-5)
    empty = solve(Y[:0], A, 4, method=spec)
    assert empty.weights.shape == (0, 4) and empty.indices.dtype == torch.int64


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_deterministic_and_chunked_equals_unchunked(spec: str) -> None:
    A = random_atoms(90, 16, 2)
    Y = random_atoms(11, 16, 3)
    full = solve(Y, A, 5, method=spec)
    again = solve(Y, A, 5, method=spec)
    assert torch.equal(full.indices, again.indices) and torch.equal(full.weights, again.weights)
    configs = ((3, None), (None, 7), (4, 13), (1, 1))
    if spec.startswith("lasso"):  # ADMM iterates many times: keep slices large
        configs = ((3, None), (None, 30), (4, 45))
    for cs, ac in configs:
        part = solve(Y, A, 5, method=spec, chunk_size=cs, atom_chunk=ac)
        assert torch.equal(part.indices, full.indices), (cs, ac)
        assert torch.allclose(part.weights, full.weights, atol=1e-5), (cs, ac)
        assert torch.allclose(part.fidelity, full.fidelity, atol=1e-5), (cs, ac)


# ------------------------------------------------------------------------- topk


def test_topk_picks_the_k_highest_and_refits_nnls() -> None:
    """docs/method.md §5 topk: the K atoms of highest ⟨t, a⟩ (ties → lowest index), weights by NNLS."""
    A = random_atoms(40, 8, 4)
    A = torch.cat([A, A[:10]])  # atoms 40..49 duplicate 0..9: exact ties
    Y = random_atoms(6, 8, 5)
    for ac in (None, 5, 17):
        code = topk(Y, A, 12, atom_chunk=ac)
        cos = Y @ A.T
        for r in range(6):
            order = sorted(range(50), key=lambda j: (-cos[r, j].item(), j))[:12]
            assert sorted(code.indices[r].tolist()) == sorted(order)
            ref, _ = scipy_nnls(A[order].double().T.numpy(), Y[r].double().numpy())
            got = dict(zip(code.indices[r].tolist(), code.weights[r].tolist(), strict=True))
            np.testing.assert_allclose([got[j] for j in order], ref, atol=1e-4)
            assert code.weights[r].tolist() == sorted(code.weights[r].tolist(), reverse=True)


# -------------------------------------------------------------------------- omp


def test_somp_equals_sklearn_orthogonal_mp() -> None:
    A = random_atoms(200, 48, 6)
    Y, codes = planted(A, 12, 5, 7, signed=True)
    ours = somp(Y, A, 5, atom_chunk=64)
    ref = orthogonal_mp(A.double().T.numpy(), Y.double().T.numpy(), n_nonzero_coefs=5).T
    got = dense(ours, 200)
    assert np.array_equal(got != 0, ref != 0)
    np.testing.assert_allclose(got, ref, atol=2e-5)
    np.testing.assert_allclose(got, codes.numpy(), atol=2e-5)  # planted code recovered
    assert float(ours.fidelity.min()) > 1 - 1e-5
    # and on targets that are not sparse (a full greedy path, signed coefficients)
    Yr = random_atoms(8, 48, 8)
    ref = orthogonal_mp(A.double().T.numpy(), Yr.double().T.numpy(), n_nonzero_coefs=6).T
    np.testing.assert_allclose(dense(somp(Yr, A, 6), 200), ref, atol=2e-5)


# ------------------------------------------------------------- nnomp and comp KKT


def assert_nnls_kkt(code: SparseCode, Y: torch.Tensor, A: torch.Tensor, tol: float = 1e-5) -> None:
    """w ≥ 0; on the support, ∂/∂w_i ½‖y − Σ w a‖² is 0 where w_i > 0 and ≥ 0 where w_i = 0."""
    for r in range(Y.shape[0]):
        keep = code.indices[r] >= 0
        S = A[code.indices[r][keep]].double()
        w = code.weights[r][keep].double()
        assert bool((w >= 0).all())
        grad = S @ (Y[r].double() - S.T @ w)  # = −∂f/∂w
        assert bool((grad[w > 0].abs() <= tol).all()), grad
        assert bool((grad[w == 0] <= tol).all()), grad
        ref, _ = scipy_nnls(S.T.numpy(), Y[r].double().numpy())
        np.testing.assert_allclose(w.numpy(), ref, atol=1e-4)


@pytest.mark.parametrize("spec", ["omp", "comp-0.3", "comp-0.7", "comp-1", "ncomp-0", "ncomp-0.3"])
def test_nnls_coefficients_satisfy_kkt(spec: str) -> None:
    A = random_atoms(120, 12, 9)
    noise = 0.3 * random_atoms(20, 12, 99)
    A = torch.cat([A, unit(A[:20] + 0.3 * A[20:40] + noise)])  # correlated: NNLS zeros appear
    Y = random_atoms(40, 12, 10)
    code = solve(Y, A, 6, method=spec)
    assert_nnls_kkt(code, Y, A)


def test_omp_recovers_planted_nonnegative_codes() -> None:
    A = random_atoms(150, 40, 11)
    Y, codes = planted(A, 10, 4, 12, signed=False)
    code = omp(Y, A, 4)
    np.testing.assert_allclose(dense(code, 150), codes.numpy(), atol=2e-5)


def test_seed_methods_take_exactly_k_steps_and_keep_zero_weights() -> None:
    """The target is atom 3: after one step the residual is 0, yet K picks are made (weight 0)."""
    A = random_atoms(30, 8, 13)
    for spec in ("omp", "comp-0.3", "mp", "topk"):
        code = solve(A[3:4], A, 4, method=spec)
        assert bool((code.indices >= 0).all()), spec
        assert code.indices[0, 0] == 3 and abs(float(code.weights[0, 0]) - 1) < 1e-5, spec
        assert (code.weights[0, 1:].abs() < 1e-6).all(), spec
    # the project's ncomp stops instead (unused slots: index -1)
    stopped = ncomp(A[3:4], A, 4, lam=0.3)
    assert stopped.indices[0, 0] == 3 and (stopped.indices[0, 1:] == -1).all()


def test_ncomp0_is_nn_omp_with_early_stop() -> None:
    A = random_atoms(60, 12, 14)
    Y = random_atoms(9, 12, 15)
    a, b = ncomp(Y, A, 6, lam=0.0), omp(Y, A, 6)
    used = a.indices >= 0
    assert torch.equal(a.indices[used], b.indices[used])


def test_seed_and_normalised_scores_disagree_on_a_hand_built_case() -> None:
    """Seed COMP score ⟨r,a⟩ + λ·coherence (signed, unnormalised, no 1−λ) vs the normalised one.

    y = 0.8·e0 + 0.6·e1; atoms e0, e1, c = 0.7·e0 + 0.3·e1 + 0.648·e2 (unit), e3. Step 1 picks
    e0 (0.8 > 0.74); residual 0.6·e1. With λ = 0.55 the seed scores e1: 0.6 and c: 0.18 + 0.55·0.7
    = 0.565 → e1; the normalised score gives e1: 0.45·1 = 0.45 and c: 0.45·0.3 + 0.385 = 0.52 → c.
    """
    e = torch.eye(4)
    c = unit(torch.tensor([[0.7, 0.3, 0.648, 0.0]]))[0]
    A = torch.stack([e[0], e[1], c, e[3]])
    y = unit(torch.tensor([[0.8, 0.6, 0.0, 0.0]]))
    seed = comp(y, A, 2, lam=0.55)
    norm = ncomp(y, A, 2, lam=0.55)
    assert sorted(seed.indices[0].tolist()) == [0, 1]
    assert sorted(norm.indices[0].tolist()) == [0, 2]
    ref = seed_ref.comp(y[0].double().numpy(), A.double().numpy(), 2, 0.55)
    assert [i for i, _ in ref] == seed.indices[0].tolist()


@pytest.mark.parametrize("spec", ["comp-0.3", "comp-0.8", "omp", "mp", "topk"])
def test_seed_methods_match_the_literal_reference(spec: str) -> None:
    """Every pick and weight equals tests/decompose/seed_reference.py (numpy, scipy NNLS), in
    the seed's order (weight descending)."""
    A = random_atoms(300, 24, 16)
    Y = random_atoms(25, 24, 17)
    code = solve(Y, A, 6, method=spec, atom_chunk=64)
    An = A.double().numpy()
    for r in range(Y.shape[0]):
        ref = seed_ref.explain(Y[r].double().numpy(), An, 6, spec)
        got = list(zip(code.indices[r].tolist(), code.weights[r].tolist(), strict=True))
        assert [i for i, _ in got if _ > 1e-6] == [i for i, w in ref if w > 1e-6], (spec, r)
        np.testing.assert_allclose([w for _, w in got], [w for _, w in ref], atol=1e-4)


def test_greedy_ties_go_to_lowest_index() -> None:
    A = random_atoms(20, 8, 18)
    A = torch.cat([A[5:6], A, A[5:6]])  # atom 6 duplicated at 0 and 21
    y = A[0:1]
    for spec in ("omp", "somp", "comp-0.4", "mp", "topk"):
        assert solve(y, A, 1, method=spec, atom_chunk=4).indices[0, 0].item() == 0


# ------------------------------------------------------------------------- lasso


def test_lasso_matches_sklearn_positive_lasso() -> None:
    A = random_atoms(30, 16, 19)
    Y = random_atoms(5, 16, 20)
    l1 = 0.05
    code = lasso(Y, A, 30, l1=l1, tol=1e-7, max_iter=5000)
    ours = dense(code, 30)
    e = A.shape[1]
    X, An = A.double().T.numpy(), A.double().numpy()
    for r in range(5):
        y = Y[r].double().numpy()
        ref = Lasso(alpha=l1 / e, positive=True, fit_intercept=False, tol=1e-12, max_iter=200000)
        ref.fit(X, y)

        def objective(w: np.ndarray, y: np.ndarray = y) -> float:
            return 0.5 * float(np.sum((y - An.T @ w) ** 2)) + l1 * float(np.sum(np.abs(w)))

        np.testing.assert_allclose(ours[r], ref.coef_, atol=5e-5)
        assert objective(ours[r]) <= objective(ref.coef_) + 1e-6
        assert (ref.coef_ > 1e-3).sum() >= 2  # a non-trivial solution


def test_lasso_keeps_k_largest_weights() -> None:
    A = random_atoms(40, 12, 21)
    Y = random_atoms(6, 12, 22)
    full = lasso(Y, A, 40, l1=0.03)
    top = lasso(Y, A, 3, l1=0.03)
    assert torch.equal(top.indices, full.indices[:, :3])
    assert torch.equal(top.weights, full.weights[:, :3])
    assert bool((full.weights[:, :-1] >= full.weights[:, 1:]).all())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("spec", ALL_SPECS)
def test_cuda_matches_cpu(spec: str) -> None:
    A = random_atoms(500, 32, 23)
    Y = random_atoms(64, 32, 24)
    cpu = solve(Y, A, 5, method=spec)
    gpu = solve(Y, A, 5, method=spec, device="cuda")
    assert gpu.weights.device.type == "cuda"
    assert torch.equal(gpu.indices.cpu(), cpu.indices)
    assert torch.allclose(gpu.weights.cpu(), cpu.weights, atol=1e-4)
