"""Factor stage: each head's value-output matrix as a factored low-rank product (METHOD.md §1–2).

``W_VO^h = W_V^h @ W_O^h`` is ``d × d`` but has rank ``≤ dh``. :class:`FactoredMatrix`
keeps it as the product ``A @ B`` of thin factors (batched over heads) and computes
its SVD exactly from QR factors of ``A`` and ``Bᵀ`` and the SVD of a small
``dh × dh`` middle matrix, as TransformerLens' ``FactoredMatrix`` does. The ``d × d``
matrix is only built on request (:attr:`FactoredMatrix.dense`, documented as expensive).

Naming is settled once: ``U`` ``(..., d, r)`` has the left singular vectors as
**columns** (the directions a head reads), ``S`` ``(..., r)`` descending, and ``Vh``
``(..., r, d)`` has the right singular vectors as **rows** (the directions a head
writes), so that ``W = U @ diag(S) @ Vh``.

Sign rule (METHOD.md §2 leaves it to us): SVD vectors are defined up to a joint
sign flip of ``(u_i, v_i)``. We flip each pair so that the largest-magnitude
coordinate of ``v_i`` (the right vector, in the residual basis) is positive. The
product ``u_i s_i v_iᵀ`` is unchanged, so the rule only fixes which polarity is
called "+"; the decomposition stage then explains the polarity that fits better.
"""

from __future__ import annotations

from functools import cached_property
from typing import NamedTuple

import torch
from torch import Tensor

from sith.errors import SithError
from sith.load.weights import VisionWeights

#: Consecutive singular values whose relative gap is below this are flagged as
#: nearly tied: their vectors are not individually identifiable (only their span is).
TIE_RTOL = 1e-2


class HeadSVD(NamedTuple):
    """Batched thin SVD ``W = U @ diag(S) @ Vh``: ``U (..., d, r)``, ``S (..., r)``, ``Vh (..., r, d)``."""

    U: Tensor
    S: Tensor
    Vh: Tensor


class FactoredMatrix:
    """A (batched) low-rank product ``A @ B`` that never materialises the full matrix.

    Args:
        A: ``(..., m, r)`` left factor.
        B: ``(..., r, n)`` right factor.
    """

    def __init__(self, A: Tensor, B: Tensor) -> None:
        if A.shape[-1] != B.shape[-2]:
            raise ValueError(f"inner dimensions differ: A {tuple(A.shape)}, B {tuple(B.shape)}")
        self.A = A
        self.B = B

    @property
    def shape(self) -> tuple[int, ...]:
        return (*self.A.shape[:-1], self.B.shape[-1])

    @property
    def dense(self) -> Tensor:
        """The full ``(..., m, n)`` product. Expensive: ``m × n`` memory per head."""
        return self.A @ self.B

    def __matmul__(self, other: Tensor) -> Tensor:
        """``(A @ B) @ other`` computed as ``A @ (B @ other)``."""
        return self.A @ (self.B @ other)

    def __rmatmul__(self, other: Tensor) -> Tensor:
        """``other @ (A @ B)`` computed as ``(other @ A) @ B``."""
        return (other @ self.A) @ self.B

    @cached_property
    def svd(self) -> HeadSVD:
        """Exact thin SVD with the sign rule of the module doc, in float64 internally.

        ``A = Qa Ra``, ``Bᵀ = Qb Rb`` (reduced QR), ``Ra Rbᵀ = Um S Vmᵀ``; then
        ``U = Qa Um`` and ``V = Qb Vm``. Rank ``r = A.shape[-1]`` (zero singular
        values included when the product is rank-deficient).
        """
        A = self.A.double()
        B = self.B.double()
        Qa, Ra = torch.linalg.qr(A)
        Qb, Rb = torch.linalg.qr(B.transpose(-1, -2))
        Um, S, Vmh = torch.linalg.svd(Ra @ Rb.transpose(-1, -2))
        U = Qa @ Um
        Vh = Vmh @ Qb.transpose(-1, -2)
        idx = Vh.abs().argmax(dim=-1, keepdim=True)
        sign = torch.sign(torch.gather(Vh, -1, idx))
        sign[sign == 0] = 1.0
        Vh = Vh * sign
        U = U * sign.transpose(-1, -2)
        dtype = self.A.dtype
        return HeadSVD(U.to(dtype), S.to(dtype), Vh.to(dtype))


def centering(B: Tensor) -> Tensor:
    """``B @ C`` with ``C = I − 11ᵀ/d``: subtract each row's mean (METHOD.md §2)."""
    return B - B.mean(dim=-1, keepdim=True)


