"""Sparse decomposition of unit targets over a concept dictionary (METHOD.md §5).

One interface for every method::

    solve(targets (B, e), atoms (N, e), k, method="comp-0.3") -> SparseCode

with ``SparseCode.weights`` ``(B, k)``, ``.indices`` ``(B, k)`` and ``.fidelity``
``(B,)`` whatever the method; each row's pairs are **sorted by weight, descending**
(the seed's file order; ties keep selection order, unused slots last).

The seed's methods (all non-negative, exactly ``k`` steps, zero-weight picks kept):

* ``comp-λ`` (Coherent OMP): step ``t`` picks the not-yet-chosen
  ``argmax_j ⟨r, a_j⟩ + λ·mean_{s∈S}⟨a_j, a_s⟩`` (no coherence term at step 1; signed,
  unnormalised score), then refits NNLS of ``y`` on the support.
* ``omp``: ``comp-0``, the seed's non-negative OMP.
* ``mp``: non-negative matching pursuit — weight ``max(⟨r, a_j⟩, 0)``, no refit.
* ``topk``: the ``k`` atoms of highest ``⟨y, a_j⟩``, weights by NNLS on them.

The project's options (METHOD.md §7; never the default):

* ``ncomp-λ``: the normalised COMP score ``(1−λ)·⟨r, a_j⟩/‖r‖ + λ·coherence`` among atoms of
  positive correlation, NNLS, early stop when no atom correlates positively.
* ``somp``: signed OMP (``argmax |⟨a_j, r⟩|``, least squares; ``sklearn`` ``orthogonal_mp``).
* ``lasso[-l1]``: SpLiCE's non-negative lasso by ADMM, the ``k`` largest weights kept.

An early-stopped target's remaining slots are unused (weight 0, index -1).

Inputs are **checked, not normalised**: every row of ``targets`` and ``atoms`` must have
unit L2 norm within ``1e-3`` (else :class:`SithError`). Computation is float32 (small
per-target systems in float64) on ``device`` (default: the targets' device); outputs
live there. Results are deterministic; ties go to the lowest atom index. ``chunk_size``
bounds the targets processed at once; ``atom_chunk`` bounds the correlation slice
``(chunk_size, atom_chunk)``, so peak memory is the atoms plus
``O(chunk_size · (atom_chunk + k·e))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from sith.decompose import _kernels
from sith.errors import SithError

#: The seed's methods (METHOD.md §5) and the project's options (§7).
SEED_METHODS = ("comp", "omp", "mp", "topk")
OPTION_METHODS = ("ncomp", "somp", "lasso")
METHODS = SEED_METHODS + OPTION_METHODS
DEFAULT_LAMBDA = 0.3
DEFAULT_L1 = 0.05
UNIT_TOL = 1e-3
SLICE_ELEMENTS = 1 << 25  # target rows × atoms per correlation slice (128 MiB in float32)
LASSO_ELEMENTS = 1 << 25  # target rows × atoms per lasso chunk (3 such float32 matrices)
_FORMS = (
    "comp-<λ ≥ 0> (e.g. comp-0.3), omp, mp, topk; options: ncomp-<λ in [0,1]>, somp, lasso[-<l1 ≥ 0>]"
)


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

    ``"comp"``/``"ncomp"`` alone mean λ = 0.3; ``"lasso"`` alone means ``l1 = 0.05``.
    ``omp``, ``mp``, ``topk`` and ``somp`` take no parameter.

    Raises:
        SithError: unknown method, a parameter where none is taken, or a bad λ / l1.
    """
    text = str(spec).strip().lower()
    name, sep, arg = text.partition("-")
    if name not in METHODS:
        raise SithError(f"unknown method {spec!r}; valid forms: {_FORMS}")
    if name in ("omp", "mp", "topk", "somp"):
        if sep:
            raise SithError(f"method {name} takes no parameter (got {spec!r}); valid forms: {_FORMS}")
        return name, {}
    if not sep:
        return name, ({"l1": DEFAULT_L1} if name == "lasso" else {"lam": DEFAULT_LAMBDA})
    try:
        value = float(arg)
    except ValueError:
        value = math.nan
    if name == "lasso":
        if not (math.isfinite(value) and value >= 0.0):
            raise SithError(f"lasso l1 must be a number ≥ 0 (got {spec!r}); valid forms: {_FORMS}")
        return name, {"l1": value}
    high = 1.0 if name == "ncomp" else math.inf
    if not (math.isfinite(value) and 0.0 <= value <= high):
        bound = "in [0, 1]" if name == "ncomp" else "≥ 0"
        raise SithError(f"{name} λ must be a number {bound} (got {spec!r}); valid forms: {_FORMS}")
    return name, {"lam": value}


