"""The load stage: any supported CLIP -> a uniform weight view plus its encoders (METHOD.md §1).

Public API::

    load_clip(model_name="sith-organism", pretrained="v1", *, device="cpu") -> LoadedClip
    extract_weights(model, info) -> VisionWeights
    verify(clip, *, n_tokens=8, seed=0) -> list[float]
    with_head_outputs(clip, new_W_O) -> LoadedClip
    save_model(clip, path) -> Path
    wrap_open_clip(model, *, model_name, ...) -> LoadedClip
    register_loader(Loader(...)), register_backend(Backend(...)), backend(source)

Backends register themselves on import (:mod:`sith.load.registry`); this package imports
every built-in one (open_clip, Hugging Face, the organism), so ``import sith.load``
is all a user needs.
"""

from sith.load import hf, organism  # noqa: F401 - importing a backend registers it
from sith.load.clip import (
    DEFAULT_MODEL,
    DEFAULT_PRETRAINED,
    LoadedClip,
    extract_weights,
    load_clip,
)
from sith.load.openclip import wrap_open_clip
from sith.load.registry import Backend, Loader, backend, register_backend, register_loader
from sith.load.verify import verify
from sith.load.weights import LayerWeights, ModelInfo, VisionWeights, split_heads
from sith.load.writeback import save_model, with_head_outputs

__all__ = [
    "Backend",
    "DEFAULT_MODEL",
    "DEFAULT_PRETRAINED",
    "LayerWeights",
    "LoadedClip",
    "Loader",
    "ModelInfo",
    "VisionWeights",
    "backend",
    "extract_weights",
    "load_clip",
    "register_backend",
    "register_loader",
    "save_model",
    "split_heads",
    "verify",
    "with_head_outputs",
    "wrap_open_clip",
]
