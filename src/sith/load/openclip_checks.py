"""Which open_clip vision towers sith covers: refused from the config, before anything is
built or downloaded (:func:`check_config`), or from the built model (:func:`check_architecture`).

Covered: ViT towers of standard ``ResidualAttentionBlock`` blocks (``nn.MultiheadAttention``,
fused qkv) pooled at the class token, with a ``proj``; LayerScale is allowed (folded into
``W_O`` by :mod:`sith.load.openclip`). Refused, each with its reason in one line: ResNet and
timm towers, custom attention (qk-norm, scaled-cosine attention, head scales, inner or
post-attention LayerNorm), attentional or average pooling, a missing ``proj``.
"""

from __future__ import annotations

import open_clip
from open_clip.transformer import ResidualAttentionBlock, VisionTransformer
from torch import nn

from sith.errors import SithError

_CUSTOM_ATTN_FLAGS = {
    "qk_norm": "qk-norm (LayerNorm on queries and keys)",
    "scaled_cosine_attn": "scaled-cosine attention",
    "scale_heads": "per-head attention scales",
    "scale_attn_inner": "an inner LayerNorm before the output projection",
    "scale_attn": "a LayerNorm after the attention block",
}


def _refuse(model_name: str, why: str) -> SithError:
    return SithError(
        f"cannot analyse {model_name!r}: {why}; SITH covers open_clip ViTs with standard "
        "attention and class-token pooling (e.g. ViT-B-32, ViT-L-14) and Hugging Face CLIPModel"
    )


def check_config(model_name: str) -> None:
    """Refuse an unsupported architecture from its open_clip config, before any download."""
    cfg = open_clip.get_model_config(model_name) or {}
    vc = cfg.get("vision_cfg", {})
    if vc.get("timm_model_name"):
        raise _refuse(model_name, f"its vision tower is the timm model {vc['timm_model_name']!r}")
    if isinstance(vc.get("layers"), (list, tuple)):
        raise _refuse(model_name, "its vision tower is a ResNet (attention only in the final pool)")
    for flag, what in _CUSTOM_ATTN_FLAGS.items():
        if vc.get(flag):
            raise _refuse(model_name, f"its attention uses {what}")
    if vc.get("attentional_pool"):
        raise _refuse(model_name, "it pools with an attentional pooler, not the class token")
    if vc.get("pool_type", "tok") != "tok":
        raise _refuse(model_name, f"it pools with {vc['pool_type']!r}, not the class token")


def supported_models() -> list[str]:
    """open_clip architecture names whose config passes :func:`check_config`, common ones first."""
    common = ["ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336", "ViT-H-14", "ViT-bigG-14"]
    ok = []
    for name in open_clip.list_models():
        try:
            check_config(name)
        except SithError:
            continue
        ok.append(name)
    return [n for n in common if n in ok] + [n for n in ok if n not in common]


def check_architecture(model: nn.Module, model_name: str = "model") -> None:
    """Refuse (SithError with the reason) a model whose vision tower is not covered."""
    visual = getattr(model, "visual", None)
    if not isinstance(visual, VisionTransformer):
        kind = type(visual).__name__
        why = {
            "ModifiedResNet": "its vision tower is a ResNet (attention only in the final pool)",
            "TimmModel": "its vision tower is a timm model with its own attention layout",
        }.get(kind, f"its vision tower is a {kind}, not an open_clip VisionTransformer")
        raise _refuse(model_name, why)
    if getattr(visual, "attn_pool", None) is not None:
        raise _refuse(model_name, "it pools with an attentional pooler, not the class token")
    if getattr(visual, "pool_type", "tok") != "tok":
        raise _refuse(model_name, f"it pools with {visual.pool_type!r}, not the class token")
    if getattr(visual, "proj", None) is None:
        raise _refuse(model_name, "its vision tower has no projection `proj` to the joint space")
    for i, block in enumerate(visual.transformer.resblocks):
        if not isinstance(block, ResidualAttentionBlock):
            attn = getattr(block, "attn", None)
            uses = [
                what
                for attr, what in (
                    ("logit_scale", "scaled-cosine attention"),
                    ("head_scale", "per-head attention scales"),
                )
                if getattr(attn, attr, None) is not None
            ]
            for attr, what in (("ln_q", "qk-norm"), ("ln_inner", "an inner LayerNorm")):
                if not isinstance(getattr(attn, attr, nn.Identity()), nn.Identity):
                    uses.append(what)
            if not isinstance(getattr(block, "ln_attn", nn.Identity()), nn.Identity):
                uses.append("a LayerNorm after the attention block")
            what = ", ".join(uses) or f"a custom block {type(block).__name__}"
            raise _refuse(model_name, f"block {i} attention uses {what}")
        attn = block.attn
        if (
            not isinstance(attn, nn.MultiheadAttention)
            or not attn._qkv_same_embed_dim
            or attn.bias_k is not None
            or attn.add_zero_attn
            or hasattr(block, "ln_1_kv")
        ):
            raise _refuse(
                model_name, f"block {i} attention is not standard fused-qkv self-attention"
            )
