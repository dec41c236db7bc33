"""Sparse decomposition of unit targets over a concept dictionary (METHOD.md §4).

One interface for every method::

    solve(targets (B, e), atoms (N, e), k, method="comp-0.3") -> SparseCode

with ``SparseCode.weights`` ``(B, k)``, ``.indices`` ``(B, k)`` and ``.fidelity``
``(B,)`` whatever the method. Methods (``METHODS``; ``parse_method`` reads the
``--method`` strings):

* ``topk`` — the ``k`` atoms of highest cosine with ``y``; weights are the cosines,
  ordered by cosine descending.
* ``omp`` — orthogonal matching pursuit: pick ``argmax_j |⟨a_j, r⟩|``, refit signed
  least-squares coefficients (equals ``sklearn.linear_model.orthogonal_mp``).
* ``nnomp`` — pick the not-yet-chosen atom of largest *positive* ``⟨a_j, r⟩``;
  coefficients by non-negative least squares on the support.
* ``comp-λ`` (Coherent OMP, ``λ ∈ [0, 1]``) — pick the not-yet-chosen atom maximising
  ``(1−λ)·⟨a_j, r⟩/‖r‖ + λ·mean_{s∈S}⟨a_j, a_s⟩`` **among atoms with positive
  correlation with the residual** (``⟨a_j, r⟩ > tol``; an atom that does not reduce the
  residual is never chosen, as in ``nnomp``); NNLS coefficients. The first pick is the
  atom of largest correlation (the coherence term is 0 there). ``comp-0`` is ``nnomp``
  exactly (same code path).
* ``lasso[-l1]`` — SpLiCE's non-negative lasso ``min ½‖y − Aᵀw‖² + l1·‖w‖₁, w ≥ 0`` by
  ADMM (default ``l1 = 0.05``, ``ρ = 1``); the ``k`` largest weights of the solution are
  kept as they are (no refit), ordered by weight descending.

Greedy codes are in selection order. A greedy method stops early for a target when no
candidate is left (no atom with correlation ``> tol``, default ``1e-6``): its remaining
slots are unused (weight 0, index -1); lasso slots whose weight is 0 are unused too.
An NNLS refit may set an earlier-chosen atom's weight to 0: its index stays.

Inputs are **checked, not normalised**: every row of ``targets`` and ``atoms`` must have
unit L2 norm within ``1e-3`` (else :class:`SithError`). Computation is float32 (small
per-target systems in float64) on ``device`` (default: the targets' device; CUDA works
when the tensors or ``device`` say so); outputs live there. Results are deterministic
and ties go to the lowest atom index. ``chunk_size`` bounds the targets processed at
once; ``atom_chunk`` bounds the correlation slice ``(chunk_size, atom_chunk)``, so
peak memory is the atoms plus ``O(chunk_size · (atom_chunk + k·e))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from sith.decompose import _kernels
from sith.errors import SithError

METHODS = ("topk", "omp", "nnomp", "comp", "lasso")
DEFAULT_LAMBDA = 0.3
DEFAULT_L1 = 0.05
UNIT_TOL = 1e-3
SLICE_ELEMENTS = 1 << 25  # target rows × atoms per correlation slice (128 MiB in float32)
LASSO_ELEMENTS = 1 << 25  # target rows × atoms per lasso chunk (3 such float32 matrices)
_FORMS = "topk, omp, nnomp, comp-<λ in [0,1]> (e.g. comp-0.3), lasso or lasso-<l1 ≥ 0>"


class SparseCode(NamedTuple):
    """A sparse code per target (same shapes for every method).

    Attributes:
        weights: ``(B, K)`` float32; 0 where fewer than ``K`` atoms were selected.
        indices: ``(B, K)`` int64 atom indices; -1 where unused.
        fidelity: ``(B,)`` float32 ``cos(y, Σ_i w_i a_i)`` (0 if the reconstruction is 0).
    """

    weights: Tensor
    indices: Tensor
    fidelity: Tensor


def parse_method(spec: str) -> tuple[str, dict]:
    """Read a method string: ``"comp-0.3"`` → ``("comp", {"lam": 0.3})``.

    ``"comp"`` alone means ``comp-0.3``; ``"lasso"`` alone means ``lasso-0.05`` (``l1``).
    ``topk``, ``omp`` and ``nnomp`` take no parameter.

    Raises:
        SithError: unknown method, a parameter where none is taken, or λ outside [0, 1].
    """
    text = str(spec).strip().lower()
    name, sep, arg = text.partition("-")
    if name not in METHODS:
        raise SithError(f"unknown method {spec!r}; valid forms: {_FORMS}")
    if name in ("topk", "omp", "nnomp"):
        if sep:
            raise SithError(
                f"method {name} takes no parameter (got {spec!r}); valid forms: {_FORMS}"
            )
        return name, {}
    if not sep:
        return name, ({"lam": DEFAULT_LAMBDA} if name == "comp" else {"l1": DEFAULT_L1})
    try:
        value = float(arg)
    except ValueError:
        value = math.nan
    if name == "comp":
        if not 0.0 <= value <= 1.0:
            raise SithError(
                f"comp λ must be a number in [0, 1] (got {spec!r}); valid forms: {_FORMS}"
            )
        return name, {"lam": value}
    if not (math.isfinite(value) and value >= 0.0):
        raise SithError(f"lasso l1 must be a number ≥ 0 (got {spec!r}); valid forms: {_FORMS}")
    return name, {"l1": value}


# ------------------------------------------------------------------------ checking


def _check_unit(x: Tensor, what: str) -> None:
    dev = (torch.linalg.vector_norm(x, dim=1) - 1.0).abs()
    worst = float(dev.max()) if dev.numel() else 0.0
    if not worst <= UNIT_TOL:  # also catches NaN
        raise SithError(
            f"{what} rows must have unit L2 norm (worst |‖row‖−1| = {worst:.3g} > {UNIT_TOL}); "
            "normalise them first, e.g. torch.nn.functional.normalize(x, dim=1)"
        )


def _check_int(value: object, what: str, *, low: int, high: int | None, fix: str) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"≥ {low}"
        raise SithError(f"{what} must be an integer {bound} (got {value!r}); {fix}")
    return int(value)


def _prepare(
    targets: Tensor, atoms: Tensor, k: int, device: str | torch.device | None
) -> tuple[Tensor, Tensor, int]:
    """Validate and move to the compute device as float32 (no copy when already there)."""
    for x, what in ((targets, "targets"), (atoms, "atoms")):
        if not isinstance(x, Tensor) or x.dim() != 2 or not x.is_floating_point():
            raise SithError(f"{what} must be a 2-D floating tensor (rows = vectors); got {x!r:.60}")
    if targets.shape[1] != atoms.shape[1]:
        raise SithError(
            f"targets have width {targets.shape[1]} but atoms have {atoms.shape[1]}; "
            "encode the dictionary with the same model"
        )
    if atoms.shape[0] == 0:
        raise SithError("the dictionary has no atoms; use a non-empty concept pool")
    k = _check_int(k, "sparsity", low=1, high=atoms.shape[0], fix="choose --sparsity in that range")
    dev = torch.device(device) if device is not None else targets.device
    Y = targets.detach().to(dev, torch.float32)
    A = atoms.detach().to(dev, torch.float32)
    _check_unit(Y, "targets")
    _check_unit(A, "atoms")
    return Y, A, k


Kernel = Callable[[Tensor, Tensor, int, int], tuple[Tensor, Tensor]]


def _run(
    targets: Tensor,
    atoms: Tensor,
    k: int,
    kernel: Kernel,
    *,
    chunk_size: int | None,
    device: str | torch.device | None,
    atom_chunk: int | None,
    rows_per_target: int = 1,
    default_chunk: Callable[[int], int] | None = None,
) -> SparseCode:
    """Validate, then run ``kernel(Y_chunk, A, k, atom_chunk)`` over target chunks."""
    Y, A, k = _prepare(targets, atoms, k, device)
    B, N = Y.shape[0], A.shape[0]
    if chunk_size is not None:
        _check_int(chunk_size, "chunk_size", low=1, high=None, fix="pass a positive chunk size")
    if atom_chunk is not None:
        _check_int(atom_chunk, "atom_chunk", low=1, high=None, fix="pass a positive atom chunk")
    if chunk_size is None:
        chunk_size = default_chunk(N) if default_chunk is not None else max(B, 1)
    if atom_chunk is None:
        rows = max(1, min(B, chunk_size)) * rows_per_target
        atom_chunk = max(1024, SLICE_ELEMENTS // rows)
    atom_chunk = min(atom_chunk, N)
    parts: list[tuple[Tensor, Tensor, Tensor]] = []
    for lo in range(0, B, chunk_size):
        y = Y[lo : lo + chunk_size]
        w, i = kernel(y, A, k, atom_chunk)
        w = torch.where(i >= 0, w, torch.zeros_like(w)).float()
        parts.append((w, i.long(), _kernels.fidelity(y, A, w, i)))
    if not parts:
        empty = torch.empty(0, k, device=Y.device)
        return SparseCode(empty, empty.long(), torch.empty(0, device=Y.device))
    return SparseCode(*(torch.cat(x) for x in zip(*parts, strict=True)))


# ---------------------------------------------------------------- public solvers


def topk(
    targets: Tensor,
    atoms: Tensor,
    k: int,
    *,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    atom_chunk: int | None = None,
) -> SparseCode:
    """The ``k`` atoms of highest cosine with each target (METHOD.md §4 ``topk``).

    Args:
        targets: ``(B, e)`` unit rows. atoms: ``(N, e)`` unit rows. k: ``1 ≤ k ≤ N``.

    Returns:
        :class:`SparseCode`; weights are the cosines ``(B, k)``, by cosine descending.
    """

    return _run(
        targets,
        atoms,
        k,
        _kernels.topk_scan,
        chunk_size=chunk_size,
        device=device,
        atom_chunk=atom_chunk,
    )


def _greedy(mode: str, lam: float, tol: float) -> Kernel:
    def kernel(Y: Tensor, A: Tensor, k: int, ac: int) -> tuple[Tensor, Tensor]:
        return _kernels.greedy_pursuit(Y, A, k, mode=mode, lam=lam, tol=tol, atom_chunk=ac)

    return kernel


def _check_tol(tol: float) -> float:
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise SithError(f"tol must be a finite number ≥ 0 (got {tol!r}); pass e.g. tol=1e-6")
    return float(tol)


def omp(
    targets: Tensor,
    atoms: Tensor,
    k: int,
    *,
    tol: float = 1e-6,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    atom_chunk: int | None = None,
) -> SparseCode:
    """Orthogonal matching pursuit with signed least-squares coefficients (METHOD.md §4).

    Step ``t`` picks ``argmax_j |⟨a_j, r⟩|`` and refits ``w = argmin ‖y − Σ w_i a_i‖``
    on the support (Pati et al. 1993; ``sklearn.linear_model.orthogonal_mp``). A target
    stops when ``max_j |⟨a_j, r⟩| ≤ tol``.

    Returns:
        :class:`SparseCode` ``(B, k)``, selection order, weights signed.
    """
    kern = _greedy("omp", 0.0, _check_tol(tol))
    return _run(
        targets, atoms, k, kern, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk
    )


def nnomp(
    targets: Tensor,
    atoms: Tensor,
    k: int,
    *,
    tol: float = 1e-6,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    atom_chunk: int | None = None,
) -> SparseCode:
    """Non-negative OMP: positive-correlation picks, NNLS coefficients (METHOD.md §4).

    Step ``t`` picks the not-yet-chosen ``argmax_j ⟨a_j, r⟩`` if it is ``> tol`` (else
    the target stops: remaining slots weight 0, index -1), then solves
    ``min_{w ≥ 0} ‖y − Σ w_i a_i‖²`` on the support (batched Lawson–Hanson).

    Returns:
        :class:`SparseCode` ``(B, k)``, selection order, weights ``≥ 0``.
    """
    kern = _greedy("nn", 0.0, _check_tol(tol))
    return _run(
        targets, atoms, k, kern, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk
    )


def comp(
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
    """Coherent OMP (COMP-λ, METHOD.md §4).

    Step ``t > 1`` picks, among not-yet-chosen atoms with ``⟨a_j, r⟩ > tol``,
    ``argmax_j (1−λ)·⟨a_j, r⟩/‖r‖ + λ·mean_{s∈S}⟨a_j, a_s⟩``; step 1 picks the atom of
    largest correlation. Coefficients: NNLS on the support. If no atom has positive
    correlation the target stops (remaining slots unused). ``lam == 0`` is ``nnomp``.
    Costs two correlation matmuls per step after the first (residual and mean atom).

    Returns:
        :class:`SparseCode` ``(B, k)``, selection order, weights ``≥ 0``.
    """
    if not (isinstance(lam, (int, float)) and 0.0 <= lam <= 1.0):
        raise SithError(f"comp λ must be in [0, 1] (got {lam!r}); valid forms: {_FORMS}")
    kern = _greedy("comp", float(lam), _check_tol(tol))
    return _run(
        targets,
        atoms,
        k,
        kern,
        chunk_size=chunk_size,
        device=device,
        atom_chunk=atom_chunk,
        rows_per_target=2,
    )


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
) -> SparseCode:
    """SpLiCE's non-negative lasso by ADMM, then the ``k`` largest weights (METHOD.md §4).

    Solves ``min_w ½‖y − Aᵀw‖² + l1·‖w‖₁`` s.t. ``w ≥ 0`` (Bhalla et al. 2024, SpLiCE;
    ADMM as in Boyd et al. 2011 §6.4 with the Woodbury identity, see
    :func:`sith.decompose._kernels.admm_nn_lasso`), keeps the ``k`` largest entries of
    the solution unchanged (ties → lowest index; zero entries → unused slots).
    The ADMM state is three ``(chunk_size, N)`` matrices; by default ``chunk_size`` is
    chosen so they stay near 384 MiB.

    Returns:
        :class:`SparseCode` ``(B, k)``, weights ``≥ 0`` by weight descending.
    """
    if not (isinstance(l1, (int, float)) and math.isfinite(l1) and l1 >= 0):
        raise SithError(f"lasso l1 must be a finite number ≥ 0 (got {l1!r}); valid forms: {_FORMS}")
    if not (isinstance(rho, (int, float)) and math.isfinite(rho) and rho > 0):
        raise SithError(f"lasso rho must be a finite number > 0 (got {rho!r}); pass e.g. rho=1.0")
    max_iter = _check_int(max_iter, "max_iter", low=1, high=None, fix="pass e.g. max_iter=1000")
    tol = _check_tol(tol)

    def kernel(Y: Tensor, A: Tensor, k: int, ac: int) -> tuple[Tensor, Tensor]:
        z, _ = _kernels.admm_nn_lasso(
            Y, A, l1=float(l1), rho=float(rho), max_iter=max_iter, tol=tol, atom_chunk=ac
        )
        v, i = _kernels.topk_rows(z, k)
        return v, torch.where(v > 0, i, torch.full_like(i, -1))

    return _run(
        targets,
        atoms,
        k,
        kernel,
        chunk_size=chunk_size,
        device=device,
        atom_chunk=atom_chunk,
        default_chunk=lambda n: max(1, LASSO_ELEMENTS // n),
    )


_SOLVERS: dict[str, Callable[..., SparseCode]] = {
    "topk": topk,
    "omp": omp,
    "nnomp": nnomp,
    "comp": comp,
    "lasso": lasso,
}


def solve(
    targets: Tensor,
    atoms: Tensor,
    k: int,
    *,
    method: str = "comp-0.3",
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    atom_chunk: int | None = None,
) -> SparseCode:
    """Explain each unit target as a ``k``-sparse combination of unit atoms (METHOD.md §4).

    Args:
        targets: ``(B, e)`` unit rows (e.g. a layer's singular vectors in joint space).
        atoms: ``(N, e)`` unit rows (the concept dictionary).
        k: sparsity, ``1 ≤ k ≤ N`` (the ``--sparsity`` flag).
        method: ``topk``, ``omp``, ``nnomp``, ``comp-λ`` or ``lasso[-l1]`` (:func:`parse_method`).
        chunk_size: targets per chunk (default: all; lasso: memory-bounded).
        device: compute device (default: the targets').
        atom_chunk: atoms per correlation slice (default: ``2^25 / rows`` atoms, ≥ 1024).

    Returns:
        :class:`SparseCode` with ``weights``/``indices`` ``(B, k)``, ``fidelity`` ``(B,)``.
    """
    name, params = parse_method(method)
    return _SOLVERS[name](
        targets, atoms, k, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk, **params
    )
