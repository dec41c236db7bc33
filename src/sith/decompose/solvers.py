"""Sparse decomposition of unit targets over a concept dictionary (docs/method.md §5).

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

The project's options (docs/method.md §7; never the default):

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

import torch
from torch import Tensor

from sith.decompose import _kernels
from sith.decompose.methods import (
    DEFAULT_LAMBDA,
    DEFAULT_METHOD,
    METHOD_TABLE,
    METHODS,
    OPTION_METHODS,
    SEED_METHODS,
    is_seed_method,
    parse_method,
)
from sith.decompose.options import lasso, ncomp, somp
from sith.decompose.running import SparseCode, check_lambda, greedy_kernel, run_chunks

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "METHOD_TABLE",
    "OPTION_METHODS",
    "SEED_METHODS",
    "SOLVERS",
    "is_seed_method",
    "parse_method",
    "solve",
]

# ------------------------------------------------------------------- the seed's solvers


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
    """The seed's Coherent OMP, COMP-λ (docs/method.md §5); ``lam = 0`` is its non-negative OMP.

    Step ``t`` picks the not-yet-chosen ``argmax_j ⟨r, a_j⟩ + λ·mean_{s∈S}⟨a_j, a_s⟩``
    (one matmul with ``r + λ·mean_s a_s``), then ``w = argmin_{w ≥ 0} ‖y − Σ w_s a_s‖``
    (batched Lawson–Hanson). Exactly ``k`` steps; a zero-weight pick stays.

    Returns:
        :class:`SparseCode` ``(B, k)``, weights ``≥ 0``, sorted by weight descending.
    """
    kern = greedy_kernel("seed", check_lambda(lam, math.inf), 0.0)
    return run_chunks(targets, atoms, k, kern, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk)


def omp(
    targets: Tensor,
    atoms: Tensor,
    k: int,
    *,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    atom_chunk: int | None = None,
) -> SparseCode:
    """The seed's ``omp``: non-negative OMP, i.e. :func:`comp` with ``λ = 0`` (docs/method.md §5)."""
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
    """The seed's non-negative matching pursuit (docs/method.md §5 ``mp``): ``k`` steps, no refit.

    Returns:
        :class:`SparseCode` ``(B, k)``, weights ``max(⟨r, a_j⟩, 0)``, sorted descending.
    """

    def kernel(Y: Tensor, A: Tensor, k: int, ac: int) -> tuple[Tensor, Tensor]:
        return _kernels.matching_pursuit(Y, A, k, atom_chunk=ac)

    return run_chunks(targets, atoms, k, kernel, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk)


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

    return run_chunks(targets, atoms, k, kernel, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk)


#: Each method's solver (the names of :data:`sith.decompose.methods.METHOD_TABLE`).
SOLVERS: dict[str, Callable[..., SparseCode]] = {
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
    method: str = DEFAULT_METHOD,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    atom_chunk: int | None = None,
    progress: bool = False,
) -> SparseCode:
    """Explain each unit target as a ``k``-sparse non-negative combination of unit atoms (docs/method.md §5).

    Args:
        targets: ``(B, e)`` unit rows (e.g. a layer's singular vectors in joint space).
        atoms: ``(N, e)`` unit rows (the concept dictionary).
        k: sparsity, ``1 ≤ k ≤ N`` (the configuration's ``sparsity``).
        method: ``comp-λ``, ``omp``, ``mp``, ``topk`` (the seed's) or ``ncomp-λ``, ``somp``,
            ``lasso[-l1]`` (the project's options); see :func:`parse_method`.
        chunk_size: targets per chunk (default: all; lasso: memory-bounded).
        device: compute device (default: the targets').
        atom_chunk: atoms per correlation slice (default: ``2^25 / rows`` atoms, ≥ 1024).
        progress: a progress bar (stderr) for the iterative solvers (``lasso``); the greedy
            ones run K steps and need none.

    Returns:
        :class:`SparseCode` with ``weights``/``indices`` ``(B, k)`` sorted by weight
        descending, ``fidelity`` ``(B,)``.
    """
    name, params = parse_method(method)
    if name == "lasso":
        params = {**params, "progress": progress}
    return SOLVERS[name](
        targets, atoms, k, chunk_size=chunk_size, device=device, atom_chunk=atom_chunk, **params
    )
