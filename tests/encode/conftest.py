"""A tiny real open_clip CLIP (random weights) behind the LoadedClip interface."""

from __future__ import annotations

import hashlib

import open_clip
import pytest
import torch
from PIL import Image
from torch import Tensor

from sith.load.weights import ModelInfo

CONTEXT = 16
IMAGE_SIZE = 32


def tiny_clip_model(seed: int = 0) -> open_clip.CLIP:
    """A 2-layer open_clip CLIP, embed width 24, random weights from ``seed``."""
    torch.manual_seed(seed)
    model = open_clip.CLIP(
        embed_dim=24,
        vision_cfg={"image_size": IMAGE_SIZE, "patch_size": 8, "width": 32, "layers": 2,
                    "head_width": 16},
        text_cfg={"context_length": CONTEXT, "vocab_size": 49408, "width": 32, "heads": 2,
                  "layers": 2},
    )
    return model.eval()


class FakeClip:
    """Real random-weight CLIP with the ``sith.load.LoadedClip`` methods; counts encodings."""

    def __init__(self, seed: int = 0, name: str = "tiny-test", pretrained: str = "") -> None:
        self.model = tiny_clip_model(seed)
        self.device = torch.device("cpu")
        h = hashlib.sha256()
        for k, v in sorted(self.model.visual.state_dict().items()):
            h.update(k.encode() + v.numpy().tobytes())
        self.info = ModelInfo(name, pretrained, "open_clip", h.hexdigest()[:16])
        self.transform = open_clip.image_transform(IMAGE_SIZE, is_train=False)
        self.texts_encoded = 0
        self.text_calls = 0

    def encode_text(self, texts: list[str]) -> Tensor:
        self.text_calls += 1
        self.texts_encoded += len(texts)
        with torch.no_grad():
            return self.model.encode_text(open_clip.tokenize(texts, context_length=CONTEXT))

    def encode_images(self, pixels: Tensor) -> Tensor:
        with torch.no_grad():
            return self.model.encode_image(pixels)

    def preprocess(self, image: Image.Image) -> Tensor:
        return self.transform(image)


@pytest.fixture
def clip() -> FakeClip:
    """A new handle (zeroed counters); every one built from seed 0 has the same weights."""
    return FakeClip(seed=0)
