"""Component activations: each singular component's exact share of a head's output (docs/method.md §2).

With ``W = C·diag(γ1)·W_V^h·W_O^h·C = U S Vᵀ`` (fold-ln) and ``x̂_t`` the ln_1-normalised
input token (``x̂_t·C = x̂_t``), the head's class-token output, bias paths aside and
centred, is ``Σ_t a_t x̂_t W = Σ_i s_i ⟨z, u_i⟩ v_iᵀ`` with ``z = Σ_t a_t x̂_t`` and
``a = softmax`` row of the class token. So component ``i``'s activation

    act_i = s_i · ⟨z, u_i⟩                      (its coefficient along v_i)

and its per-token terms ``s_i · a_t · ⟨x̂_t, u_i⟩`` sum to it (where the head reads it from).
"""

from __future__ import annotations

import torch
from torch import Tensor

from sith.factor import HeadSVD
from sith.ground.capture import Capture


def component_activations(cap: Capture, svd: HeadSVD, rank: int) -> Tensor:
    """``(B, H, rank)`` activations ``s_i ⟨Σ_t a_t x̂_t, u_i⟩`` of the top-``rank`` components.

    Args:
        cap: ``xhat (B, T, d)``, ``attn (B, H, T)`` of one layer.
        svd: the layer's ``HeadSVD`` (``U (H, d, r)``, ``S (H, r)``).
        rank: how many leading components.
    """
    U = svd.U[:, :, :rank].to(cap.xhat)
    S = svd.S[:, :rank].to(cap.xhat)
    z = torch.einsum("bht,btd->bhd", cap.attn, cap.xhat)
    return torch.einsum("bhd,hdr->bhr", z, U) * S


def token_terms(cap: Capture, svd: HeadSVD, rank: int) -> Tensor:
    """``(B, H, rank, T)`` per-token terms ``s_i · a_t · ⟨x̂_t, u_i⟩`` (sum over T = activation)."""
    U = svd.U[:, :, :rank].to(cap.xhat)
    S = svd.S[:, :rank].to(cap.xhat)
    proj = torch.einsum("btd,hdr->bhrt", cap.xhat, U)
    return proj * cap.attn[:, :, None, :] * S[None, :, :, None]
