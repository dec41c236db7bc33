"""The loaded-model handle and the dispatch from a model name to a loader (METHOD.md §1).

:func:`load_clip` turns a model name and a pretrained tag into a :class:`LoadedClip`:
the model itself (eval mode, fp32, on ``device``), its uniform weight view
(:class:`~sith.load.weights.VisionWeights`) and the text/image encoders every later
stage needs. Dispatch, first match wins:

1. ``"sith-organism"`` — the built-in model organism (``sith.organism.model``);
   ``pretrained`` is ``"v1"``, ``""``/``"none"`` (random weights) or a checkpoint file.
2. an existing local directory — a Hugging Face ``CLIPModel`` saved with ``save_pretrained``.
3. an open_clip architecture name (``open_clip.list_models()``) — ``pretrained`` is an
   open_clip tag, ``""``/``"none"`` (random weights), or a ``.pt``/``.bin``/``.safetensors`` file.
4. ``hf-hub:org/name`` or ``org/name`` — a Hugging Face hub id (needs network or the local
   HF cache, and the optional ``transformers`` dependency).

Model-library specifics (parameter names, LayerScale, tokenizers) live in
:mod:`sith.load.openclip` and :mod:`sith.load.hf`; this module only dispatches.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from sith.errors import SithError
from sith.load.weights import ModelInfo, VisionWeights

DEFAULT_MODEL = "sith-organism"
DEFAULT_PRETRAINED = "v1"

_HUB_ID = re.compile(r"^(hf-hub:)?[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class LoadedClip:
    """A CLIP model ready for analysis: the module, its weight view and its encoders.

    Attributes:
        model: open_clip ``CLIP`` or Hugging Face ``CLIPModel``, eval mode, fp32, on ``device``.
        weights: the uniform per-head view of the vision tower (METHOD.md §1).
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
            from open_clip import image_transform

            self.transform = image_transform(
                self.image_size, is_train=False, mean=self.image_mean, std=self.image_std
            )
        return self.transform(image)


def backend(source: str) -> ModuleType:
    """The model-library module (``sith.load.openclip`` or ``sith.load.hf``) for ``source``."""
    if source == "open_clip":
        from sith.load import openclip

        return openclip
    if source == "hf":
        from sith.load import hf

        return hf
    raise SithError(f"unknown model source {source!r}; expected 'open_clip' or 'hf'")


def default_names(model_name: str | None, pretrained: str | None) -> tuple[str, str]:
    """``(model_name, pretrained)`` with the defaults filled in: the built-in organism and its
    tag when no model is named; no tag (random weights / HF) for a named model without one."""
    name = model_name or DEFAULT_MODEL
    if pretrained is None:
        pretrained = DEFAULT_PRETRAINED if name == DEFAULT_MODEL else ""
    return name, pretrained


def _is_none_tag(pretrained: str | None) -> bool:
    return pretrained is None or str(pretrained).strip().lower() in ("", "none")


def load_clip(
    model_name: str = DEFAULT_MODEL,
    pretrained: str = DEFAULT_PRETRAINED,
    *,
    device: str | torch.device = "cpu",
) -> LoadedClip:
    """Load any supported CLIP as a :class:`LoadedClip` (dispatch rules in the module doc).

    Args:
        model_name: ``"sith-organism"``, an open_clip architecture name, a Hugging Face
            model directory, or a hub id (``hf-hub:org/name`` / ``org/name``).
        pretrained: open_clip pretrained tag, a checkpoint file, or ``""``/``"none"`` for
            random weights. Ignored for Hugging Face models when left at the default.
        device: torch device for the model and the encoders' outputs.

    Raises:
        SithError: unknown model or tag, unreadable checkpoint, or an architecture the
            weight-space analysis does not cover (the message says why).
    """
    import open_clip

    from sith.load import hf, openclip

    dev = _device(device)
    name = str(model_name).strip()
    tag = "" if _is_none_tag(pretrained) else str(pretrained).strip()
    if not name:
        raise SithError("empty model name; pass e.g. --model-name sith-organism or --model-name ViT-B-32")
    if name == DEFAULT_MODEL:
        return openclip.load_organism(tag, device=dev)
    if Path(name).is_dir():
        return hf.load_hf(name, _hf_tag(name, pretrained), device=dev)
    if name in open_clip.list_models():
        return openclip.load_open_clip(name, tag, device=dev)
    if _HUB_ID.match(name) and not Path(name).exists():
        return hf.load_hf(name, _hf_tag(name, pretrained), device=dev)
    if Path(name).exists():
        raise SithError(
            f"model {name!r} is a file, not a model directory; pass a checkpoint file as "
            "--pretrained with an architecture name as --model"
        )
    supported = openclip.supported_models()
    raise SithError(
        f"unknown model {name!r}; use {DEFAULT_MODEL}, a supported open_clip ViT "
        f"({', '.join(supported[:10])}, ... {len(supported)} in all), a Hugging Face CLIP "
        "directory, or an org/name hub id"
    )


def _hf_tag(name: str, pretrained: str | None) -> str:
    """Hugging Face models carry their weights: only the default/empty tag is accepted."""
    if _is_none_tag(pretrained) or pretrained == DEFAULT_PRETRAINED:
        return ""
    raise SithError(
        f"pretrained {pretrained!r} does not apply to the Hugging Face model {name!r}; "
        "its directory or hub id already names the weights, so leave --pretrained unset"
    )


def _device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise SithError(f"invalid device {device!r}; use 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SithError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    return dev


def extract_weights(model: torch.nn.Module, info: ModelInfo) -> VisionWeights:
    """The uniform weight view of an open_clip ``CLIP`` or a Hugging Face ``CLIPModel``.

    ``info.source`` is set from the model's library and ``info.fingerprint`` is computed
    from the extracted weights (:func:`sith.load.weights.weights_fingerprint`).

    Raises:
        SithError: the model is neither, or its architecture is not supported.
    """
    return backend(source_of(model)).extract(model, info)


def source_of(model: torch.nn.Module) -> str:
    """``"open_clip"`` or ``"hf"`` for a model object; SithError for anything else."""
    if hasattr(model, "visual") and hasattr(model, "encode_text"):
        return "open_clip"
    if hasattr(model, "vision_model") and hasattr(model, "visual_projection"):
        return "hf"
    raise SithError(
        f"cannot analyse a {type(model).__name__}: expected an open_clip CLIP or a Hugging Face "
        "CLIPModel; load it with sith.load.load_clip"
    )
