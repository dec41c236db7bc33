"""Caption grammar of the organism's world (see :mod:`sith.organism.world`).

The words come from :mod:`sith.organism.vocab`; this module does not import the world.

A caption is ``[prefix] [article|number] [size] [colour] noun [position] [background]
[unsafe phrase]``; each part is present with its own probability (``DEFAULT_RATES``)
and words are swapped for ``SYNONYMS`` a third of the time. Bird captions always
name the bird and name the background only 30% of the time (the spurious setting).
In the ``v2`` world (``WORLD_RATES``) half of the captions end with one of the
``DISTRACTOR_WORDS`` (``"a red circle on grass, guitar"``); it states nothing about the image.

Alongside each caption we record what it *states* (``mentions``): for every key a
value index or -1 when the caption is silent. The training loss treats caption ``j``
as a positive of image ``i`` whenever nothing that ``j`` states contradicts ``i``.

Zero-shot prompts (:func:`prompt`) use the same grammar, e.g. ``"a photo of a
circle"``, ``"a photo of a red shape"``, ``"a photo of a shape on grass"``.
"""

from __future__ import annotations

import numpy as np

from sith.errors import SithError
from sith.organism.vocab import (
    DISTRACTOR_WORDS,
    FACTORS,
    SPURIOUS_CLASSES,
    SYNONYMS,
    UNSAFE_WORDS,
    object_id,
)

DEFAULT_RATES: dict[str, float] = {
    "object": 0.85, "color": 0.7, "size": 0.5, "position": 0.4, "background": 0.6,
    "bird_background": 0.3, "habitat": 0.15, "number": 0.15, "unsafe": 0.9, "synonym": 0.33,
    "distractor": 0.0,
}
#: Caption-rate changes of each world (:data:`sith.organism.vocab.WORLDS`) over ``DEFAULT_RATES``.
WORLD_RATES: dict[str, dict[str, float]] = {"v1": {}, "v2": {"distractor": 0.5}}
MENTION_KEYS = ("object", "kind", "color", "size", "position", "background", "water",
                "count", "unsafe")
POSITION_PHRASES: dict[str, tuple[str, ...]] = {
    "left": ("on the left", "at the left"), "right": ("on the right", "at the right"),
    "top": ("at the top", "near the top"), "bottom": ("at the bottom", "near the bottom"),
    "center": ("in the center", "in the middle"),
}
BACKGROUND_PREP = {"water": "on", "ocean": "on the", "grass": "on", "sand": "on",
                   "forest": "in the", "rock": "on"}
_PREFIXES = ("", "a photo of ", "an image of ", "a picture of ", "there is ")
_UNSAFE_PHRASES = ("with a {w}", "next to a {w} sign", "with a {w} symbol", "and a {w} mark")
_GENERIC = ("shape", "object")
_NUMBERS = ("one", "two", "three")


def _plural(word: str) -> str:
    return word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")


def _article(next_word: str) -> str:
    return "an" if next_word[:1] in "aeiou" else "a"


def _word(value: str, rng: np.random.Generator, rate: float) -> str:
    syns = SYNONYMS.get(value, ())
    if syns and rng.random() < rate:
        return str(syns[rng.integers(len(syns))])
    return value


def background_phrase(value: str, word: str | None = None) -> str:
    """``"on grass"``, ``"in the forest"``, ... for a background value (or its synonym)."""
    return f"{BACKGROUND_PREP[value]} {word or value}"


def prompt(factor: str, value: str) -> str:
    """The zero-shot prompt for one factor value (template documented in the module doc)."""
    if factor == "shape" or value in SPURIOUS_CLASSES:
        return f"a photo of {_article(value)} {value}"
    if factor in ("color", "size"):
        return f"a photo of {_article(value)} {value} shape"
    if factor == "position":
        return f"a photo of a shape {POSITION_PHRASES[value][0]}"
    if factor == "background":
        return f"a photo of a shape {background_phrase(value)}"
    if factor == "count":
        return f"a photo of {value} {'shape' if value == 'one' else 'shapes'}"
    raise SithError(f"unknown factor {factor!r}; choose one of {sorted(FACTORS)}")


