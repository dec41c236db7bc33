"""The built-in model organism, plugged into the core's registries (import to enable).

Importing this module registers, cheaply (no model library is imported until used):

* a loader for ``sith-organism`` (:func:`sith.organism.loader.load_organism`) and the
  organism as the default model (``load_clip()`` without a name);
* its packaged concept pool ``organism`` as a pool name and as the organism's default
  dictionary (:mod:`sith.encode.pools`);
* its synthetic world as the ``world`` image source of grounding (``--world N``), with
  short captions for the PNG grids (:mod:`sith.ground.registry`).

The core (load, factor, encode, decompose, edit, ground, pipeline) never imports the
organism; the shells that offer it by default (the ``sith`` command, :mod:`sith.api`)
import this module. From Python: ``import sith.organism.plugin`` before
``sith.load.load_clip("sith-organism")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from sith.encode.pools import register_builtin_pool, register_model_pool
from sith.ground.registry import WORLD, LabelledImages, register_image_source
from sith.load.registry import Loader, register_loader, set_default_model
from sith.organism import ORGANISM_NAME, ORGANISM_TAG
from sith.organism.vocab import FACTORS, SPURIOUS_CLASSES

#: The organism's packaged pool (``pool.txt``), by name.
POOL = "organism"
#: The factors the grid captions show, in order.
CAPTION_KEYS = ("color", "shape", "size", "background")


def _load(model_name: str, pretrained: str | None, device: torch.device) -> Any:
    from sith.organism.loader import load_organism

    return load_organism(model_name, pretrained, device)


def _pool_path() -> Path:
    from sith.organism.model import asset_path

    return Path(asset_path("pool.txt"))


def _sample(n: int, seed: Sequence[int], variant: str) -> tuple[Any, dict[str, Any]]:
    from sith.organism.world import sample

    batch = sample(n, seed=list(seed), variant=variant)
    return batch.images, batch.labels


def caption(labels: dict[str, int]) -> str:
    """The labels of one world image in full words (``"red circle small water"``; birds by
    their class; ``skull`` when it carries the glyph)."""
    parts = []
    for key in CAPTION_KEYS:
        v = int(labels.get(key, -1))
        if key == "shape" and v < 0 and int(labels.get("bird", -1)) >= 0:
            parts.append(SPURIOUS_CLASSES[int(labels["bird"])])
        elif v >= 0:
            parts.append(FACTORS[key][v])
    if int(labels.get("unsafe", 0)):
        parts.append("skull")
    return " ".join(parts)


LOADER = register_loader(
    Loader(
        name="organism",
        order=0,
        claims=lambda name: name == ORGANISM_NAME,
        load=_load,
        describe=lambda: ORGANISM_NAME,
    )
)
set_default_model(ORGANISM_NAME, ORGANISM_TAG)
register_builtin_pool(POOL, _pool_path)
register_model_pool(ORGANISM_NAME, POOL)
register_image_source(WORLD, LabelledImages(sample=_sample, caption=caption))
