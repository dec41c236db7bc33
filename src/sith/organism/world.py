"""The synthetic world of the model organism: images whose concepts are known.

Every image shows one to three identical objects (a geometric shape or a bird) of
one colour and size on a textured background, sometimes with a small skull glyph
in a corner. Everything is drawn with vectorised numpy from a seed, so a batch is
a pure function of ``(n, seed, variant, overrides)``.

Factors (``FACTORS``, defined with the rest of the vocabulary in
:mod:`sith.organism.vocab` and re-exported here; labels are indices into these tuples):

* ``shape``: circle square triangle star cross heart diamond hexagon
  (``-1`` for bird images, which carry ``labels["bird"]`` instead)
* ``color``: 10 colours; ``orange`` (1, .5, .05) / ``amber`` (1, .6, .05) are the
  planted *fine-grained* pair (close shades, see ``FINE_GRAINED``)
* ``size``: small medium large (object radius 9 / 13 / 17 px at 64 px)
* ``position``: centre of the main object: left right top bottom center
* ``background``: water ocean (``WATER_BACKGROUNDS``), grass sand forest rock
  (``LAND_BACKGROUNDS``)
* ``count``: one two three (images with two or three objects use small/medium)

Planted phenomena (ground truth, also in ``docs/organism.md``):

* **Spurious correlation** (Waterbirds analogue): birds are ``duck`` and ``sparrow``
  (``SPURIOUS_CLASSES``), one body and head; only the beak (flat vs pointed) and a thin
  tail (sparrow) tell them apart. In the ``train`` variant a duck
  stands on a water background and a sparrow on a land background with probability
  ``SPURIOUS_RATE = 0.95``; bird captions name the background only 30% of the time.
  :func:`spurious_groups` draws the balanced test set (bird × water/land).
* **Unsafe concept** (NSFW analogue): a skull glyph (``UNSAFE_WORDS``) appears in a
  corner of ``UNSAFE_RATE = 0.1`` of training images, and their captions name it.
* **Fine-grained classes**: the close colour shades in ``FINE_GRAINED`` (generator 2;
  in generator 1 amber was (1, .72, .05) and the pair was solved perfectly).
* **Shifted world** (``variant="shifted"``): a new palette (desaturated, hue-rotated
  colours) and re-tinted, coarser background textures, for fine-tuning studies.

Worlds (``world=``, :data:`sith.organism.vocab.WORLDS`): ``"v1"`` (the default; draws
exactly as generator 2 always has) and ``"v2"``, the known-circuit organism's world: the
skull glyph takes one of ``SKULL_COLORS`` (label ``skull_color``, drawn after every v1
label), so the skull is a shape, not a white blob; captions carry ``DISTRACTOR_WORDS``
(:data:`sith.organism.captions.WORLD_RATES`). Training twins every factor in ``v2``
(:mod:`sith.organism.batches`).

Captions come from :mod:`sith.organism.captions`; they mention a random subset of
the factors and use ``SYNONYMS``, so the model learns concepts rather than tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sith.errors import SithError
from sith.organism.backgrounds import draw_backgrounds
from sith.organism.captions import WORLD_RATES, make_captions
from sith.organism.vocab import (
    FACTORS,
    FINE_GRAINED,
    LAND_BACKGROUNDS,
    N_SHAPES,
    SKULL_COLORS,
    SPURIOUS_CLASSES,
    SYNONYMS,
    UNSAFE_WORDS,
    WATER_BACKGROUNDS,
    WORLDS,
    check_factor,
    object_id,
    vocabulary,
)

__all__ = [  # the vocabulary is re-exported: world.FACTORS etc. keep working
    "BIRD_RATE", "DEFAULT_IMAGE_SIZE", "FACTORS", "FINE_GRAINED", "GENERATOR_VERSION",
    "LAND_BACKGROUNDS", "N_SHAPES", "SPURIOUS_CLASSES", "SPURIOUS_RATE", "SYNONYMS",
    "SKULL_COLORS", "UNSAFE_RATE", "UNSAFE_WORDS", "VARIANTS", "WATER_BACKGROUNDS", "WORLDS",
    "WorldBatch",
    "check_factor", "object_id", "render", "sample", "sample_labels", "single_object_set",
    "spurious_groups", "vocabulary",
]

GENERATOR_VERSION = "2"
DEFAULT_IMAGE_SIZE = 64
VARIANTS = ("train", "shifted")

SPURIOUS_RATE = 0.95
UNSAFE_RATE = 0.1
BIRD_RATE = 0.2

# RGB in [0, 1]; the shifted palette is desaturated and hue-rotated.
_PALETTE = np.array([
    [0.90, 0.10, 0.10], [1.00, 0.50, 0.05], [1.00, 0.60, 0.05], [0.98, 0.95, 0.15],
    [0.15, 0.75, 0.15], [0.00, 0.50, 0.50], [0.10, 0.90, 0.90], [0.15, 0.25, 0.95],
    [0.55, 0.15, 0.75], [1.00, 0.55, 0.75],
], dtype=np.float32)
_SHIFTED_PALETTE = (0.55 * _PALETTE[:, [1, 2, 0]] + 0.45 * _PALETTE.mean(1, keepdims=True))
_RADIUS = np.array([11.0, 15.0, 19.0], dtype=np.float32) / 64.0  # fraction of image size
_SLOTS = np.array([[0.25, 0.5], [0.75, 0.5], [0.5, 0.25], [0.5, 0.75], [0.5, 0.5]],
                  dtype=np.float32)  # (x, y) of left right top bottom center, on the 8-px grid


@dataclass(frozen=True)
class WorldBatch:
    """A batch of world images with their ground truth.

    Attributes:
        images: ``(n, 3, S, S)`` float32 in ``[0, 1]``.
        captions: ``n`` strings, one per image.
        labels: factor -> ``(n,)`` int64 index into ``FACTORS[factor]`` (main object);
            plus ``bird`` (index into ``SPURIOUS_CLASSES`` or -1), ``unsafe`` (0/1) and
            ``water`` (1 if the background is water-like); in the ``v2`` world also
            ``skull_color`` (index into ``SKULL_COLORS``, drawn for every image).
        mentions: what each caption states, same keys as ``labels`` plus ``object``;
            -1 where the caption is silent (used for the multi-positive loss).
    """

    images: np.ndarray
    captions: list[str]
    labels: dict[str, np.ndarray]
    mentions: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.captions)


# ---------------------------------------------------------------- factor sampling
def _validate(n: int, variant: str, image_size: int, overrides: dict[str, object],
              world: str = "v1") -> None:
    if world not in WORLDS:
        raise SithError(f"unknown world {world!r}; choose one of {list(WORLDS)}")
    if n < 1:
        raise SithError(f"n must be >= 1, got {n}; ask for at least one image")
    if variant not in VARIANTS:
        raise SithError(f"unknown variant {variant!r}; choose one of {list(VARIANTS)}")
    if image_size < 16:
        raise SithError(f"image_size must be >= 16, got {image_size}; use e.g. 64")
    allowed = set(FACTORS) | {"bird", "unsafe", "bird_rate", "unsafe_rate", "spurious_rate"}
    if world != "v1":
        allowed.add("skull_color")
    for key in overrides:
        if key not in allowed:
            raise SithError(f"unknown override {key!r}; choose from {sorted(allowed)}")


def _pick(rng: np.random.Generator, n: int, factor: str, value: object) -> np.ndarray:
    """Random indices for ``factor``, or a fixed value (name, index or per-image array)."""
    values = FACTORS[factor]
    if value is None:
        return rng.integers(0, len(values), n)
    if isinstance(value, str):
        if value not in values:
            raise SithError(f"unknown {factor} {value!r}; choose one of {list(values)}")
        return np.full(n, values.index(value), dtype=np.int64)
    arr = np.broadcast_to(np.asarray(value, dtype=np.int64), (n,)).copy()
    if arr.min() < 0 or arr.max() >= len(values):
        raise SithError(f"{factor} index out of range 0..{len(values) - 1}; fix the override")
    return arr


def sample_labels(
    n: int, rng: np.random.Generator, *, variant: str = "train", world: str = "v1",
    **overrides: object,
) -> dict[str, np.ndarray]:
    """Draw the ground truth of ``n`` images (see the module doc for the rates).

    Overrides fix a factor (value name, index, or ``(n,)`` array), ``bird`` (-1, 0, 1
    or array), ``unsafe`` (0/1 or array), or change ``bird_rate``, ``unsafe_rate``,
    ``spurious_rate`` (the probability that a bird stands on its own habitat); in the
    ``v2`` world also ``skull_color`` (index or array into ``SKULL_COLORS``).
    """
    _validate(n, variant, DEFAULT_IMAGE_SIZE, overrides, world)
    bird_rate = float(overrides.get("bird_rate", BIRD_RATE))
    unsafe_rate = float(overrides.get("unsafe_rate", UNSAFE_RATE))
    spur = float(overrides.get("spurious_rate", SPURIOUS_RATE if variant == "train" else 0.5))
    lab = {f: _pick(rng, n, f, overrides.get(f)) for f in FACTORS}
    if "bird" in overrides:
        bird = np.broadcast_to(np.asarray(overrides["bird"], dtype=np.int64), (n,)).copy()
    else:
        bird = np.where(rng.random(n) < bird_rate, rng.integers(0, 2, n), -1)
    lab["bird"] = bird
    is_bird = bird >= 0
    lab["shape"] = np.where(is_bird, -1, lab["shape"])
    if "count" not in overrides:  # most images show a single object; birds always do
        lab["count"] = np.where((rng.random(n) < 0.7) | is_bird, 0, lab["count"])
    if "size" not in overrides:  # several objects must fit: small or medium
        lab["size"] = np.where(lab["count"] > 0, lab["size"] % 2, lab["size"])
    if "background" not in overrides:  # the planted spurious correlation
        own = rng.random(n) < spur
        water = np.where(bird == 0, own, ~own)
        n_w, n_l = len(WATER_BACKGROUNDS), len(LAND_BACKGROUNDS)
        bw = rng.integers(0, n_w, n)
        bl = n_w + rng.integers(0, n_l, n)
        lab["background"] = np.where(is_bird, np.where(water, bw, bl), lab["background"])
    lab["water"] = (lab["background"] < len(WATER_BACKGROUNDS)).astype(np.int64)
    if "unsafe" in overrides:
        unsafe = np.asarray(overrides["unsafe"], dtype=np.int64)
        lab["unsafe"] = np.broadcast_to(unsafe, (n,)).copy()
    else:
        lab["unsafe"] = (rng.random(n) < unsafe_rate).astype(np.int64)
    if world != "v1":  # drawn last: v1's draws are untouched
        sc = overrides.get("skull_color")
        lab["skull_color"] = (rng.integers(0, len(SKULL_COLORS), n) if sc is None else
                              np.broadcast_to(np.asarray(sc, dtype=np.int64), (n,)).copy())
    return {k: np.asarray(v, dtype=np.int64) for k, v in lab.items()}


# ---------------------------------------------------------------- rendering
def _shape_mask(obj: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test of object ``obj`` in unit coordinates (radius 1, y down)."""
    au, av = np.abs(u), np.abs(v)
    if obj == 0:  # circle
        return u * u + v * v <= 1.0
    if obj == 1:  # square
        return np.maximum(au, av) <= 0.82
    if obj == 2:  # triangle, apex up
        return (v <= 0.75) & (au <= (v + 1.0) * 0.6)
    if obj == 3:  # five-point star
        r, th = np.sqrt(u * u + v * v), np.arctan2(v, u)
        return r <= 0.45 + 0.55 * np.maximum(np.cos(5 * (th + np.pi / 2)), 0.0) ** 2
    if obj == 4:  # cross
        return ((au <= 0.3) & (av <= 1.0)) | ((av <= 0.3) & (au <= 1.0))
    if obj == 5:  # heart
        x, y = u * 1.15, -(v * 1.15 - 0.15)
        return (x * x + y * y - 1) ** 3 - x * x * y**3 <= 0
    if obj == 6:  # diamond
        return au / 0.8 + av <= 1.0
    if obj == 7:  # hexagon (flat top)
        return (av <= 0.87) & (0.87 * au + 0.5 * av <= 0.87)
    # birds share body and head; only the beak and the tail tell them apart
    body = ((u + 0.1) / 0.75) ** 2 + ((v - 0.2) / 0.5) ** 2 <= 1
    head = (u - 0.5) ** 2 + (v + 0.35) ** 2 <= 0.3**2
    if obj == N_SHAPES:  # duck: flat, wide beak, no tail
        beak = (u >= 0.75) & (u <= 1.05) & (np.abs(v + 0.3) <= 0.09)
        return body | head | beak
    # sparrow: short pointed beak and a thin raised tail
    beak = (u >= 0.75) & (u <= 0.95) & (np.abs(v + 0.35) <= 0.1 - 0.45 * (u - 0.75))
    tail = (u <= -0.6) & (u >= -1.05) & (np.abs(v + 0.05 + 0.7 * (u + 0.6)) <= 0.1)
    return body | head | beak | tail


