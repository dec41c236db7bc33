"""Registries of model loaders and model-library backends (docs/method.md §1).

The load stage is extended by registration, not by editing a dispatcher: each backend
module (:mod:`sith.load.openclip`, :mod:`sith.load.hf`) calls :func:`register_backend`
and/or :func:`register_loader` when it is imported, and this module imports them (once,
by name) the first time a backend or loader is asked for, so that a command that never
loads a model never imports a model library. :mod:`sith.load.clip` only asks this module.

Models above the core plug in as data: a :class:`sith.plugins.ModelEntry` (found by entry
points, :mod:`sith.plugins`) gives a loader (:func:`entry_loader`) and may be the default
model (``load_clip()`` without a name); :func:`loaders` and :func:`default_model` ask
:mod:`sith.plugins`, so no import order matters and nothing in the core names a plugin.
:func:`register_loader` and :func:`set_default_model` still add or override one by hand; a
registration made before the built-ins are imported is kept (a built-in never replaces it).

* A :class:`Backend` is what a model library must provide once a model is in memory
  (weight extraction, encoders, hooks for verification, write-back, saving); it is found
  by ``source`` (``ModelInfo.source``: ``"open_clip"``, ``"hf"``) or by model object.
* A :class:`Loader` turns a model name and pretrained tag into a ``LoadedClip``; loaders
  are asked in ``order`` (smallest first) and the first whose ``claims(name)`` is true
  loads the model.

At import time this module imports no backend and no ``LoadedClip`` (it is a leaf of the
load stage).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import torch
from torch import nn

from sith import plugins
from sith.errors import ConfigError, SithError


@dataclass(frozen=True)
class Backend:
    """The model-library specifics the rest of the load stage calls (signatures as in
    :mod:`sith.load.openclip`, whose functions are the reference implementation).

    Attributes:
        source: the ``ModelInfo.source`` this backend serves.
        owns: ``model -> bool``: whether a model object belongs to this library.
        extract: ``(model, info) -> VisionWeights``.
        encode_text: ``(clip, texts) -> (n, e)`` (caller holds ``no_grad``).
        encode_images: ``(clip, pixels (B, 3, S, S)) -> (B, e)``.
        attention_sites: ``model -> list[AttentionSite]`` (for verification).
        run_blocks: ``(model, x (B, T, d)) -> Any``: run the vision tower's blocks.
        head_output_param: ``(model, layer) -> (out_proj.weight, LayerScale | None, name)``.
        save: ``(clip, path) -> Path``: write a checkpoint ``load_clip`` reads back.
    """

    source: str
    owns: Callable[[nn.Module], bool]
    extract: Callable[..., Any]
    encode_text: Callable[..., Any]
    encode_images: Callable[..., Any]
    attention_sites: Callable[..., Any]
    run_blocks: Callable[..., Any]
    head_output_param: Callable[..., Any]
    save: Callable[..., Any]


@dataclass(frozen=True)
class Loader:
    """One way of naming a model.

    Attributes:
        name: short label (for messages and tests).
        order: loaders are asked smallest ``order`` first.
        claims: ``model_name -> bool``: whether this loader handles the name.
        load: ``(model_name, pretrained, device) -> LoadedClip``; ``pretrained`` is passed
            as given to :func:`sith.load.load_clip` (use :func:`is_none_tag`).
        describe: how to name such a model, for the unknown-model message.
    """

    name: str
    order: int
    claims: Callable[[str], bool]
    load: Callable[[str, str, torch.device], Any]
    describe: Callable[[], str]


_BACKENDS: dict[str, Backend] = {}
_LOADERS: dict[str, Loader] = {}

#: The built-in backends, imported (and so registered) on first use of the registry.
BUILTIN_BACKENDS = ("sith.load.openclip", "sith.load.hf")
_builtins = {"loaded": False}
_default: dict[str, tuple[str, str]] = {}


def load_builtin_backends() -> None:
    """Import the built-in backends once (each registers itself; they import open_clip).
    Registrations made before (a plugin's, a user's replacement) are kept."""
    if _builtins["loaded"]:
        return
    _builtins["loaded"] = True
    earlier_backends, earlier_loaders = dict(_BACKENDS), dict(_LOADERS)
    for name in BUILTIN_BACKENDS:
        import_module(name)
    _BACKENDS.update(earlier_backends)
    _LOADERS.update(earlier_loaders)


def register_backend(be: Backend) -> Backend:
    """Register (or replace) the backend for ``be.source``; returns it. Cheap: imports no
    model library."""
    _BACKENDS[be.source] = be
    return be


def register_loader(loader: Loader) -> Loader:
    """Register (or replace) a loader under ``loader.name``; returns it. Cheap: imports no
    model library (the built-ins come later and do not replace it)."""
    _LOADERS[loader.name] = loader
    return loader


def set_default_model(model_name: str, pretrained: str) -> None:
    """Make ``(model_name, pretrained)`` what :func:`sith.load.load_clip` loads when no
    model is named, over a plugin's default (the last call wins)."""
    _default["model"] = (str(model_name), str(pretrained))


def default_model() -> tuple[str, str]:
    """The default ``(model_name, pretrained)``: :func:`set_default_model`'s, else the model
    plugin marked ``default`` (:func:`sith.plugins.default_entry`; the built-in organism).

    Raises:
        SithError: no default is set or declared and no model was named.
    """
    if "model" in _default:
        return _default["model"]
    entry = plugins.default_entry()
    if entry is None:
        raise ConfigError(
            "model_name",
            "no model named and no default model registered; pass a model name "
            "({name}, e.g. ViT-B-32), or install a model plugin that declares a default",
        )
    return entry.name, entry.pretrained


def entry_loader(entry: plugins.ModelEntry) -> Loader:
    """The :class:`Loader` of a model plugin's entry: it claims exactly ``entry.name``."""
    return Loader(
        name=entry.name,
        order=entry.order,
        claims=lambda name: name == entry.name,
        load=entry.load,
        describe=lambda: entry.name,
    )


def backend(source: str) -> Backend:
    """The registered backend for ``source`` (``"open_clip"``, ``"hf"``)."""
    load_builtin_backends()
    try:
        return _BACKENDS[source]
    except KeyError:
        raise SithError(
            f"unknown model source {source!r}; expected one of {sorted(_BACKENDS)}"
        ) from None


def backend_of(model: nn.Module) -> Backend:
    """The backend that owns a model object; SithError for anything no backend owns."""
    load_builtin_backends()
    for be in _BACKENDS.values():
        if be.owns(model):
            return be
    raise SithError(
        f"cannot analyse a {type(model).__name__}: expected an open_clip CLIP or a Hugging Face "
        "CLIPModel; load it with sith.load.load_clip"
    )


def loaders() -> list[Loader]:
    """The loaders in the order they are asked: the registered ones and the model plugins'
    (:func:`entry_loader`; a registered loader of the same name wins)."""
    load_builtin_backends()
    found = {e.name: entry_loader(e) for e in plugins.model_entries()}
    found.update(_LOADERS)
    return sorted(found.values(), key=lambda lo: (lo.order, lo.name))


def is_none_tag(pretrained: str | None) -> bool:
    """Whether a pretrained tag means "no weights" (``None``, ``""``, ``"none"``)."""
    return pretrained is None or str(pretrained).strip().lower() in ("", "none")