def is_seed_method(spec: str) -> bool:
    """Whether ``spec`` is one of the seed's methods (METHOD.md §5), not a project option."""
    return parse_method(spec)[0] in SEED_METHODS


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
        w, i = _kernels.order_by_weight(w, i.long())
        parts.append((w, i.long(), _kernels.fidelity(y, A, w, i)))
    if not parts:
        empty = torch.empty(0, k, device=Y.device)
        return SparseCode(empty, empty.long(), torch.empty(0, device=Y.device))
    return SparseCode(*(torch.cat(x) for x in zip(*parts, strict=True)))


# ---------------------------------------------------------------- public solvers


def _greedy(mode: str, lam: float, tol: float) -> Kernel:
    def kernel(Y: Tensor, A: Tensor, k: int, ac: int) -> tuple[Tensor, Tensor]:
        return _kernels.greedy_pursuit(Y, A, k, mode=mode, lam=lam, tol=tol, atom_chunk=ac)

    return kernel


def _check_tol(tol: float) -> float:
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise SithError(f"tol must be a finite number ≥ 0 (got {tol!r}); pass e.g. tol=1e-6")
    return float(tol)


def _check_lambda(lam: float, high: float) -> float:
    if not (isinstance(lam, (int, float)) and math.isfinite(lam) and 0.0 <= lam <= high):
        raise SithError(f"λ must be in [0, {high}] (got {lam!r}); valid forms: {_FORMS}")
    return float(lam)


def comp(
    targets: Tensor,
    atoms: Tensor,
    k: int,
    *,
    lam: float = DEFAULT_LAMBDA,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    atom_chunk: int | None = None,
) -> SparseCode:
    """The seed's Coherent OMP, COMP-λ (METHOD.md §5); ``lam = 0`` is its non-negative OMP.

    Step ``t`` picks the not-yet-chosen ``argmax_j ⟨r, a_j⟩ + λ·mean_{s∈S}⟨a_j, a_s⟩``
    (one matmul with ``r + λ·mean_s a_s``), then ``w = argmin_{w ≥ 0} ‖y − Σ w_s a_s‖``
    (batched Lawson–Hanson). Exactly ``k`` steps; a zero-weight pick stays.

    Returns:
        :class:`SparseCode` ``(B, k)``, weights ``≥ 0``, sorted by weight descending.
    """
    kern = _greedy("seed", _check_lambda(lam, math.inf), 0.0)
    return _run(targets, atoms, k, kern, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk)


def omp(
    targets: Tensor,
    atoms: Tensor,
    k: int,
    *,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    atom_chunk: int | None = None,
) -> SparseCode:
    """The seed's ``omp``: non-negative OMP, i.e. :func:`comp` with ``λ = 0`` (METHOD.md §5)."""
    return comp(targets, atoms, k, lam=0.0, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk)


def mp(
    targets: Tensor,
    atoms: Tensor,
    k: int,
    *,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    atom_chunk: int | None = None,
) -> SparseCode:
    """The seed's non-negative matching pursuit (METHOD.md §5 ``mp``): ``k`` steps, no refit.

    Returns:
        :class:`SparseCode` ``(B, k)``, weights ``max(⟨r, a_j⟩, 0)``, sorted descending.
    """

    def kernel(Y: Tensor, A: Tensor, k: int, ac: int) -> tuple[Tensor, Tensor]:
        return _kernels.matching_pursuit(Y, A, k, atom_chunk=ac)

    return _run(targets, atoms, k, kernel, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk)