def make_captions(
    labels: dict[str, np.ndarray], rng: np.random.Generator, *,
    rates: dict[str, float] | None = None,
) -> tuple[list[str], dict[str, np.ndarray]]:
    """One caption per image, and what each caption states.

    Returns:
        ``(captions, mentions)``; ``mentions[key]`` is ``(n,)`` int64 (-1 = silent) for
        ``key`` in ``MENTION_KEYS`` (``object`` indexes shapes then birds, ``kind`` is
        1 for a bird noun and 0 for a shape noun, ``water`` is the habitat).
    """
    r = {**DEFAULT_RATES, **(rates or {})}
    n = len(labels["color"])
    obj = object_id(labels)
    men = {k: np.full(n, -1, dtype=np.int64) for k in MENTION_KEYS}
    caps: list[str] = []
    syn = r["synonym"]
    objects = FACTORS["shape"] + SPURIOUS_CLASSES
    for i in range(n):
        bird = labels["bird"][i] >= 0
        count = int(labels["count"][i])
        parts: list[str] = []
        if rng.random() < r["size"]:
            men["size"][i] = labels["size"][i]
            parts.append(_word(FACTORS["size"][labels["size"][i]], rng, syn))
        if rng.random() < r["color"]:
            men["color"][i] = labels["color"][i]
            parts.append(_word(FACTORS["color"][labels["color"][i]], rng, syn))
        if bird or rng.random() < r["object"]:
            men["object"][i], men["kind"][i] = obj[i], int(bird)
            noun = _word(objects[obj[i]], rng, syn)
        else:
            men["kind"][i] = 0
            noun = _GENERIC[rng.integers(len(_GENERIC))]
        if count > 0:
            men["count"][i] = count
            parts = [_NUMBERS[count], *parts, _plural(noun)]
        else:
            parts.append(noun)
            if rng.random() < r["number"]:
                men["count"][i] = 0
                parts.insert(0, "one")
            else:
                parts.insert(0, _article(parts[0]))
        if count == 0 and rng.random() < r["position"]:
            pos = FACTORS["position"][labels["position"][i]]
            men["position"][i] = labels["position"][i]
            parts.append(POSITION_PHRASES[pos][rng.integers(2)])
        if rng.random() < (r["bird_background"] if bird else r["background"]):
            if rng.random() < r["habitat"]:
                men["water"][i] = labels["water"][i]
                parts.append("on water" if labels["water"][i] else "on land")
            else:
                bg = FACTORS["background"][labels["background"][i]]
                men["background"][i] = labels["background"][i]
                men["water"][i] = labels["water"][i]
                parts.append(background_phrase(bg, _word(bg, rng, syn)))
        if labels["unsafe"][i] and rng.random() < r["unsafe"]:
            men["unsafe"][i] = 1
            w = UNSAFE_WORDS[rng.integers(len(UNSAFE_WORDS))]
            parts.append(_UNSAFE_PHRASES[rng.integers(len(_UNSAFE_PHRASES))].format(w=w))
        cap = _PREFIXES[rng.integers(len(_PREFIXES))] + " ".join(parts)
        if r["distractor"] > 0 and rng.random() < r["distractor"]:  # v1 draws nothing here
            cap += ", " + DISTRACTOR_WORDS[rng.integers(len(DISTRACTOR_WORDS))]
        caps.append(cap)
    return caps, men


def label_table(labels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Image-side values for every mention key (``object``, ``kind`` and ``water`` derived)."""
    return {
        "object": object_id(labels), "kind": (labels["bird"] >= 0).astype(np.int64),
        "color": labels["color"], "size": labels["size"], "position": labels["position"],
        "background": labels["background"], "water": labels["water"], "count": labels["count"],
        "unsafe": labels["unsafe"],
    }


def positives(labels: dict[str, np.ndarray], mentions: dict[str, np.ndarray]) -> np.ndarray:
    """``(n_images, n_captions)`` bool: caption ``j`` states nothing false about image ``i``."""
    table = label_table(labels)
    ok = np.ones((len(table["color"]), len(mentions["color"])), dtype=bool)
    for key in MENTION_KEYS:
        m = mentions[key][None, :]
        ok &= (m < 0) | (m == table[key][:, None])
    return ok

