"""The load stage: any supported CLIP -> a uniform weight view plus its encoders (METHOD.md §1).

Public API::

    load_clip(model_name="sith-organism", pretrained="v1", *, device="cpu") -> LoadedClip
    extract_weights(model, info) -> VisionWeights
    verify(clip, *, n_tokens=8, seed=0) -> list[float]
    with_head_outputs(clip, new_W_O) -> LoadedClip
    save_model(clip, path) -> Path
    wrap_open_clip(model, *, model_name, ...) -> LoadedClip
"""

from sith.load.clip import (
    DEFAULT_MODEL,
    DEFAULT_PRETRAINED,
    LoadedClip,
    extract_weights,
    load_clip,
)
from sith.load.openclip import wrap_open_clip
from sith.load.verify import verify
from sith.load.weights import LayerWeights, ModelInfo, VisionWeights, split_heads
from sith.load.writeback import save_model, with_head_outputs

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_PRETRAINED",
    "LayerWeights",
    "LoadedClip",
    "ModelInfo",
    "VisionWeights",
    "extract_weights",
    "load_clip",
    "save_model",
    "split_heads",
    "verify",
    "with_head_outputs",
    "wrap_open_clip",
]
