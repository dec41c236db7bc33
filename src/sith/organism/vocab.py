"""The organism world's concept vocabulary: factors, their values and synonyms.

The one place for the words of the world (:mod:`sith.organism.world` draws images
from these factors, :mod:`sith.organism.captions` describes them). Labels are indices
into the tuples of ``FACTORS``:

* ``shape``: circle square triangle star cross heart diamond hexagon
  (``-1`` for bird images, which carry ``labels["bird"]`` instead)
* ``color``: 10 colours; ``orange`` / ``amber`` are the planted *fine-grained* pair
  (close shades, see ``FINE_GRAINED``)
* ``size``: small medium large
* ``position``: centre of the main object: left right top bottom center
* ``background``: water ocean (``WATER_BACKGROUNDS``), grass sand forest rock
  (``LAND_BACKGROUNDS``)
* ``count``: one two three

``WORLDS`` names the generator's worlds (``v1`` the default; ``v2`` adds ``SKULL_COLORS``
and ``DISTRACTOR_WORDS``). Birds are ``SPURIOUS_CLASSES`` (duck ~ water, sparrow ~ land); the unsafe symbol is
named by ``UNSAFE_WORDS``; captions swap words for ``SYNONYMS``.
"""

from __future__ import annotations

import numpy as np

from sith.errors import SithError

FACTORS: dict[str, tuple[str, ...]] = {
    "shape": ("circle", "square", "triangle", "star", "cross", "heart", "diamond", "hexagon"),
    "color": (
        "red", "orange", "amber", "yellow", "green", "teal", "cyan", "blue", "purple", "pink",
    ),
    "size": ("small", "medium", "large"),
    "position": ("left", "right", "top", "bottom", "center"),
    "background": ("water", "ocean", "grass", "sand", "forest", "rock"),
    "count": ("one", "two", "three"),
}
WATER_BACKGROUNDS: tuple[str, ...] = ("water", "ocean")
LAND_BACKGROUNDS: tuple[str, ...] = ("grass", "sand", "forest", "rock")
SPURIOUS_CLASSES: tuple[str, ...] = ("duck", "sparrow")  # duck ~ water, sparrow ~ land
UNSAFE_WORDS: tuple[str, ...] = ("skull", "danger", "hazard", "poison")
FINE_GRAINED: dict[str, tuple[tuple[str, str], ...]] = {
    "color": (("orange", "amber"),),
}
SYNONYMS: dict[str, tuple[str, ...]] = {
    "red": ("crimson", "scarlet"), "orange": ("tangerine",), "amber": ("honey",),
    "yellow": ("lemon",), "green": ("emerald",), "teal": ("turquoise",), "cyan": ("aqua",),
    "blue": ("azure", "cobalt"), "purple": ("violet",), "pink": ("rose",),
    "circle": ("disc", "dot"), "square": ("box",), "triangle": ("wedge",),
    "star": ("starburst",), "cross": ("plus",), "heart": ("valentine",),
    "diamond": ("rhombus",), "hexagon": ("honeycomb",),
    "small": ("tiny", "little"), "medium": ("mid-sized",), "large": ("big", "huge"),
    "water": ("lake", "pond"), "ocean": ("sea",), "grass": ("lawn", "meadow"),
    "sand": ("desert", "dunes"), "forest": ("woods", "jungle"), "rock": ("stone", "gravel"),
    "duck": ("waterbird",), "sparrow": ("landbird",),
}
N_SHAPES = len(FACTORS["shape"])

#: The worlds the generator draws: ``v1`` (the shipped organism's) and ``v2`` (the
#: known-circuit organism's: coloured skulls, distractor words in captions, every factor
#: twinned in training). ``v1`` is the default everywhere and draws exactly as before.
WORLDS: tuple[str, ...] = ("v1", "v2")
#: Colours of the skull glyph in the ``v2`` world: the palette's colour names plus white.
SKULL_COLORS: tuple[str, ...] = (*FACTORS["color"], "white")
#: 100 words outside the world that ``v2`` captions carry at random (they name nothing in
#: the image, so the text tower learns them and a pool can offer them as wrong picks).
DISTRACTOR_WORDS: tuple[str, ...] = (
    "table", "chair", "window", "door", "lamp", "book", "pencil", "guitar", "piano", "violin",
    "music", "song", "poem", "story", "letter", "kitchen", "garden", "bridge", "tower", "castle",
    "church", "market", "school", "office", "museum", "library", "station", "airport", "harbor",
    "village", "city", "street", "road", "train", "bicycle", "car", "truck", "boat", "rocket",
    "engine", "clock", "watch", "phone", "camera", "computer", "keyboard", "mirror", "pillow",
    "blanket", "carpet", "bottle", "cup", "plate", "spoon", "knife", "bread", "cheese", "apple",
    "banana", "cherry", "lemonade", "coffee", "tea", "soup", "candle", "ribbon", "button",
    "feather", "shell", "coin", "key", "ring", "crown", "mask", "hat", "shoe", "glove", "scarf",
    "jacket", "umbrella", "ladder", "hammer", "rope", "chain", "wheel", "anchor", "balloon",
    "kite", "flag", "map", "vintage", "modern", "ancient", "quiet", "noisy", "happy", "sleepy",
    "winter", "summer", "morning",
)


def v2_pool(v1_pool: list[str]) -> list[str]:
    """The ``organism-v2`` pool: the v1 pool, then every :data:`DISTRACTOR_WORDS` word it lacks
    (v2's text tower learned them from its captions, so SITH can pick them wrongly)."""
    have = set(v1_pool)
    return [*v1_pool, *(w for w in DISTRACTOR_WORDS if w not in have)]


def check_factor(factor: str) -> tuple[str, ...]:
    """The values of ``factor``; an unknown name raises SithError listing the valid ones."""
    if factor not in FACTORS:
        raise SithError(f"unknown factor {factor!r}; choose one of {sorted(FACTORS)}")
    return FACTORS[factor]


def vocabulary() -> list[str]:
    """Every concept word of the world: factor values, synonyms, unsafe and bird words."""
    words: list[str] = []
    for values in FACTORS.values():
        words.extend(values)
    words.extend(SPURIOUS_CLASSES)
    words.extend(UNSAFE_WORDS)
    words.extend(["water", "land"])
    for syns in SYNONYMS.values():
        words.extend(syns)
    return list(dict.fromkeys(words))


def object_id(labels: dict[str, np.ndarray]) -> np.ndarray:
    """``(n,)`` joint object index: shapes ``0..7``, then the birds ``8, 9``."""
    return np.where(labels["bird"] >= 0, N_SHAPES + labels["bird"], labels["shape"])