def topk(
    targets: Tensor,
    atoms: Tensor,
    k: int,
    *,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    atom_chunk: int | None = None,
) -> SparseCode:
    """The seed's ``topk``: the ``k`` atoms of highest ``⟨y, a_j⟩``, weights by NNLS on them.

    Returns:
        :class:`SparseCode` ``(B, k)``, weights ``≥ 0``, sorted by weight descending.
    """

    def kernel(Y: Tensor, A: Tensor, k: int, ac: int) -> tuple[Tensor, Tensor]:
        _, idx = _kernels.topk_scan(Y, A, k, ac)
        return _kernels.nnls_refit(Y, A, idx), idx

    return _run(targets, atoms, k, kernel, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk)


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
    """Project option (METHOD.md §7): COMP with a normalised score and early stop.

    Step ``t > 1`` picks, among not-yet-chosen atoms with ``⟨a_j, r⟩ ≥ tol``,
    ``argmax_j (1−λ)·⟨a_j, r⟩/‖r‖ + λ·mean_{s∈S}⟨a_j, a_s⟩``; step 1 the atom of largest
    correlation; NNLS coefficients. A target with no positively correlated atom stops.

    Returns:
        :class:`SparseCode` ``(B, k)``, weights ``≥ 0``, sorted by weight descending.
    """
    kern = _greedy("ncomp", _check_lambda(lam, 1.0), _check_tol(tol))
    return _run(
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
    """Project option (METHOD.md §7): signed OMP with least-squares coefficients.

    Step ``t`` picks ``argmax_j |⟨a_j, r⟩|`` and refits ``w = argmin ‖y − Σ w_i a_i‖`` on
    the support (Pati et al. 1993; ``sklearn.linear_model.orthogonal_mp``). A target stops
    when ``max_j |⟨a_j, r⟩| ≤ tol``.

    Returns:
        :class:`SparseCode` ``(B, k)``, weights signed, sorted by weight descending.
    """
    kern = _greedy("omp", 0.0, _check_tol(tol))
    return _run(targets, atoms, k, kern, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk)


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
    """Project option: SpLiCE's non-negative lasso by ADMM, then the ``k`` largest weights.

    Solves ``min_w ½‖y − Aᵀw‖² + l1·‖w‖₁`` s.t. ``w ≥ 0`` (Bhalla et al. 2024, SpLiCE;
    ADMM as in Boyd et al. 2011 §6.4 with the Woodbury identity, see
    :func:`sith.decompose._kernels.admm_nn_lasso`), keeps the ``k`` largest entries of
    the solution unchanged (ties → lowest index; zero entries → unused slots).
    By default ``chunk_size`` keeps the three ``(chunk_size, N)`` ADMM matrices near 384 MiB.

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
    "comp": comp,
    "omp": omp,
    "mp": mp,
    "topk": topk,
    "ncomp": ncomp,
    "somp": somp,
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
    """Explain each unit target as a ``k``-sparse non-negative combination of unit atoms (METHOD.md §5).

    Args:
        targets: ``(B, e)`` unit rows (e.g. a layer's singular vectors in joint space).
        atoms: ``(N, e)`` unit rows (the concept dictionary).
        k: sparsity, ``1 ≤ k ≤ N`` (the ``--sparsity`` flag).
        method: ``comp-λ``, ``omp``, ``mp``, ``topk`` (the seed's) or ``ncomp-λ``, ``somp``,
            ``lasso[-l1]`` (the project's options); see :func:`parse_method`.
        chunk_size: targets per chunk (default: all; lasso: memory-bounded).
        device: compute device (default: the targets').
        atom_chunk: atoms per correlation slice (default: ``2^25 / rows`` atoms, ≥ 1024).

    Returns:
        :class:`SparseCode` with ``weights``/``indices`` ``(B, k)`` sorted by weight
        descending, ``fidelity`` ``(B,)``.
    """
    name, params = parse_method(method)
    return _SOLVERS[name](
        targets, atoms, k, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk, **params
    )
