"""How a head moved between two models, from the SVDs of their fold-ln matrices (docs/method.md §2).

For one layer, ``W_b = U_b S_b V_bᵀ`` (base) and ``W_t = U_t S_t V_tᵀ`` (tuned), both from
:func:`sith.factor.head_vo` ``(fold_ln=True).svd``, batched over heads, rank ``dh``:

* singular-value change ``‖s_t − s_b‖ / ‖s_b‖``;
* principal angles between the top-``r`` read subspaces ``span U_b[:, :r]`` and
  ``span U_t[:, :r]`` (``arccos`` of the singular values of ``U_bᵀ U_t``), and between the
  write subspaces (``V``);
* each base component's best-matching tuned component: ``argmax_j |⟨v_i, v'_j⟩| + |⟨u_i, u'_j⟩|``,
  with both cosines;
* the SVD of ``ΔW = W_t − W_b = [U_t S_t, −U_b S_b] · [V_t, V_b]ᵀ`` (rank ≤ 2dh) from QR of
  the two ``d × 2dh`` factors and the SVD of the ``2dh × 2dh`` middle — never ``d × d``;
* the share of ``‖ΔW‖_F²`` inside the base's top-``r`` subspaces: left ``‖U_rᵀ ΔW‖²``,
  right ``‖ΔW V_r‖²``, both ``‖U_rᵀ ΔW V_r‖²`` over ``‖ΔW‖²`` ("reweighting" = both;
  "new directions" = 1 − both). All shares are 0 when ``ΔW = 0``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from sith.factor import HeadSVD


class DeltaSVD(NamedTuple):
    """``ΔW = U @ diag(S) @ Vh`` per head: ``U (H, d, 2dh)``, ``S (H, 2dh)``, ``Vh (H, 2dh, d)``."""

    U: Tensor
    S: Tensor
    Vh: Tensor


def principal_angles(A: Tensor, B: Tensor) -> Tensor:
    """``(H, r)`` principal angles in degrees, ascending, between the column spans of
    orthonormal ``A (H, d, r)`` and ``B (H, d, r)``.

    Cosines from ``svd(AᵀB)``, sines from ``svd(B − A AᵀB)``; small angles are taken from
    the sines (``arccos`` loses them to rounding), large ones from the cosines (Knyazev &
    Argentati, 2002).
    """
    A, B = A.double(), B.double()
    M = A.transpose(-1, -2) @ B
    cos = torch.linalg.svdvals(M).clamp(0.0, 1.0)  # descending
    sin = torch.linalg.svdvals(B - A @ M).clamp(0.0, 1.0).flip(-1)  # ascending
    by_cos = torch.arccos(cos)
    by_sin = torch.arcsin(sin)
    return torch.rad2deg(torch.where(cos**2 >= 0.5, by_sin, by_cos))


def best_match(base: HeadSVD, tuned: HeadSVD, r: int) -> tuple[Tensor, Tensor, Tensor]:
    """For each of the top-``r`` base components: ``(index, |cos v|, |cos u|)``, each ``(H, r)``."""
    cv = (base.Vh[:, :r].double() @ tuned.Vh.double().transpose(-1, -2)).abs()  # (H, r, dh)
    cu = (base.U[:, :, :r].double().transpose(-1, -2) @ tuned.U.double()).abs()
    idx = (cv + cu).argmax(-1)
    return idx, cv.gather(-1, idx[..., None])[..., 0], cu.gather(-1, idx[..., None])[..., 0]


def delta_svd(base: HeadSVD, tuned: HeadSVD) -> DeltaSVD:
    """Exact SVD of ``W_t − W_b`` from the factors (module doc), float64, with docs/method.md §2's
    sign rule (the largest-magnitude entry of each column of ``U`` positive)."""
    left = torch.cat([tuned.U.double() * tuned.S.double()[:, None, :],
                      -base.U.double() * base.S.double()[:, None, :]], dim=-1)  # (H, d, 2dh)
    right = torch.cat([tuned.Vh.double(), base.Vh.double()], dim=-2).transpose(-1, -2)  # (H, d, 2dh)
    Ql, Rl = torch.linalg.qr(left)
    Qr, Rr = torch.linalg.qr(right)
    Um, S, Vmh = torch.linalg.svd(Rl @ Rr.transpose(-1, -2))
    U = Ql @ Um
    Vh = Vmh @ Qr.transpose(-1, -2)
    sign = torch.sign(torch.gather(U, -2, U.abs().argmax(-2, keepdim=True)))  # (H, 1, 2dh)
    sign[sign == 0] = 1.0
    return DeltaSVD(U * sign, S, Vh * sign.transpose(-1, -2))


def energy_shares(base: HeadSVD, delta: DeltaSVD, r: int, *, rtol: float = 1e-12) -> dict[str, Tensor]:
    """``energy`` ``‖ΔW‖_F²`` and the inside shares ``left``, ``right``, ``both``, each ``(H,)``.

    ``ΔW`` with ``‖ΔW‖_F ≤ rtol·‖W_b‖_F`` (rounding) counts as zero: energy and shares 0.
    """
    Ur = base.U[:, :, :r].double()
    Vr = base.Vh[:, :r].double().transpose(-1, -2)  # (H, d, r)
    S = delta.S.double()
    energy = (S**2).sum(-1)
    energy = torch.where(energy <= rtol**2 * (base.S.double() ** 2).sum(-1), 0.0, energy)
    a = Ur.transpose(-1, -2) @ delta.U * S[:, None, :]  # U_rᵀ ΔU diag(S)  (H, r, 2dh)
    b = delta.Vh @ Vr  # ΔVᵀ V_r  (H, 2dh, r)
    left = (a**2).sum((-1, -2))
    right = ((S[:, :, None] * b) ** 2).sum((-1, -2))
    both = ((a @ b) ** 2).sum((-1, -2))
    safe = torch.where(energy > 0, energy, torch.ones_like(energy))
    zero = energy <= 0
    return {
        "energy": energy,
        "left": torch.where(zero, 0.0, left / safe).clamp(0.0, 1.0),
        "right": torch.where(zero, 0.0, right / safe).clamp(0.0, 1.0),
        "both": torch.where(zero, 0.0, both / safe).clamp(0.0, 1.0),
    }


def layer_metrics(base: HeadSVD, tuned: HeadSVD, r: int, delta_top: int) -> dict[str, Tensor]:
    """Every metric of the module doc for one layer; per-head scalars are ``(H,)``."""
    sb, st = base.S.double(), tuned.S.double()
    read = principal_angles(base.U[:, :, :r], tuned.U[:, :, :r])
    write = principal_angles(base.Vh[:, :r].transpose(-1, -2), tuned.Vh[:, :r].transpose(-1, -2))
    idx, cos_v, cos_u = best_match(base, tuned, r)
    delta = delta_svd(base, tuned)
    shares = energy_shares(base, delta, r)
    n = min(delta_top, delta.S.shape[-1])
    return {
        "s_base": sb,
        "s_tuned": st,
        "sv_change": (st - sb).norm(dim=-1) / sb.norm(dim=-1).clamp_min(1e-30),
        "read_angles": read,
        "write_angles": write,
        "read_angle_max": read[:, -1],
        "write_angle_max": write[:, -1],
        "read_angle_mean": read.mean(-1),
        "write_angle_mean": write.mean(-1),
        "match_index": idx,
        "match_cos_v": cos_v,
        "match_cos_u": cos_u,
        "match_cos_v_mean": cos_v.mean(-1),
        "match_cos_u_mean": cos_u.mean(-1),
        "delta_energy": shares["energy"],
        "delta_rel_energy": shares["energy"] / (sb**2).sum(-1).clamp_min(1e-30),
        "inside_left": shares["left"],
        "inside_right": shares["right"],
        "inside_both": shares["both"],
        "new_directions": torch.where(shares["energy"] > 0, 1.0 - shares["both"], 0.0),
        "delta_S": delta.S[:, :n],
        "delta_U": delta.U[:, :, :n],
        "delta_Vh": delta.Vh[:, :n],
    }


#: Per-head scalar metrics, in the order the JSON and the heatmaps list them.
HEAD_METRICS = (
    "sv_change", "read_angle_mean", "read_angle_max", "write_angle_mean", "write_angle_max",
    "match_cos_v_mean", "match_cos_u_mean", "delta_rel_energy", "inside_left", "inside_right",
    "inside_both", "new_directions",
)
