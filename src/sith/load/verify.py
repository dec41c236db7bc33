"""Check that the extracted weight view reproduces the real attention blocks (docs/method.md §1).

For every residual block ``l`` the model's own modules are run on random tokens
``x`` (batch 2, ``n_tokens`` tokens of width ``d``) with hooks that capture the block's
input and the attention's contribution to the residual stream (after LayerScale).
The contribution is then recomposed from :class:`~sith.load.weights.LayerWeights`::

    x̂      = LayerNorm(x; γ1, β1)
    A^h    = softmax((x̂ W_q^h + b_q^h)(x̂ W_k^h + b_k^h)ᵀ · scale)       (T × T)
    out    = Σ_h A^h (x̂ W_V^h + b_V^h) W_O^h + b_O                        (T × d)

``W_q``/``W_k`` are read from the model here, only for this check: the analysis itself
never uses them. LayerScale is already folded into ``W_O``/``b_O``. The recomposition is
done in float64, so the error measures the model's own float32 rounding plus any
extraction mistake.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from sith.errors import SithError
from sith.load.registry import backend
from sith.load.weights import LayerWeights


@dataclass(frozen=True)
class AttentionSite:
    """Where to hook one block of a real model, and its query/key weights (for verify only).

    Attributes:
        block: the residual block; its (first) input is the residual stream ``x``.
        output: module whose output (first element if a tuple) is the attention's
            contribution to the residual stream, LayerScale applied.
        ln_eps: ``eps`` of the block's ``ln_1``.
        W_q, W_k: ``(d, d)`` in ``nn.Linear`` layout (``out × in``); ``b_q``, ``b_k`` ``(d,)``.
        scale: attention logit scale (``dh ** -0.5`` for standard attention).
        batch_first: whether captured tensors are ``(B, T, d)`` (else ``(T, B, d)``).
    """

    block: nn.Module
    output: nn.Module
    ln_eps: float
    W_q: Tensor
    b_q: Tensor
    W_k: Tensor
    b_k: Tensor
    scale: float
    batch_first: bool = True


def recompose(x: Tensor, lw: LayerWeights, site: AttentionSite) -> Tensor:
    """The attention contribution recomposed from the weight view (module doc), float64.

    Args:
        x: ``(B, T, d)`` residual stream entering the block.
        lw: the extracted weights of that block.
        site: query/key weights and LayerNorm eps of the block.

    Returns:
        ``(B, T, d)`` float64.
    """
    x = x.double()
    H, d, dh = lw.W_V.shape
    xh = torch.nn.functional.layer_norm(
        x, (d,), lw.ln1_weight.double().to(x.device), lw.ln1_bias.double().to(x.device), site.ln_eps
    )
    B, T, _ = xh.shape

    def heads(W: Tensor, b: Tensor) -> Tensor:  # (B, H, T, dh)
        y = xh @ W.double().to(x.device).T + b.double().to(x.device)
        return y.reshape(B, T, H, dh).transpose(1, 2)

    q, k = heads(site.W_q, site.b_q), heads(site.W_k, site.b_k)
    attn = torch.softmax((q @ k.transpose(-1, -2)) * site.scale, dim=-1)  # (B, H, T, T)
    W_V, b_V = lw.W_V.double().to(x.device), lw.b_V.double().to(x.device)
    v = torch.einsum("btd,hde->bhte", xh, W_V) + b_V[None, :, None, :]  # (B, H, T, dh)
    z = attn @ v  # (B, H, T, dh)
    out = torch.einsum("bhte,hed->btd", z, lw.W_O.double().to(x.device))
    return out + lw.b_O.double().to(x.device)


#: The largest max-abs error per layer that :func:`failing_layers` accepts. The check feeds
#: unit-normal inputs; float32 rounding gives about 1e-6 (organism: 9.5e-7), a weight view that
#: misses a term (bias, LayerScale, a wrong head split) gives 1e-2 or more.
VERIFY_TOL = 1e-4


def failing_layers(errors: list[float], tol: float = VERIFY_TOL) -> list[int]:
    """Layers whose error is above ``tol`` or not a finite number (NaN, inf)."""
    return [i for i, e in enumerate(errors) if not (math.isfinite(e) and e <= tol)]


def verify(clip: Any, *, n_tokens: int = 8, seed: int = 0) -> list[float]:
    """Max absolute error, per layer, between the real attention output and the recomposition.

    Args:
        clip: a :class:`~sith.load.clip.LoadedClip`.
        n_tokens: tokens per random sequence (batch of 2 sequences).
        seed: seed of the random tokens (deterministic).

    Returns:
        ``[err_0, ..., err_{L-1}]``: ``max |out_model - out_weights|`` over batch, tokens
        and channels, for each block. Errors around 1e-6 x the output scale are fp32
        rounding; anything large means the weight view does not describe the model.
    """
    if not isinstance(n_tokens, int) or n_tokens < 1:
        raise SithError(f"n_tokens must be a positive integer, got {n_tokens!r}; use e.g. 8")
    be = backend(clip.info.source)
    sites: list[AttentionSite] = be.attention_sites(clip.model)
    if len(sites) != clip.weights.n_layers:
        raise SithError(
            f"the model has {len(sites)} blocks but its weight view has {clip.weights.n_layers}; "
            "reload the model with load_clip"
        )
    inputs: dict[int, Tensor] = {}
    outputs: dict[int, Tensor] = {}
    handles = []
    try:
        for i, site in enumerate(sites):
            handles.append(
                site.block.register_forward_pre_hook(_grab_input(inputs, i, site), with_kwargs=True)
            )
            handles.append(site.output.register_forward_hook(_grab_output(outputs, i, site)))
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(2, n_tokens, clip.weights.d_model, generator=gen).to(clip.device)
        with torch.no_grad():
            be.run_blocks(clip.model, x)
    finally:
        for h in handles:
            h.remove()
    errors = []
    for i, site in enumerate(sites):
        if i not in inputs or i not in outputs:
            raise SithError(
                f"layer {i} was not reached by the forward pass; the model's block structure is "
                "not the standard one, so it cannot be verified or analysed"
            )
        expected = recompose(inputs[i], clip.weights.layers[i], site)
        errors.append(float((outputs[i].double() - expected).abs().max().item()))
    return errors


def _to_batch_first(t: Tensor, site: AttentionSite) -> Tensor:
    return t if site.batch_first else t.transpose(0, 1)


def _grab_input(store: dict[int, Tensor], i: int, site: AttentionSite):
    def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
        x = args[0] if args else kwargs.get("hidden_states", kwargs.get("q_x"))
        if not isinstance(x, Tensor):
            return
        store[i] = _to_batch_first(x.detach(), site)

    return hook


def _grab_output(store: dict[int, Tensor], i: int, site: AttentionSite):
    def hook(module: nn.Module, args: tuple, output: Any) -> None:
        out = output[0] if isinstance(output, tuple) else output
        store[i] = _to_batch_first(out.detach(), site)

    return hook
