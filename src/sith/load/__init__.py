"""The load stage: any supported CLIP -> a uniform weight view plus its encoders (docs/method.md §1).

Public API::

    load_clip(model_name=None, pretrained=None, *, device="cpu") -> LoadedClip
    extract_weights(model, info) -> VisionWeights
    verify(clip, *, n_tokens=8, seed=0) -> list[float]
    with_head_outputs(clip, new_W_O) -> LoadedClip
    save_model(clip, path) -> Path
    wrap_open_clip(model, *, model_name, ...) -> LoadedClip
    register_loader(Loader(...)), register_backend(Backend(...)), backend(source)
    set_default_model(name, tag), default_model() -> (name, tag)

Backends register themselves on import (:mod:`sith.load.registry`). Importing this package
is cheap (torch only): the names that need a model library (``load_clip``, ``LoadedClip``,
``wrap_open_clip``, ``save_model``, ...) are imported on first use (PEP 562), and the
registry imports the built-in backends (open_clip, Hugging Face) the first time a backend
or loader is asked for (models above the core, such as the built-in organism, plug in as
model entries found by :mod:`sith.plugins`) — so ``import sith.load`` is still all a user needs,
and commands that never load a model (``sith show``) never import open_clip.
"""

from sith.lazy import lazy_getattr
from sith.load.registry import (
    Backend,
    Loader,
    backend,
    default_model,
    register_backend,
    register_loader,
    set_default_model,
)
from sith.load.verify import verify
from sith.load.weights import LayerWeights, ModelInfo, VisionWeights, split_heads

#: Names imported on first use, and the module that defines each.
LAZY = {
    "LoadedClip": "sith.load.clip",
    "extract_weights": "sith.load.clip",
    "load_clip": "sith.load.clip",
    "wrap_open_clip": "sith.load.openclip",
    "save_model": "sith.load.writeback",
    "with_head_outputs": "sith.load.writeback",
}


__getattr__ = lazy_getattr("sith.load", LAZY, globals())


__all__ = [
    "Backend",
    "LayerWeights",
    "LoadedClip",
    "Loader",
    "ModelInfo",
    "VisionWeights",
    "backend",
    "default_model",
    "extract_weights",
    "load_clip",
    "register_backend",
    "register_loader",
    "save_model",
    "set_default_model",
    "split_heads",
    "verify",
    "with_head_outputs",
    "wrap_open_clip",
]
