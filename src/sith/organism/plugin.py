"""The built-in model organism as a model plugin: :data:`ENTRY` (a :class:`sith.plugins.ModelEntry`).

Declared in sith's pyproject (``[project.entry-points."sith.models"]``) and in
:data:`sith.BUILTIN_MODELS`; :mod:`sith.plugins` finds it, so no import is needed and none
registers anything. The entry gives, cheaply (no model library is imported until used):

* its loader (:func:`sith.organism.loader.load_organism`) for ``sith-organism``, the default
  model (``load_clip()`` without a name);
* its packaged concept pools: ``organism``, the default dictionary, and ``organism-v2`` (the
  same plus the words v2's captions taught it), the default of an organism trained on the v2
  world;
* its image mean, made from its world's images (:func:`sith.organism.inputs.organism_image_mean`;
  the seed's CC12M, here the world);
* its synthetic world as the ``world`` image source of grounding (``--world N``), with
  short captions for the PNG grids.

The core (load, factor, encode, decompose, edit, ground, pipeline) never imports the organism.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sith.errors import SithError
from sith.ground.registry import WORLD, LabelledImages
from sith.organism import ORGANISM_NAME, ORGANISM_TAG, POOL, POOL_OF_WORLD, POOL_V2
from sith.organism.vocab import FACTORS, SPURIOUS_CLASSES
from sith.plugins import ModelEntry

#: The factors the grid captions show, in order.
CAPTION_KEYS = ("color", "shape", "size", "background")


def _load(model_name: str, pretrained: str | None, device: Any) -> Any:
    from sith.organism.loader import load_organism

    return load_organism(model_name, pretrained, device)


def _pool_path(v2: bool = False) -> Path:
    from sith.organism.model import POOL_FILE, POOL_V2_FILE, asset_path

    return Path(asset_path(POOL_V2_FILE if v2 else POOL_FILE))


def _pool_of(pretrained: str) -> str | None:
    """The pool of the world the organism ``pretrained`` records (``organism-v2`` for v2)."""
    from sith.organism.model import recorded_world

    try:
        return POOL_OF_WORLD.get(recorded_world(ORGANISM_NAME, pretrained))
    except SithError:  # an unreadable config is the loader's to report
        return None


def _image_mean(clip: Any) -> tuple[Any, dict[str, Any]]:
    from sith.organism.inputs import organism_image_mean

    return organism_image_mean(clip)


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


#: The organism's model entry (module doc).
ENTRY = ModelEntry(
    name=ORGANISM_NAME,
    pretrained=ORGANISM_TAG,
    load=_load,
    default=True,
    pools={POOL: _pool_path, POOL_V2: lambda: _pool_path(v2=True)},
    default_pool=POOL,
    pool_of=_pool_of,
    image_mean=_image_mean,
    image_sources={WORLD: LabelledImages(sample=_sample, caption=caption)},
)
