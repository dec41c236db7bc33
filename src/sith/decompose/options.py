"""The project's solver options (docs/method.md §7; never the default): ``ncomp-λ``, ``somp``,
``lasso[-l1]``. Same interface and output as the seed's solvers (:mod:`sith.decompose.solvers`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from sith.decompose import _kernels
from sith.decompose.methods import DEFAULT_L1, DEFAULT_LAMBDA, FORMS
from sith.decompose.running import (
    SparseCode,
    check_int,
    check_lambda,
    check_tol,
    greedy_kernel,
    run_chunks,
)
from sith.errors import SithError

LASSO_ELEMENTS = 1 << 25  # target rows × atoms per lasso chunk (3 such float32 matrices)
PROGRESS_DELAY_S = 2.0  # a lasso chunk's progress bar appears after this long


def ncomp(
    targets: Tensor,
    atoms: Tensor,
    k: int,
    *,
    lam: float = DEFAULT_LAMBDA,
    tol: float = 1e-6,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    atom_chunk: int | None = None,
) -> SparseCode:
    """Project option (docs/method.md §7): COMP with a normalised score and early stop.

    Step ``t > 1`` picks, among not-yet-chosen atoms with ``⟨a_j, r⟩ ≥ tol``,
    ``argmax_j (1−λ)·⟨a_j, r⟩/‖r‖ + λ·mean_{s∈S}⟨a_j, a_s⟩``; step 1 the atom of largest
    correlation; NNLS coefficients. A target with no positively correlated atom stops.

    Returns:
        :class:`SparseCode` ``(B, k)``, weights ``≥ 0``, sorted by weight descending.
    """
    kern = greedy_kernel("ncomp", check_lambda(lam, 1.0), check_tol(tol))
    return run_chunks(
        targets, atoms, k, kern, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk,
        rows_per_target=2,
    )


def somp(
    targets: Tensor,
    atoms: Tensor,
    k: int,
    *,
    tol: float = 1e-6,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    atom_chunk: int | None = None,
) -> SparseCode:
    """Project option (docs/method.md §7): signed OMP with least-squares coefficients.

    Step ``t`` picks ``argmax_j |⟨a_j, r⟩|`` and refits ``w = argmin ‖y − Σ w_i a_i‖`` on
    the support (Pati et al. 1993; ``sklearn.linear_model.orthogonal_mp``). A target stops
    when ``max_j |⟨a_j, r⟩| ≤ tol``.

    Returns:
        :class:`SparseCode` ``(B, k)``, weights signed, sorted by weight descending.
    """
    kern = greedy_kernel("omp", 0.0, check_tol(tol))
    return run_chunks(targets, atoms, k, kern, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk)


def lasso(
    targets: Tensor,
    atoms: Tensor,
    k: int,
    *,
    l1: float = DEFAULT_L1,
    rho: float = 1.0,
    max_iter: int = 1000,
    tol: float = 1e-6,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    atom_chunk: int | None = None,
    progress: bool = False,
) -> SparseCode:
    """Project option: SpLiCE's non-negative lasso by ADMM, then the ``k`` largest weights.

    Solves ``min_w ½‖y − Aᵀw‖² + l1·‖w‖₁`` s.t. ``w ≥ 0`` (Bhalla et al. 2024, SpLiCE;
    ADMM as in Boyd et al. 2011 §6.4 with the Woodbury identity, see
    :func:`admm_nn_lasso`), keeps the ``k`` largest entries of
    the solution unchanged (ties → lowest index; zero entries → unused slots).
    By default ``chunk_size`` keeps the three ``(chunk_size, N)`` ADMM matrices near 384 MiB.
    ``progress``: a tqdm bar (stderr) of the ADMM iterations of each chunk, shown once a chunk
    has run 2 s (a large dictionary takes minutes).

    Returns:
        :class:`SparseCode` ``(B, k)``, weights ``≥ 0`` by weight descending.
    """
    if not (isinstance(l1, (int, float)) and math.isfinite(l1) and l1 >= 0):
        raise SithError(f"lasso l1 must be a finite number ≥ 0 (got {l1!r}); valid forms: {FORMS}")
    if not (isinstance(rho, (int, float)) and math.isfinite(rho) and rho > 0):
        raise SithError(f"lasso rho must be a finite number > 0 (got {rho!r}); pass e.g. rho=1.0")
    max_iter = check_int(max_iter, "max_iter", low=1, high=None, fix="pass e.g. max_iter=1000")
    tol = check_tol(tol)

    def kernel(Y: Tensor, A: Tensor, k: int, ac: int) -> tuple[Tensor, Tensor]:
        with tqdm(total=max_iter, desc=f"lasso ADMM, {Y.shape[0]} targets", unit="it", delay=PROGRESS_DELAY_S,
                  leave=False, disable=not progress, file=sys.stderr) as bar:

            def step(it: int, running: int) -> None:
                bar.update(1)
                bar.set_postfix_str(f"{running} not converged", refresh=False)

            z, _ = admm_nn_lasso(
                Y, A, l1=float(l1), rho=float(rho), max_iter=max_iter, tol=tol, atom_chunk=ac,
                on_iteration=step,
            )
        v, i = _kernels.topk_rows(z, k)
        return v, torch.where(v > 0, i, torch.full_like(i, -1))

    return run_chunks(
        targets,
        atoms,
        k,
        kernel,
        chunk_size=chunk_size,
        device=device,
        atom_chunk=atom_chunk,
        default_chunk=lambda n: max(1, LASSO_ELEMENTS // n),
    )


def admm_nn_lasso(
    Y: Tensor, A: Tensor, *, l1: float, rho: float, max_iter: int, tol: float, atom_chunk: int,
    on_iteration: Callable[[int, int], object] | None = None,
) -> tuple[Tensor, int]:
    """SpLiCE's non-negative lasso by ADMM: ``min_w ½‖y − Aᵀw‖² + l1·‖w‖₁`` s.t. ``w ≥ 0``.

    Splitting ``w = z`` (Boyd et al. 2011, §6.4): ``w ← (AAᵀ + ρI)⁻¹(Ay + ρ(z − u))``,
    ``z ← max(0, w + u − l1/ρ)``, ``u ← u + w − z``. The ``(N, N)`` inverse is applied
    by the Woodbury identity through the ``(e, e)`` matrix ``ρI + AᵀA``, so one
    iteration costs two ``(B, N, e)`` matmuls, both done slice by slice over atoms.
    Stops when every row's primal and dual residuals are below
    ``tol·(√N + max(‖w‖, ‖z‖))`` and ``tol·(√N + ρ‖u‖)``, or after ``max_iter``.

    ``on_iteration(it, rows_still_running)`` is called after each iteration (progress).

    Returns:
        ``z`` ``(B, N)`` float32 (exact zeros off the support) and the iterations run.
    """
    B, N = Y.shape[0], A.shape[0]
    e = A.shape[1]
    AtA = torch.zeros(e, e, dtype=torch.float64, device=Y.device)
    P = torch.empty(B, N, dtype=Y.dtype, device=Y.device)
    for lo in range(0, N, atom_chunk):
        Ac = A[lo : lo + atom_chunk]
        AtA += (Ac.T @ Ac).double()
        P[:, lo : lo + Ac.shape[0]] = Y @ Ac.T
    H = AtA + rho * torch.eye(e, dtype=torch.float64, device=Y.device)
    Hinv = torch.linalg.inv(H).to(Y.dtype)
    YAtA = (Y.double() @ AtA).to(Y.dtype)
    Z = torch.zeros_like(P)  # the result; converged rows are final here
    Zl, Ul = Z, torch.zeros_like(P)  # state of the rows still running
    rows = torch.arange(B, device=Y.device)
    S = torch.zeros_like(Y)  # (Z − U) · A from the previous iteration
    sqn = float(N) ** 0.5
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        T = (YAtA + rho * S) @ Hinv
        S = torch.zeros_like(T)
        sums = torch.zeros(5, len(rows), dtype=torch.float64, device=Y.device)
        for lo in range(0, N, atom_chunk):
            hi = min(N, lo + atom_chunk)
            Ac, Pc, Zc, Uc = A[lo:hi], P[:, lo:hi], Zl[:, lo:hi], Ul[:, lo:hi]
            Wc = (Pc + rho * (Zc - Uc) - T @ Ac.T) / rho
            Zn = (Wc + Uc - l1 / rho).clamp_min_(0.0)
            sums[0] += ((Wc - Zn) ** 2).sum(1).double()
            sums[1] += ((Zn - Zc) ** 2).sum(1).double()
            sums[2] += (Wc**2).sum(1).double()
            sums[3] += (Zn**2).sum(1).double()
            Uc += Wc - Zn
            sums[4] += (Uc**2).sum(1).double()
            Zc.copy_(Zn)
            S += (Zc - Uc) @ Ac
        r_pri, r_dual = sums[0].sqrt(), rho * sums[1].sqrt()
        eps_pri = tol * (sqn + torch.maximum(sums[2], sums[3]).sqrt())
        eps_dual = tol * (sqn + rho * sums[4].sqrt())
        done = (r_pri <= eps_pri) & (r_dual <= eps_dual)
        if on_iteration is not None:
            on_iteration(it, int((~done).sum()))
        if bool(done.all()) or it == max_iter:
            break
        if bool(done.any()):  # freeze converged rows, so chunking never changes a result
            if Zl is not Z:
                Z[rows[done]] = Zl[done]
            keep = ~done
            rows, P, Ul, S, YAtA = rows[keep], P[keep], Ul[keep], S[keep], YAtA[keep]
            Zl = Zl[keep]  # a copy: Z keeps the frozen rows
    if Zl is not Z:
        Z[rows] = Zl
    return Z, it
