"""The uniform, read-only view of a CLIP vision tower's weights (docs/method.md §1).

Loaders for open_clip and Hugging Face produce a :class:`VisionWeights`; every
later stage (factor, decompose, edit) reads only this view. Row-vector
convention: a token is a row ``x`` of width ``d``; a head writes
``x̂ · diag(γ1) · W_V^h · W_O^h``.

Shapes (``L`` layers, ``H`` heads, ``d`` residual width, ``dh = d / H``,
``e`` joint-embedding width):

* ``W_V``  ``(H, d, dh)`` — ``W_V^h = Wv[h*dh:(h+1)*dh, :].T``
* ``W_O``  ``(H, dh, d)`` — ``W_O^h = Wo[:, h*dh:(h+1)*dh].T``, LayerScale folded in
* ``b_V``  ``(H, dh)``, ``b_O`` ``(d,)`` (LayerScale folded in)
* ``ln1_weight``/``ln1_bias`` ``(d,)``; ``ln_post_weight``/``ln_post_bias`` ``(d,)``
* ``proj`` ``(d, e)``; ``ln_post_eps`` the eps of ``ln_post``

The tensors are detached float32 copies: changing them never changes the model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor


@dataclass(frozen=True)
class ModelInfo:
    """Provenance of a loaded model.

    Attributes:
        model_name: open_clip architecture name, HF id/path, or ``sith-organism``.
        pretrained: open_clip pretrained tag, checkpoint path, or ``""``.
        source: ``"open_clip"`` or ``"hf"``.
        fingerprint: 16-hex-digit SHA-256 of every tensor of the vision tower
            (:func:`weights_fingerprint`); an edit log or decomposition made for
            another model is refused by it.
    """

    model_name: str
    pretrained: str
    source: str
    fingerprint: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "model_name": self.model_name,
            "pretrained": self.pretrained,
            "source": self.source,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class LayerWeights:
    """One residual block's attention weights, per head (shapes in the module doc)."""

    W_V: Tensor
    W_O: Tensor
    b_V: Tensor
    b_O: Tensor
    ln1_weight: Tensor
    ln1_bias: Tensor
    layer_scale: Tensor | None = None  # (d,) LayerScale ls_1 already folded into W_O, b_O

    @property
    def n_heads(self) -> int:
        return int(self.W_V.shape[0])


@dataclass(frozen=True)
class VisionWeights:
    """Read-only per-layer, per-head weights of a CLIP vision tower plus ln_post and proj.

    ``derived`` holds values computed from these weights and nothing else (each layer's
    SVD, :func:`sith.factor.layer_svd`), keyed by what made them: it lives and dies with
    this view (a new view, e.g. of an edited model, starts empty) and is no part of its
    equality, hash or repr.
    """

    layers: tuple[LayerWeights, ...]
    ln_post_weight: Tensor
    ln_post_bias: Tensor
    proj: Tensor
    info: ModelInfo = field(default_factory=lambda: ModelInfo("", "", ""))
    ln_post_eps: float = 1e-5  # eps of ln_post (docs/method.md §3 maps targets through the full ln_post)
    derived: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def n_heads(self) -> int:
        return self.layers[0].n_heads

    @property
    def d_model(self) -> int:
        return int(self.proj.shape[0])

    @property
    def d_head(self) -> int:
        return int(self.layers[0].W_V.shape[2])

    @property
    def d_embed(self) -> int:
        return int(self.proj.shape[1])


def split_heads(
    v_weight: Tensor, v_bias: Tensor | None, o_weight: Tensor, o_bias: Tensor | None, n_heads: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Split PyTorch ``Linear``-layout value/output weights into per-head factors.

    Args:
        v_weight: ``(d, d)`` value projection (``out × in``, as ``nn.Linear`` stores it).
        v_bias: ``(d,)`` or None.
        o_weight: ``(d, d)`` output projection.
        o_bias: ``(d,)`` or None.
        n_heads: ``H``.

    Returns:
        ``W_V (H, d, dh)``, ``b_V (H, dh)``, ``W_O (H, dh, d)``, ``b_O (d,)`` as float32.
    """
    d = v_weight.shape[1]
    dh = d // n_heads
    v = v_weight.detach().float()
    o = o_weight.detach().float()
    W_V = v.reshape(n_heads, dh, d).transpose(1, 2).contiguous()
    W_O = o.T.reshape(n_heads, dh, d).contiguous()
    b_V = (v_bias.detach().float() if v_bias is not None else torch.zeros(d)).reshape(n_heads, dh)
    b_O = o_bias.detach().float().clone() if o_bias is not None else torch.zeros(d)
    return W_V, b_V, W_O, b_O


def weights_fingerprint(tensors: Mapping[str, Tensor]) -> str:
    """A 16-hex-digit SHA-256 fingerprint of named tensors (the whole vision tower).

    Every tensor contributes its name, dtype, shape and raw bytes, in sorted-name order,
    so any change of any value (a permutation of heads, of columns of ``out_proj``, of
    rows of ``proj``, a rescaled ``ln_post``) changes the fingerprint, and the same
    weights always give the same one. Callers pass the state dict of the vision tower
    (open_clip: ``model.visual``, including ``ln_post`` and ``proj``; Hugging Face:
    ``vision_model`` plus ``visual_projection``).

    Args:
        tensors: ``name -> tensor`` (any device and dtype; tensors are read, not changed).

    Returns:
        The first 16 hex digits of the SHA-256 digest.
    """
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach()
        h.update(f"{name}|{str(t.dtype).removeprefix('torch.')}|{tuple(t.shape)}|".encode())
        h.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy())  # no copy
    return h.hexdigest()[:16]
