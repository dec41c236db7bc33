"""Convert a standard open_clip ``CLIP`` (ViT tower, no LayerScale, class-token pooling,
causal text tower) into a Hugging Face ``transformers.CLIPModel`` with the same weights.

Only renaming and splitting: open_clip's fused ``in_proj_{weight,bias}`` (rows ``[q; k; v]``)
become ``{q,k,v}_proj``; ``visual.proj`` ``(d, e)`` and ``text_projection`` ``(w, e)`` become
``nn.Linear`` weights ``(e, d)`` (transposed); everything else maps one to one::

    visual.conv1.weight                 vision_model.embeddings.patch_embedding.weight
    visual.class_embedding              vision_model.embeddings.class_embedding
    visual.positional_embedding         vision_model.embeddings.position_embedding.weight
    visual.ln_pre / ln_post             vision_model.pre_layrnorm / post_layernorm
    *.transformer.resblocks.{l}.ln_1    *.encoder.layers.{l}.layer_norm1   (ln_2: layer_norm2)
    *.attn.out_proj                     *.self_attn.out_proj
    *.mlp.c_fc / mlp.c_proj             *.mlp.fc1 / mlp.fc2
    token_embedding, positional_embedding, ln_final
                                        text_model.embeddings.{token,position}_embedding, final_layer_norm
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _blocks(prefix_oc: str, prefix_hf: str, sd: dict[str, Tensor], n: int, d: int) -> dict[str, Tensor]:
    out = {}
    for i in range(n):
        a, b = f"{prefix_oc}transformer.resblocks.{i}", f"{prefix_hf}.encoder.layers.{i}"
        w, bias = sd[f"{a}.attn.in_proj_weight"], sd[f"{a}.attn.in_proj_bias"]
        for j, part in enumerate("qkv"):
            out[f"{b}.self_attn.{part}_proj.weight"] = w[j * d : (j + 1) * d]
            out[f"{b}.self_attn.{part}_proj.bias"] = bias[j * d : (j + 1) * d]
        pairs = {
            "attn.out_proj": "self_attn.out_proj",
            "ln_1": "layer_norm1",
            "ln_2": "layer_norm2",
            "mlp.c_fc": "mlp.fc1",
            "mlp.c_proj": "mlp.fc2",
        }
        for src, dst in pairs.items():
            for kind in ("weight", "bias"):
                out[f"{b}.{dst}.{kind}"] = sd[f"{a}.{src}.{kind}"]
    return out


def open_clip_to_hf(model: nn.Module, *, quick_gelu: bool = False) -> nn.Module:
    """A ``transformers.CLIPModel`` holding exactly ``model``'s weights (eval mode)."""
    import transformers

    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    v, t = model.visual, model.transformer
    dv, dt = v.transformer.width, t.width
    act = "quick_gelu" if quick_gelu else "gelu"
    config = transformers.CLIPConfig(
        text_config=dict(
            vocab_size=model.vocab_size,
            hidden_size=dt,
            intermediate_size=sd["transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
            num_hidden_layers=t.layers,
            num_attention_heads=t.resblocks[0].attn.num_heads,
            max_position_embeddings=model.context_length,
            hidden_act=act,
            layer_norm_eps=model.ln_final.eps,
            bos_token_id=49406,
            eos_token_id=49407,
        ),
        vision_config=dict(
            hidden_size=dv,
            intermediate_size=sd["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
            num_hidden_layers=v.transformer.layers,
            num_attention_heads=v.transformer.resblocks[0].attn.num_heads,
            image_size=v.image_size[0],
            patch_size=v.patch_size[0],
            hidden_act=act,
            layer_norm_eps=v.ln_post.eps,
        ),
        projection_dim=v.proj.shape[1],
    )
    hf = {
        "vision_model.embeddings.patch_embedding.weight": sd["visual.conv1.weight"],
        "vision_model.embeddings.class_embedding": sd["visual.class_embedding"],
        "vision_model.embeddings.position_embedding.weight": sd["visual.positional_embedding"],
        "visual_projection.weight": sd["visual.proj"].T.contiguous(),
        "text_model.embeddings.token_embedding.weight": sd["token_embedding.weight"],
        "text_model.embeddings.position_embedding.weight": sd["positional_embedding"],
        "text_projection.weight": sd["text_projection"].T.contiguous(),
        "logit_scale": sd["logit_scale"].reshape(()),
    }
    for src, dst in (
        ("visual.ln_pre", "vision_model.pre_layrnorm"),
        ("visual.ln_post", "vision_model.post_layernorm"),
        ("ln_final", "text_model.final_layer_norm"),
    ):
        for kind in ("weight", "bias"):
            hf[f"{dst}.{kind}"] = sd[f"{src}.{kind}"]
    hf.update(_blocks("visual.", "vision_model", sd, v.transformer.layers, dv))
    hf.update(_blocks("", "text_model", sd, t.layers, dt))
    out = transformers.CLIPModel(config).eval()
    missing, unexpected = out.load_state_dict(hf, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"conversion incomplete: missing {missing[:3]}, unexpected {unexpected[:3]}")
    with torch.no_grad():
        for name, p in out.state_dict().items():
            if name in hf and not torch.equal(p, hf[name].to(p.dtype)):
                raise ValueError(f"{name} did not load exactly")
    return out
