"""Sparse solvers (METHOD.md §4) on planted codes and against reference implementations."""

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
    nnomp,
    omp,
    parse_method,
    solve,
    topk,
)
from sith.errors import SithError

ALL_SPECS = ("topk", "omp", "nnomp", "comp-0", "comp-0.3", "comp-1", "lasso-0.02")


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
    assert parse_method("comp-0") == ("comp", {"lam": 0.0})
    assert parse_method("comp-1") == ("comp", {"lam": 1.0})
    assert parse_method("comp") == ("comp", {"lam": 0.3})
    assert parse_method("lasso-0.05") == ("lasso", {"l1": 0.05})
    assert parse_method("lasso")[0] == "lasso"
    for name in ("topk", "omp", "nnomp"):
        assert parse_method(name) == (name, {})
    assert set(METHODS) == {"topk", "omp", "nnomp", "comp", "lasso"}


@pytest.mark.parametrize(
    "spec",
    ["foo", "comp-1.5", "comp--0.1", "comp-x", "comp-nan", "nnomp-0.3", "lasso--1", "lasso-inf"],
)
def test_parse_method_rejects(spec: str) -> None:
    with pytest.raises(SithError, match="valid forms") as info:
        parse_method(spec)
    assert "comp-" in str(info.value) and "\n" not in str(info.value)


# ----------------------------------------------------------------------- inputs


def test_bad_inputs_raise_sith_error() -> None:
    A = random_atoms(10, 8, 0)
    Y = random_atoms(3, 8, 1)
    for k in (0, 11, 2.5, True, -1):
        with pytest.raises(SithError, match="--sparsity"):
            solve(Y, A, k, method="nnomp")
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
    with pytest.raises(SithError, match=r"\[0, 1\]"):
        comp(Y, A, 2, lam=1.2)
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


def test_topk_matches_sort_and_breaks_ties_low() -> None:
    A = random_atoms(40, 8, 4)
    A = torch.cat([A, A[:10]])  # atoms 40..49 duplicate 0..9: exact ties
    Y = random_atoms(6, 8, 5)
    for ac in (None, 5, 17):
        code = topk(Y, A, 12, atom_chunk=ac)
        cos = Y @ A.T
        for r in range(6):
            order = sorted(range(50), key=lambda j: (-cos[r, j].item(), j))[:12]
            assert code.indices[r].tolist() == order
            assert torch.allclose(code.weights[r], cos[r, order], atol=1e-6)
    tied = topk(Y[:1], torch.cat([A[:1]] * 5), 3)
    assert tied.indices.tolist() == [[0, 1, 2]]


# -------------------------------------------------------------------------- omp


def test_omp_equals_sklearn_orthogonal_mp() -> None:
    A = random_atoms(200, 48, 6)
    Y, codes = planted(A, 12, 5, 7, signed=True)
    ours = omp(Y, A, 5, atom_chunk=64)
    ref = orthogonal_mp(A.double().T.numpy(), Y.double().T.numpy(), n_nonzero_coefs=5).T
    got = dense(ours, 200)
    assert np.array_equal(got != 0, ref != 0)
    np.testing.assert_allclose(got, ref, atol=2e-5)
    np.testing.assert_allclose(got, codes.numpy(), atol=2e-5)  # planted code recovered
    assert float(ours.fidelity.min()) > 1 - 1e-5
    # and on targets that are not sparse (a full greedy path, signed coefficients)
    Yr = random_atoms(8, 48, 8)
    ref = orthogonal_mp(A.double().T.numpy(), Yr.double().T.numpy(), n_nonzero_coefs=6).T
    np.testing.assert_allclose(dense(omp(Yr, A, 6), 200), ref, atol=2e-5)


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


@pytest.mark.parametrize("spec", ["nnomp", "comp-0.3", "comp-0.7", "comp-1"])
def test_nnls_coefficients_satisfy_kkt(spec: str) -> None:
    A = random_atoms(120, 12, 9)
    noise = 0.3 * random_atoms(20, 12, 99)
    A = torch.cat([A, unit(A[:20] + 0.3 * A[20:40] + noise)])  # correlated: NNLS zeros appear
    Y = random_atoms(40, 12, 10)
    code = solve(Y, A, 6, method=spec)
    assert_nnls_kkt(code, Y, A)


