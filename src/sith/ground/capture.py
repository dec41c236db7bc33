"""Model adapter for grounding: capture what each analysed head reads (docs/method.md §1–2).

One forward pass per batch, with a forward pre-hook on every analysed block. The hook
takes the residual stream ``x (B, T, d)`` entering the block and computes, from the
block's own weights (:func:`sith.load.clip.backend` ``.attention_sites``, which keeps the
open_clip / Hugging Face specifics):

    x̂   = (x − mean x) / sqrt(var x + eps)            ln_1 before γ1, β1     (B, T, d)
    q,k = (x̂·diag(γ1) + β1) W_q|k + b_q|k             per head               (B, H, T, dh)
    a   = softmax(q_cls · kᵀ · scale)                  class-token attention  (B, H, T)

so nothing depends on ``nn.MultiheadAttention`` returning its weights. Only the class
token's attention row is kept (what the pooled output reads).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from sith.errors import SithError
from sith.load.clip import backend
from sith.load.verify import AttentionSite
from sith.load.weights import LayerWeights


@dataclass(frozen=True)
class Capture:
    """What one block's heads read for a batch.

    Attributes:
        xhat: ``(B, T, d)`` normalised ln_1 input (no γ1, β1), token 0 = class token.
        attn: ``(B, H, T)`` class-token attention probabilities per head.
    """

    xhat: Tensor
    attn: Tensor


def class_attention(x: Tensor, lw: LayerWeights, site: AttentionSite) -> Capture:
    """The :class:`Capture` of one block from its input ``x (B, T, d)`` (module doc).

    Args:
        x: residual stream entering the block, batch-first.
        lw: the block's extracted weights (γ1, β1 and the head count come from it).
        site: the block's query/key weights, ln eps and logit scale.
    """
    x = x.float()
    B, T, d = x.shape
    H = lw.n_heads
    dh = d // H
    mu = x.mean(-1, keepdim=True)
    var = x.var(-1, keepdim=True, unbiased=False)
    xhat = (x - mu) / torch.sqrt(var + site.ln_eps)
    ln = xhat * lw.ln1_weight.to(x.device) + lw.ln1_bias.to(x.device)
    q = ln[:, :1] @ site.W_q.float().T + site.b_q.float()  # (B, 1, d)
    k = ln @ site.W_k.float().T + site.b_k.float()  # (B, T, d)
    q = q.reshape(B, H, dh)
    k = k.reshape(B, T, H, dh).transpose(1, 2)  # (B, H, T, dh)
    logits = torch.einsum("bhe,bhte->bht", q, k) * site.scale
    return Capture(xhat=xhat, attn=torch.softmax(logits, dim=-1))


@contextmanager
def capturing(clip: Any, layers: list[int]) -> Iterator[dict[int, Capture]]:
    """Hook ``layers`` of ``clip.model``; the yielded dict fills with one Capture per layer
    at every forward pass (overwritten by the next pass)."""
    sites: list[AttentionSite] = backend(clip.info.source).attention_sites(clip.model)
    if len(sites) != clip.weights.n_layers:
        raise SithError(
            f"the model has {len(sites)} blocks but its weight view has {clip.weights.n_layers}; "
            "reload it with sith.load.load_clip"
        )
    store: dict[int, Capture] = {}
    handles = []
    try:
        for layer in layers:
            site = sites[layer]
            lw = clip.weights.layers[layer]
            hook = _pre_hook(store, layer, lw, site)
            handles.append(site.block.register_forward_pre_hook(hook, with_kwargs=True))
        yield store
    finally:
        for h in handles:
            h.remove()


def _pre_hook(store: dict[int, Capture], layer: int, lw: LayerWeights, site: AttentionSite):
    def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
        x = args[0] if args else kwargs.get("hidden_states", kwargs.get("q_x"))
        if not isinstance(x, Tensor):
            raise SithError(f"layer {layer}: could not find the block input to hook; unsupported model")
        if not site.batch_first:
            x = x.transpose(0, 1)
        with torch.no_grad():
            store[layer] = class_attention(x.detach(), lw, site)

    return hook