def head_vo(weights: VisionWeights, layer: int, *, fold_ln: bool) -> FactoredMatrix:
    """Every head's VO matrix of ``layer`` as a factored product (METHOD.md §2).

    * ``fold_ln=False``: ``W_V^h @ W_O^h``.
    * ``fold_ln=True``: ``diag(γ1) W_V^h @ W_O^h C diag(γpost)``.

    Returns:
        :class:`FactoredMatrix` with ``A (H, d, dh)``, ``B (H, dh, d)``.
    """
    lw = weights.layers[check_layer(weights, layer)]
    if not fold_ln:
        return FactoredMatrix(lw.W_V, lw.W_O)
    A = lw.ln1_weight[None, :, None] * lw.W_V
    B = centering(lw.W_O) * weights.ln_post_weight[None, None, :]
    return FactoredMatrix(A, B)


def joint_map(weights: VisionWeights, *, fold_ln: bool) -> Tensor:
    """The linear map from residual directions to the joint space, ``(d, e)`` (METHOD.md §2).

    ``fold_ln=True``: ``P`` (centering and γpost are already in the folded matrix).
    ``fold_ln=False``: ``M = C · diag(γpost) · P``.
    """
    P = weights.proj
    if fold_ln:
        return P
    return centering((weights.ln_post_weight[:, None] * P).T).T


def check_layer(weights: VisionWeights, layer: int) -> int:
    """Validate a layer index (negative counts from the end); SithError if out of range."""
    n = weights.n_layers
    if not -n <= layer < n:
        raise SithError(
            f"layer {layer} is out of range: this model has layers 0..{n - 1}; pass --layers within it"
        )
    return layer % n


def check_rank(weights: VisionWeights, rank: int) -> int:
    """Validate ``rank`` against the head width ``dh``; SithError if it is not in 1..dh."""
    if not 1 <= rank <= weights.d_head:
        raise SithError(
            f"rank {rank} is invalid: heads of this model have width {weights.d_head}; "
            f"pass --rank between 1 and {weights.d_head}"
        )
    return rank


class SingularTargets(NamedTuple):
    """Joint-space images of one layer's singular vectors.

    Attributes:
        vectors: ``(H, rank, e)`` unit vectors (canonical sign, see module doc).
        singular_values: ``(H, rank)`` descending per head.
        map_norm: ``(H, rank)`` norm of each mapped vector before normalisation (how much
            of the direction survives the map to the joint space).
        tied: ``(H, rank)`` True where a singular value is within ``TIE_RTOL`` of a neighbour.
    """

    vectors: Tensor
    singular_values: Tensor
    map_norm: Tensor
    tied: Tensor


def tied_mask(S: Tensor, rtol: float = TIE_RTOL) -> Tensor:
    """``(..., r)`` True where ``s_i`` is within ``rtol·s_i`` of ``s_{i−1}`` or ``s_{i+1}``."""
    gap = (S[..., :-1] - S[..., 1:]).abs() <= rtol * S[..., :-1].abs().clamp_min(1e-30)
    out = torch.zeros_like(S, dtype=torch.bool)
    out[..., :-1] |= gap
    out[..., 1:] |= gap
    return out


def singular_targets(
    weights: VisionWeights,
    layer: int,
    *,
    fold_ln: bool = True,
    sv_type: str = "right",
    rank: int = 64,
) -> SingularTargets:
    """Map the top-``rank`` singular vectors of every head of ``layer`` to the joint space.

    Right vectors (rows of ``Vh``) are what a head writes; left vectors (columns of
    ``U``) what it reads. Both go through :func:`joint_map` (for ``left`` this is an
    approximation: the read direction is treated as if written; METHOD.md §2).

    Returns:
        :class:`SingularTargets` with ``vectors (H, rank, e)``.
    """
    if sv_type not in ("left", "right"):
        raise SithError(f"unknown --sv-type {sv_type!r}; use 'left' or 'right'")
    check_layer(weights, layer)
    rank = check_rank(weights, rank)
    svd = head_vo(weights, layer, fold_ln=fold_ln).svd
    dirs = svd.Vh[:, :rank, :] if sv_type == "right" else svd.U[:, :, :rank].transpose(-1, -2)
    mapped = dirs @ joint_map(weights, fold_ln=fold_ln)
    norm = mapped.norm(dim=-1)
    vectors = mapped / norm.clamp_min(1e-12)[..., None]
    S = svd.S[:, :rank]
    return SingularTargets(vectors, S, norm, tied_mask(svd.S)[:, :rank])
