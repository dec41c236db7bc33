"""Factor stage: each head's value-output matrix as a factored low-rank product (docs/method.md §1–2).

``W_VO^h = W_V^h @ W_O^h`` is ``d × d`` but has rank ``≤ dh``. :class:`FactoredMatrix`
keeps it as the product ``A @ B`` of thin factors (batched over heads) and computes
its SVD exactly from QR factors of ``A`` and ``Bᵀ`` and the SVD of a small
``dh × dh`` middle matrix, as TransformerLens' ``FactoredMatrix`` does. The ``d × d``
matrix is only built on request (:attr:`FactoredMatrix.dense`, documented as expensive).

Naming is settled once: ``U`` ``(..., d, r)`` has the left singular vectors as
**columns** (the directions a head reads), ``S`` ``(..., r)`` descending, and ``Vh``
``(..., r, d)`` has the right singular vectors as **rows** (the directions a head
writes), so that ``W = U @ diag(S) @ Vh``.

Sign rule (docs/method.md §2, the seed's): SVD vectors are defined up to a joint sign flip
of ``(u_i, v_i)``. In each column of ``U`` the entry of largest ``|·|`` is made positive
and the matching row of ``Vh`` flips with it. The product ``u_i s_i v_iᵀ`` is unchanged;
the rule fixes which sign is explained (the seed explains exactly that sign).
"""

from __future__ import annotations

from functools import cached_property
from typing import NamedTuple

import torch
from torch import Tensor

from sith.errors import ConfigError, SithError
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
        idx = U.abs().argmax(dim=-2, keepdim=True)  # (..., 1, r): largest |entry| per column
        sign = torch.sign(torch.gather(U, -2, idx))
        sign[sign == 0] = 1.0
        U = U * sign
        Vh = Vh * sign.transpose(-1, -2)
        dtype = self.A.dtype
        return HeadSVD(U.to(dtype), S.to(dtype), Vh.to(dtype))


def centering(B: Tensor) -> Tensor:
    """``B @ C`` with ``C = I − 11ᵀ/d``: subtract each row's mean (docs/method.md §2)."""
    return B - B.mean(dim=-1, keepdim=True)


def read_factor(weights: VisionWeights, layer: int, *, fold_ln: bool) -> Tensor:
    """The read-side factor ``R`` ``(H, d, dh)``: ``C·diag(γ1)·W_V^h`` (foldln) or ``W_V^h``.

    An edit of ``W = R @ B`` is carried by ``W_O`` through ``pinv(R)`` (docs/method.md §6).
    """
    lw = weights.layers[check_layer(weights, layer)]
    if not fold_ln:
        return lw.W_V
    A = lw.ln1_weight[None, :, None] * lw.W_V
    return A - A.mean(dim=-2, keepdim=True)


def head_vo(weights: VisionWeights, layer: int, *, fold_ln: bool) -> FactoredMatrix:
    """Every head's VO matrix of ``layer`` as a factored product (docs/method.md §2).

    * ``fold_ln=False`` (``nofoldln``): ``W = W_V^h @ W_O^h``.
    * ``fold_ln=True`` (``foldln``, the seed's default): ``W = C·diag(γ1)·W_V^h @ W_O^h·C`` —
      ln_1's gain folded into the read side, both sides centred; γpost is not folded.

    Returns:
        :class:`FactoredMatrix` with ``A (H, d, dh)``, ``B (H, dh, d)``.
    """
    lw = weights.layers[check_layer(weights, layer)]
    B = centering(lw.W_O) if fold_ln else lw.W_O
    return FactoredMatrix(read_factor(weights, layer, fold_ln=fold_ln), B)


def layer_svd(weights: VisionWeights, layer: int, *, fold_ln: bool) -> HeadSVD:
    """Every head's SVD of ``layer`` (:func:`head_vo`'s, docs/method.md §2), computed once per
    weight view and ``(layer, fold_ln)`` and kept on it (``weights.derived``), as TransformerLens
    keeps ``OV`` on the model: decompose, search and edit of one model share it.

    Returns:
        :class:`HeadSVD` with ``U (H, d, dh)``, ``S (H, dh)``, ``Vh (H, dh, d)``.
    """
    key = ("layer_svd", check_layer(weights, layer), bool(fold_ln))
    if key not in weights.derived:
        weights.derived[key] = head_vo(weights, key[1], fold_ln=key[2]).svd
    return weights.derived[key]


def ln_post(weights: VisionWeights, x: Tensor) -> Tensor:
    """The model's full ln_post on rows ``x`` ``(..., d)``, float64 (docs/method.md §3):
    ``((x − mean x)/sqrt(var x + eps))·γpost + βpost`` (biased variance, as LayerNorm)."""
    x = x.double()
    xc = x - x.mean(dim=-1, keepdim=True)
    var = (xc * xc).mean(dim=-1, keepdim=True)
    y = xc / torch.sqrt(var + weights.ln_post_eps)
    return y * weights.ln_post_weight.double() + weights.ln_post_bias.double()


