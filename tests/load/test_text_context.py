"""The truncated-context text path equals open_clip's own full-context encode_text."""

from __future__ import annotations

import torch

from sith.load.openclip import wrap_open_clip
from tests.load.tiny import tiny_open_clip

TEXTS = ["red", "a photo of a large crimson circle on the left", "sea", "two small dogs and a cat"]


def test_truncated_context_is_exact():
    clip = wrap_open_clip(tiny_open_clip(seed=4), model_name="tiny")
    with torch.no_grad():
        full = clip.model.encode_text(clip.tokenizer(TEXTS), normalize=False)
    got = clip.encode_text(TEXTS)
    torch.testing.assert_close(got, full, atol=1e-5, rtol=1e-5)
    # one text alone gives the same row as inside a batch (no dependence on batch padding)
    torch.testing.assert_close(clip.encode_text(TEXTS[:1])[0], got[0], atol=1e-5, rtol=1e-5)


def test_vit_b32_text_tower_truncation_is_exact():
    import open_clip

    model = open_clip.create_model("ViT-B-32", pretrained=None)
    clip = wrap_open_clip(model, model_name="ViT-B-32")
    with torch.no_grad():
        full = model.encode_text(clip.tokenizer(TEXTS), normalize=False)
    torch.testing.assert_close(clip.encode_text(TEXTS), full, atol=1e-4, rtol=1e-4)
