"""Tiny open_clip / Hugging Face CLIPs with random weights for the load-stage tests."""

from __future__ import annotations

import open_clip
import pytest
import torch

TINY_VISION = dict(image_size=32, patch_size=8, width=64, layers=2, head_width=16, mlp_ratio=2)
TINY_TEXT = dict(context_length=16, vocab_size=49408, width=32, heads=4, layers=1)
TINY_NAME = "sith-test-tiny-ls"


def tiny_open_clip(*, seed: int = 0, random_ls: bool = False, quick_gelu: bool = False, **vision):
    """A 2-layer, 4-head (d=64, dh=16, e=32) open_clip CLIP; ``random_ls`` randomises LayerScale."""
    torch.manual_seed(seed)
    model = open_clip.CLIP(
        embed_dim=32,
        vision_cfg={**TINY_VISION, **vision},
        text_cfg=TINY_TEXT,
        quick_gelu=quick_gelu,
    )
    # open_clip zero-inits some biases; make every parameter non-trivial so slicing mistakes show
    with torch.no_grad():
        for name, p in model.visual.named_parameters():
            if name.endswith("bias") or "ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
        if random_ls:
            for block in model.visual.transformer.resblocks:
                block.ls_1.gamma.copy_(torch.rand_like(block.ls_1.gamma) + 0.5)
    return model.eval()


def tiny_hf_config(**vision):
    transformers = pytest.importorskip("transformers")
    return transformers.CLIPConfig(
        text_config=dict(
            vocab_size=49408,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=4,
            max_position_embeddings=16,
            bos_token_id=49406,  # the real CLIP tokenizer's ids: the text tower pools at the EOS token
            eos_token_id=49407,
        ),
        vision_config=dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
            **vision,
        ),
        projection_dim=24,
    )


def tiny_hf_model(seed: int = 0):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    model = transformers.CLIPModel(tiny_hf_config()).eval()
    with torch.no_grad():
        for name, p in model.vision_model.named_parameters():
            if name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model
