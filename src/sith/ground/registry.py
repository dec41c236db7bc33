"""Registered generators of labelled images (``--world N``), plugged in from above.

A model plugin's entry (:class:`sith.plugins.ModelEntry`, e.g. the built-in organism's)
names its :class:`LabelledImages` (``image_sources``), or one is registered by hand;
:class:`sith.ground.sources.ImageSource` with ``world=N`` draws its images from the source
named ``WORLD`` and the PNG grids caption them with its ``caption``. The core names no
plugin. Imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sith import plugins
from sith.errors import ConfigError

#: The name ``ImageSource(world=N)`` draws from.
WORLD = "world"


@dataclass(frozen=True)
class LabelledImages:
    """A generator of images whose labels are known.

    Attributes:
        sample: ``(n, seed, variant) -> (images, labels)``: ``images`` ``(n, 3, S, S)``
            float32 in [0, 1] (numpy), ``labels`` factor -> ``(n,)`` int64; ``seed`` is a
            sequence of ints, ``variant`` a name the generator knows (e.g. ``"train"``).
        caption: one image's labels (factor -> int) -> a short text for the PNG grids
            (may start with a newline; ``""`` for none).
    """

    sample: Callable[[int, Sequence[int], str], tuple[Any, dict[str, Any]]]
    caption: Callable[[dict[str, int]], str]


_SOURCES: dict[str, LabelledImages] = {}


def register_image_source(name: str, source: LabelledImages) -> LabelledImages:
    """Register (or replace) a labelled-image generator under ``name``; returns it."""
    _SOURCES[str(name)] = source
    return source


def image_source(name: str = WORLD) -> LabelledImages:
    """The generator registered under ``name``, else a model plugin's of that name.

    Raises:
        SithError: none is registered or declared (the message names the fix).
    """
    if name in _SOURCES:
        return _SOURCES[name]
    for entry in plugins.model_entries():
        if name in entry.image_sources:
            return entry.image_sources[name]
    raise ConfigError(
        "images",
        f"no {name!r} image source is registered (it comes with a plugin, e.g. the "
        "built-in model the sith command loads); pass {name}=PATH instead",
    )