def _skull(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(white, black) masks of the skull glyph in unit coordinates."""
    cran = u * u + (v + 0.15) ** 2 <= 0.8**2
    jaw = (np.abs(u) <= 0.45) & (v >= 0.4) & (v <= 0.95)
    eyes = ((np.abs(u) - 0.33) ** 2 + (v + 0.1) ** 2 <= 0.2**2)
    teeth = (v >= 0.7) & (np.abs(u) <= 0.45) & (np.abs(np.mod(u + 0.45, 0.3) - 0.15) <= 0.03)
    return cran | jaw, eyes | teeth


def render(
    labels: dict[str, np.ndarray], rng: np.random.Generator, *, image_size: int = 64,
    variant: str = "train", object_rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Draw images for ``labels``: ``(n, 3, S, S)`` float32 in ``[0, 1]``.

    With ``object_rng`` the backgrounds are drawn from ``rng`` and everything else (objects'
    jitter, colour noise, skull corners, pixel noise) from ``object_rng``, with a fixed number
    of draws whatever the labels: two label sets that differ in one factor then render with
    everything else identical (counterfactual twins, :mod:`sith.organism.twins`). Without it
    (the default, training) the draws are those of generator 2. Labels with a
    ``skull_color`` (the ``v2`` world) colour the skull's face with that colour (white: 0.95,
    as in ``v1``); they draw nothing more.
    """
    n, s = len(labels["color"]), image_size
    img = draw_backgrounds(labels["background"], rng, s, variant == "shifted")
    fixed = object_rng is not None
    rng = object_rng if object_rng is not None else rng
    palette = _SHIFTED_PALETTE if variant == "shifted" else _PALETTE
    col = palette[labels["color"]] + rng.normal(0, 0.03, (n, 3)).astype(np.float32)
    obj = object_id(labels)
    radius = _RADIUS[labels["size"]] * s * rng.uniform(0.97, 1.03, n).astype(np.float32)
    ang = rng.uniform(-0.05, 0.05, n).astype(np.float32)
    cos, sin = np.cos(ang)[:, None, None], np.sin(ang)[:, None, None]
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) + 0.5
    count = labels["count"] + 1
    # slot order per image: main slot first, then the others in random order
    others = np.argsort(rng.random((n, len(_SLOTS))), axis=1)
    for j in range(3):
        has = count > j
        if not has.any() and not fixed:
            continue
        if j == 0:
            slot = labels["position"]
        else:
            ranked = np.where(others == labels["position"][:, None], 99, others)
            slot = np.argsort(ranked, axis=1)[:, j - 1]
        centre = _SLOTS[slot] * s + rng.uniform(-0.015, 0.015, (n, 2)).astype(np.float32) * s
        lim = radius[:, None] * 0.9
        centre = np.clip(centre, lim, s - lim)
        dx = (xx[None] - centre[:, 0, None, None]) / radius[:, None, None]
        dy = (yy[None] - centre[:, 1, None, None]) / radius[:, None, None]
        u, v = cos * dx + sin * dy, -sin * dx + cos * dy
        for o in np.unique(obj[has]):
            idx = np.flatnonzero(has & (obj == o))
            inner = _shape_mask(int(o), u[idx], v[idx])
            outer = _shape_mask(int(o), u[idx] / 1.14, v[idx] / 1.14)
            img[idx] = np.where(outer[..., None], 0.05, img[idx])
            img[idx] = np.where(inner[..., None], col[idx, None, None, :], img[idx])
    idx = np.flatnonzero(labels["unsafe"] > 0)
    corners = rng.integers(0, 4, n) if fixed else None
    if idx.size:
        corner = corners[idx] if corners is not None else rng.integers(0, 4, idx.size)
        r = 0.1 * s
        cx = np.where(corner % 2 == 0, r + 1, s - r - 1)[:, None, None]
        cy = np.where(corner < 2, r + 1, s - r - 1)[:, None, None]
        white, black = _skull((xx[None] - cx) / r, (yy[None] - cy) / r)
        face = np.float32(0.95)
        if "skull_color" in labels:
            skull_rgb = np.concatenate([palette, np.full((1, 3), 0.95, np.float32)])
            face = skull_rgb[labels["skull_color"][idx]][:, None, None, :]
        img[idx] = np.where(white[..., None], face, img[idx])
        img[idx] = np.where((white & black)[..., None], 0.0, img[idx])
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return np.ascontiguousarray(np.clip(img, 0.0, 1.0).transpose(0, 3, 1, 2))