def test_nnomp_recovers_planted_nonnegative_codes() -> None:
    A = random_atoms(300, 64, 11)
    Y, codes = planted(A, 10, 4, 12, signed=False)
    code = nnomp(Y, A, 4)
    np.testing.assert_allclose(dense(code, 300), codes.numpy(), atol=1e-5)
    assert float(code.fidelity.min()) > 1 - 1e-5


def test_nnomp_stops_when_no_positive_correlation() -> None:
    A = random_atoms(30, 8, 13)
    code = nnomp(A[3:4], A, 3)  # the target is atom 3: exact after one step
    assert code.indices.tolist() == [[3, -1, -1]]
    assert torch.allclose(code.weights, torch.tensor([[1.0, 0.0, 0.0]]), atol=1e-6)
    # a target negatively correlated with every atom has nothing to explain it
    none = nnomp(torch.tensor([[-1.0, 0.0, 0.0, 0.0]]), torch.eye(4)[:3], 2)
    assert none.indices.tolist() == [[-1, -1]] and float(none.fidelity[0]) == 0.0


def test_comp0_equals_nnomp_exactly() -> None:
    A = random_atoms(150, 16, 14)
    Y = random_atoms(25, 16, 15)
    a, b = comp(Y, A, 6, lam=0.0), nnomp(Y, A, 6)
    assert torch.equal(a.indices, b.indices) and torch.equal(a.weights, b.weights)
    assert torch.equal(a.fidelity, b.fidelity)


def reference_comp(
    y: np.ndarray, A: np.ndarray, k: int, lam: float, tol: float = 1e-6
) -> list[int]:
    """METHOD.md §4 COMP-λ, written out literally, one target at a time (float64)."""
    chosen: list[int] = []
    w = np.zeros(0)
    for _ in range(k):
        r = y - A[chosen].T @ w if chosen else y.copy()
        best, best_j = -np.inf, -1
        for j in range(A.shape[0]):
            c = float(A[j] @ r)
            if j in chosen or c <= tol:
                continue
            coh = np.mean([A[j] @ A[s] for s in chosen]) if chosen else 0.0
            score = (
                c / np.linalg.norm(r)
                if not chosen
                else (1 - lam) * c / np.linalg.norm(r) + lam * coh
            )
            if score > best:
                best, best_j = score, j
        if best_j < 0:
            break
        chosen.append(best_j)
        w, _ = scipy_nnls(A[chosen].T, y)
    return chosen


def test_comp_coherence_flips_the_choice() -> None:
    # y leans on a0, then a1 (orthogonal to a0) over a2 (close to a0)
    a0 = torch.tensor([1.0, 0.0, 0.0, 0.0])
    a1 = torch.tensor([0.0, 1.0, 0.0, 0.0])
    a2 = unit(torch.tensor([[0.6, 0.0, 0.8, 0.0]]))[0]
    y = unit(torch.tensor([[1.0, 0.5, 0.4, 0.1]]))
    A = torch.stack([a0, a1, a2, unit(torch.tensor([[0.0, 0.0, 0.0, 1.0]]))[0]])
    c0 = comp(y, A, 2, lam=0.0)
    c5 = comp(y, A, 2, lam=0.5)
    assert c0.indices.tolist() == [[0, 1]]
    assert c5.indices.tolist() == [[0, 2]]
    for lam in (0.0, 0.5):
        ref = reference_comp(y[0].double().numpy(), A.double().numpy(), 2, lam)
        assert solve(y, A, 2, method=f"comp-{lam}").indices[0].tolist() == ref


@pytest.mark.parametrize("lam", [0.1, 0.3, 0.6, 0.9])
def test_comp_matches_literal_reference_loop(lam: float) -> None:
    A = random_atoms(80, 10, 16)
    Y = random_atoms(15, 10, 17)
    code = comp(Y, A, 5, lam=lam, atom_chunk=16)
    An = A.double().numpy()
    changed = False
    for r in range(15):
        ref = reference_comp(Y[r].double().numpy(), An, 5, lam)
        got = [i for i in code.indices[r].tolist() if i >= 0]
        assert got == ref, (r, got, ref)
        changed |= got != [i for i in nnomp(Y[r : r + 1], A, 5).indices[0].tolist() if i >= 0]
    assert changed  # λ > 0 does change selections on this data


def test_greedy_ties_go_to_lowest_index() -> None:
    A = random_atoms(20, 8, 18)
    A = torch.cat([A[5:6], A, A[5:6]])  # atom 6 duplicated at 0 and 21
    y = A[0:1]
    for spec in ("omp", "nnomp", "comp-0.4", "topk"):
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
