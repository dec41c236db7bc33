"""Checking inputs and running a solver kernel over chunks of targets (docs/method.md §5).

Every solver (:mod:`sith.decompose.solvers`, :mod:`sith.decompose.options`) validates its
inputs here (unit rows, widths, sparsity), moves them to the compute device as float32 and
runs its kernel chunk by chunk; each chunk's pairs are sorted by weight (descending) and its
fidelity computed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from sith.decompose import _kernels
from sith.decompose.methods import FORMS
from sith.errors import ConfigError, SithError

UNIT_TOL = 1e-3
SLICE_ELEMENTS = 1 << 25  # target rows × atoms per correlation slice (128 MiB in float32)


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


def check_unit(x: Tensor, what: str) -> None:
    dev = (torch.linalg.vector_norm(x, dim=1) - 1.0).abs()
    worst = float(dev.max()) if dev.numel() else 0.0
    if not worst <= UNIT_TOL:  # also catches NaN
        raise SithError(
            f"{what} rows must have unit L2 norm (worst |‖row‖−1| = {worst:.3g} > {UNIT_TOL}); "
            "normalise them first, e.g. torch.nn.functional.normalize(x, dim=1)"
        )


def check_int(value: object, what: str, *, low: int, high: int | None, fix: str) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"≥ {low}"
        raise ConfigError(what, f"{{name}} must be an integer {bound} (got {value!r}); {fix}", value=value)
    return int(value)


def prepare(
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
    k = check_int(k, "sparsity", low=1, high=atoms.shape[0], fix="choose {name} in that range")
    dev = torch.device(device) if device is not None else targets.device
    Y = targets.detach().to(dev, torch.float32)
    A = atoms.detach().to(dev, torch.float32)
    check_unit(Y, "targets")
    check_unit(A, "atoms")
    return Y, A, k


Kernel = Callable[[Tensor, Tensor, int, int], tuple[Tensor, Tensor]]


def run_chunks(
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
    Y, A, k = prepare(targets, atoms, k, device)
    B, N = Y.shape[0], A.shape[0]
    if chunk_size is not None:
        check_int(chunk_size, "chunk_size", low=1, high=None, fix="pass a positive chunk size")
    if atom_chunk is not None:
        check_int(atom_chunk, "atom_chunk", low=1, high=None, fix="pass a positive atom chunk")
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


def greedy_kernel(mode: str, lam: float, tol: float) -> Kernel:
    def kernel(Y: Tensor, A: Tensor, k: int, ac: int) -> tuple[Tensor, Tensor]:
        return _kernels.greedy_pursuit(Y, A, k, mode=mode, lam=lam, tol=tol, atom_chunk=ac)

    return kernel


def check_tol(tol: float) -> float:
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        msg = f"{{name}} must be a finite number ≥ 0 (got {tol!r}); pass e.g. 1e-6"
        raise ConfigError("tol", msg, value=tol)
    return float(tol)


def check_lambda(lam: float, high: float) -> float:
    if not (isinstance(lam, (int, float)) and math.isfinite(lam) and 0.0 <= lam <= high):
        raise SithError(f"λ must be in [0, {high}] (got {lam!r}); valid forms: {FORMS}")
    return float(lam)