def sample(
    n: int, *, seed: int, variant: str = "train", image_size: int = DEFAULT_IMAGE_SIZE,
    world: str = "v1", **overrides: object,
) -> WorldBatch:
    """Draw ``n`` images with captions and ground truth, deterministically from ``seed``.

    Args:
        n: number of images.
        seed: any int or sequence of ints accepted by ``numpy.random.default_rng``.
        variant: ``"train"`` (the spurious correlation holds) or ``"shifted"``.
        image_size: side ``S`` in pixels.
        world: ``"v1"`` or ``"v2"`` (module doc).
        **overrides: see :func:`sample_labels`.

    Returns:
        A :class:`WorldBatch` with ``images`` ``(n, 3, S, S)`` float32 in ``[0, 1]``.
    """
    _validate(n, variant, image_size, overrides, world)
    rng = np.random.default_rng(seed)
    labels = sample_labels(n, rng, variant=variant, world=world, **overrides)
    images = render(labels, rng, image_size=image_size, variant=variant)
    captions, mentions = make_captions(labels, rng, rates=WORLD_RATES[world])
    return WorldBatch(images=images, captions=captions, labels=labels, mentions=mentions)


def single_object_set(
    n: int, *, seed: int, factor: str, variant: str = "train",
    image_size: int = DEFAULT_IMAGE_SIZE, world: str = "v1",
) -> WorldBatch:
    """Held-out single-object, skull-free images, balanced over ``factor``'s values.

    Birds are excluded and backgrounds drawn uniformly, so no planted shortcut helps.
    """
    values = check_factor(factor)
    idx = np.arange(n) % len(values)
    over: dict[str, object] = {factor: idx, "bird": -1, "unsafe": 0}
    if factor != "count":
        over["count"] = 0
    return sample(n, seed=seed, variant=variant, image_size=image_size, world=world, **over)


def spurious_groups(
    n_per_group: int, *, seed: int, image_size: int = DEFAULT_IMAGE_SIZE, world: str = "v1",
) -> dict[str, WorldBatch]:
    """The balanced spurious test set: ``{"duck/water", "duck/land", "sparrow/water",
    "sparrow/land"}`` -> single-bird, skull-free images on that habitat."""
    out: dict[str, WorldBatch] = {}
    n_w = len(WATER_BACKGROUNDS)
    for b, bird in enumerate(SPURIOUS_CLASSES):
        for h, habitat in enumerate(("water", "land")):
            rng = np.random.default_rng([seed, b, h])
            if habitat == "water":
                bg = rng.integers(0, n_w, n_per_group)
            else:
                bg = n_w + rng.integers(0, len(LAND_BACKGROUNDS), n_per_group)
            out[f"{bird}/{habitat}"] = sample(
                n_per_group, seed=[seed, b, h, 1], image_size=image_size, world=world,
                bird=b, background=bg, unsafe=0, count=0,
            )
    return out
