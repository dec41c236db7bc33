"""The loaded-model handle and :func:`load_clip` (docs/method.md §1).

:func:`load_clip` turns a model name and a pretrained tag into a :class:`LoadedClip`:
the model itself (eval mode, fp32, on ``device``), its uniform weight view
(:class:`~sith.load.weights.VisionWeights`) and the text/image encoders every later
stage needs. The name is handed to the first registered loader that claims it
(:func:`sith.load.registry.loaders`; registered by the backends in ``order``):

1. a name a model plugin claims (:mod:`sith.plugins`; the built-in model organism,
   ``"sith-organism"``, found without importing anything first);
2. an existing local directory — a Hugging Face ``CLIPModel`` saved with ``save_pretrained``.
3. an open_clip architecture name (``open_clip.list_models()``) — ``pretrained`` is an
   open_clip tag, ``""``/``"none"`` (random weights), or a ``.pt``/``.bin``/``.safetensors`` file.
4. ``hf-hub:org/name`` or ``org/name`` — a Hugging Face hub id (needs network or the local
   HF cache, and the optional ``transformers`` dependency).

Model-library specifics (parameter names, LayerScale, tokenizers) live in the backends
(:mod:`sith.load.openclip`, :mod:`sith.load.hf`); this module names none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from open_clip import image_transform
from torch import Tensor

from sith.errors import ConfigError, SithError
from sith.load.registry import backend, backend_of, default_model, loaders
from sith.load.weights import ModelInfo, VisionWeights


@dataclass
class LoadedClip:
    """A CLIP model ready for analysis: the module, its weight view and its encoders.

    Attributes:
        model: open_clip ``CLIP`` or Hugging Face ``CLIPModel``, eval mode, fp32, on ``device``.
        weights: the uniform per-head view of the vision tower (docs/method.md §1).
        info: provenance (model name, pretrained tag or path, source, weight fingerprint).
        image_size: side ``S`` of the square input the vision tower expects.
        image_mean, image_std: per-channel normalisation of :meth:`preprocess`.
        device: where ``model`` lives and where encoders return tensors.
        tokenizer: the model's tokenizer (open_clip tokenizer or HF tokenizer).
        transform: PIL image -> ``(3, S, S)`` tensor; built from size/mean/std when None.
    """

    model: torch.nn.Module
    weights: VisionWeights
    info: ModelInfo
    image_size: int
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    device: torch.device
    tokenizer: Any = field(default=None, repr=False)
    transform: Callable[[Any], Tensor] | None = field(default=None, repr=False)

    def encode_text(self, texts: list[str]) -> Tensor:
        """Embed ``texts`` with the model's text tower, as one batch.

        Returns:
            ``(n, e)`` float32 on ``device``, **not** normalised, computed without grad.
        """
        if isinstance(texts, str):
            raise SithError(
                "encode_text takes a list of strings, got one string; wrap it in a list"
            )
        if len(texts) == 0:
            return torch.zeros(0, self.weights.d_embed, device=self.device)
        with torch.no_grad():
            return backend(self.info.source).encode_text(self, list(texts)).float()

    def encode_images(self, pixels: Tensor) -> Tensor:
        """Embed preprocessed images ``(B, 3, S, S)``; returns ``(B, e)`` unnormalised, no grad."""
        s = self.image_size
        if pixels.ndim != 4 or tuple(pixels.shape[1:]) != (3, s, s):
            raise SithError(
                f"encode_images expects pixels of shape (B, 3, {s}, {s}), "
                f"got {tuple(pixels.shape)}; "
                "use LoadedClip.preprocess on each image"
            )
        with torch.no_grad():
            pixels = pixels.to(self.device, torch.float32)
            return backend(self.info.source).encode_images(self, pixels).float()

    def preprocess(self, image: Any) -> Tensor:
        """Resize, center-crop and normalise a PIL image as the model expects -> ``(3, S, S)``."""
        if self.transform is None:
            self.transform = image_transform(
                self.image_size, is_train=False, mean=self.image_mean, std=self.image_std
            )
        return self.transform(image)


def default_names(model_name: str | None, pretrained: str | None) -> tuple[str, str]:
    """``(model_name, pretrained)`` with the defaults filled in: the registered default model
    and its tag (:func:`sith.load.registry.default_model`) when no model is named; no tag
    (random weights / HF) for another named model without one; the default model named
    without a tag gets its tag."""
    if not model_name:
        name, tag = default_model()
        return name, tag if pretrained is None else pretrained
    if pretrained is not None:
        return str(model_name), pretrained
    try:
        name, tag = default_model()
    except SithError:  # no default registered: a named model without a tag has none
        return str(model_name), ""
    return str(model_name), tag if str(model_name) == name else ""


def load_clip(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    device: str | torch.device = "cpu",
) -> LoadedClip:
    """Load any supported CLIP as a :class:`LoadedClip` (dispatch rules in the module doc).

    Args:
        model_name: a plugin's model (``"sith-organism"``), an open_clip architecture name,
            a Hugging Face model directory, or a hub id (``hf-hub:org/name`` / ``org/name``);
            None: the registered default model (:func:`default_names`).
        pretrained: open_clip pretrained tag, a checkpoint file, or ``""``/``"none"`` for
            random weights; None: the default model's tag, or none for a named model.
        device: torch device for the model and the encoders' outputs.

    Raises:
        SithError: unknown model or tag, unreadable checkpoint, or an architecture the
            weight-space analysis does not cover (the message says why).
    """
    dev = _device(device)
    if model_name is None or (pretrained is None and str(model_name).strip()):
        model_name, pretrained = default_names(model_name, pretrained)
    name = str(model_name).strip()
    if not name:
        raise ConfigError("model_name", "empty model name; pass e.g. {name}=ViT-B-32")
    for loader in loaders():
        if loader.claims(name):
            return loader.load(name, pretrained, dev)
    if Path(name).exists():
        raise ConfigError(
            "model_name",
            f"model {name!r} is a file, not a model directory; pass a checkpoint file as "
            "{name:pretrained} with an architecture name as {name}",
        )
    ways = [loader.describe() for loader in loaders()]
    listed = ", ".join(ways[:-1]) + (", or " if len(ways) > 1 else "") + ways[-1]
    raise SithError(f"unknown model {name!r}; use {listed}")


def _device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise SithError(f"invalid device {device!r}; use 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device", f"device {device!r} requested but CUDA is not available; use {{name}}=cpu", value=device
        )
    return dev


def extract_weights(model: torch.nn.Module, info: ModelInfo) -> VisionWeights:
    """The uniform weight view of an open_clip ``CLIP`` or a Hugging Face ``CLIPModel``.

    ``info.source`` is set from the model's library and ``info.fingerprint`` is computed
    from the extracted weights (:func:`sith.load.weights.weights_fingerprint`).

    Raises:
        SithError: the model is neither, or its architecture is not supported.
    """
    return backend_of(model).extract(model, info)