def unit(x: Tensor) -> Tensor:
    """Rows of ``x`` scaled to unit L2 norm (a zero row stays zero)."""
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(1e-30)


def joint_targets(weights: VisionWeights, x: Tensor, image_mean: Tensor | None) -> Tensor:
    """Map residual-stream rows ``x`` ``(..., d)`` to unit joint-space targets ``(..., e)``
    (docs/method.md §3).

    ``t = LN_post(x)·P``, normalise; then, with the image mean ``m`` ``(e,)``: ``t − m``,
    normalise. ``image_mean=None`` skips the subtraction (a project option, not the seed's).
    """
    t = unit(ln_post(weights, x) @ weights.proj.double())
    if image_mean is not None:
        m = image_mean.detach().double().reshape(-1).to(t.device)
        if m.shape[0] != t.shape[-1]:
            raise SithError(
                f"the image mean has width {m.shape[0]} but this model's joint space has "
                f"{t.shape[-1]}; compute the image mean with this model (`sith image-mean`)"
            )
        t = unit(t - m)
    return t.float()


def check_layer(weights: VisionWeights, layer: int) -> int:
    """Validate a layer index (negative counts from the end); SithError if out of range."""
    n = weights.n_layers
    if not -n <= layer < n:
        raise ConfigError(
            "layers",
            f"layer {layer} is out of range: this model has layers 0..{n - 1}; pass {{name}} within it",
            value=layer,
        )
    return layer % n


def check_rank(weights: VisionWeights, rank: int) -> int:
    """Validate ``rank`` against the head width ``dh``; SithError if it is not in 1..dh."""
    if not 1 <= rank <= weights.d_head:
        raise ConfigError(
            "rank",
            f"{{name}} {rank} is invalid: heads of this model have width {weights.d_head}; "
            f"pass {{name}} between 1 and {weights.d_head}",
            value=rank,
        )
    return rank


class SingularTargets(NamedTuple):
    """Joint-space targets of one layer's singular vectors (docs/method.md §3).

    Attributes:
        vectors: ``(H, rank, e)`` unit targets (sign rule of the module doc).
        singular_values: ``(H, rank)`` descending per head.
        tied: ``(H, rank)`` True where a singular value is within ``TIE_RTOL`` of a neighbour.
    """

    vectors: Tensor
    singular_values: Tensor
    tied: Tensor


def tied_mask(S: Tensor, rtol: float = TIE_RTOL) -> Tensor:
    """``(..., r)`` True where ``s_i`` is within ``rtol·s_i`` of ``s_{i−1}`` or ``s_{i+1}``."""
    gap = (S[..., :-1] - S[..., 1:]).abs() <= rtol * S[..., :-1].abs().clamp_min(1e-30)
    out = torch.zeros_like(S, dtype=torch.bool)
    out[..., :-1] |= gap
    out[..., 1:] |= gap
    return out


def singular_directions(svd: HeadSVD, sv_type: str, rank: int) -> Tensor:
    """The top-``rank`` singular vectors as rows ``(H, rank, d)``: rows of ``Vh`` (``right``,
    what a head writes) or columns of ``U`` (``left``, what it reads)."""
    if sv_type == "right":
        return svd.Vh[:, :rank, :]
    if sv_type == "left":
        return svd.U[:, :, :rank].transpose(-1, -2)
    raise ConfigError("sv_type", f"unknown {{name}} {sv_type!r}; use 'left' or 'right'", value=sv_type)


def singular_targets(
    weights: VisionWeights,
    layer: int,
    *,
    fold_ln: bool = True,
    sv_type: str = "right",
    rank: int = 64,
    image_mean: Tensor | None = None,
) -> SingularTargets:
    """Map the top-``rank`` singular vectors of every head of ``layer`` to the joint space.

    Each vector ``x`` (a row of ``Vh`` for ``right``, a column of ``U`` for ``left``) is
    treated as a residual-stream state and mapped by :func:`joint_targets` (docs/method.md §3);
    the SVD is the view's cached one (:func:`layer_svd`).

    Returns:
        :class:`SingularTargets` with ``vectors (H, rank, e)``.
    """
    check_layer(weights, layer)
    rank = check_rank(weights, rank)
    svd = layer_svd(weights, layer, fold_ln=fold_ln)
    vectors = joint_targets(weights, singular_directions(svd, sv_type, rank), image_mean)
    return SingularTargets(vectors, svd.S[:, :rank], tied_mask(svd.S)[:, :rank])
