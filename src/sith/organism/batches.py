"""Training batches of the ``v2`` world: every factor twinned, twins rendered exactly.

A batch of ``B`` images is ``[h bases, B - 2h others, h twins]`` (``h = round(hard_negative_frac
· B)``, as in v1's :func:`sith.organism.train.make_batch`). Each twin row switches one factor
of its base, drawn uniformly from ``twin_factors`` (repeat a factor to weight it):

* ``shape``, ``color``, ``size``, ``background``, ``position``, ``count``: another value
  (a bird base of a shape twin becomes a shape first; sizes stay small/medium with several
  objects);
* ``bird``: the base becomes a bird on its own habitat with probability ``SPURIOUS_RATE``
  and its twin is the other bird **on the same background** (so within these pairs the
  background says nothing about the bird);
* ``unsafe``: the skull on/off (same corner, same colour).

Unlike v1's twins, a pair is rendered with the same background texture, jitter, colour noise
and pixel noise (:func:`sith.organism.world.render` with ``object_rng``): the two images
differ only in the switched factor. ``TrainingBatch.pair`` names it per row (``""``: no pair).
All draws come from the batch generator ``default_rng([seed, step])`` with a fixed count per
row, so a batch is a pure function of ``(config, step)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sith.organism.captions import WORLD_RATES, make_captions, positives
from sith.organism.trainconfig import TWIN_RATE, TrainConfig
from sith.organism.vocab import FACTORS, LAND_BACKGROUNDS, N_SHAPES, WATER_BACKGROUNDS
from sith.organism.world import SPURIOUS_RATE, render, sample_labels

#: Factors whose value a twin draws afresh, in the fixed order of their draws.
_DRAWN = ("shape", "color", "size", "position", "background", "count")


@dataclass(frozen=True)
class TrainingBatch:
    """One training batch.

    Attributes:
        images: ``(B, 3, S, S)`` float32 in [0, 1].
        captions: ``B`` strings.
        pos: ``(B, B)`` bool, caption ``j`` states nothing false about image ``i``.
        labels: ``(B,)`` int64 per label key (``None`` for v1 batches).
        pair: ``(B,)`` str, the factor a row's twin pair switches (``""``: not in a pair).
    """

    images: np.ndarray
    captions: list[str]
    pos: np.ndarray
    labels: dict[str, np.ndarray] | None = None
    pair: np.ndarray | None = None


def _habitat_background(bird: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A background for each bird: its own habitat with probability ``SPURIOUS_RATE``."""
    n, n_w = len(bird), len(WATER_BACKGROUNDS)
    own = rng.random(n) < SPURIOUS_RATE
    water = np.where(bird == 0, own, ~own)
    return np.where(water, rng.integers(0, n_w, n), n_w + rng.integers(0, len(LAND_BACKGROUNDS), n))


def twin_labels(
    base: dict[str, np.ndarray], h: int, factors: tuple[str, ...], rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Twins of the first ``h`` rows of ``base`` (changed in place where a row must become a
    bird or a shape first); returns ``(twin labels (h,), switched factor (h,) str)``."""
    which = np.asarray(factors)[rng.integers(0, len(factors), h)]
    delta = {f: rng.integers(1, len(FACTORS[f]), h) for f in _DRAWN}
    new_bird, new_shape = rng.integers(0, 2, h), rng.integers(0, N_SHAPES, h)
    habitat = _habitat_background(new_bird, rng)
    b = {k: v[:h] for k, v in base.items()}  # views: edits reach base
    make_bird = (which == "bird") & (b["bird"] < 0)
    b["bird"][make_bird], b["shape"][make_bird] = new_bird[make_bird], -1
    b["count"][make_bird], b["background"][make_bird] = 0, habitat[make_bird]
    make_shape = (which == "shape") & (b["bird"] >= 0)
    b["bird"][make_shape], b["shape"][make_shape] = -1, new_shape[make_shape]
    several = (which == "count") | (b["count"] > 0)
    b["size"][several] %= 2  # several objects must fit: small or medium
    twin = {k: v.copy() for k, v in b.items()}
    for f in _DRAWN:
        rows = which == f
        k = len(FACTORS[f])
        twin[f][rows] = (b[f][rows] + delta[f][rows]) % k
    size_rows = (which == "size") & (b["count"] > 0)
    twin["size"][size_rows] = 1 - b["size"][size_rows]
    bird_rows = which == "bird"
    twin["bird"][bird_rows] = 1 - b["bird"][bird_rows]
    unsafe_rows = which == "unsafe"
    twin["unsafe"][unsafe_rows] = 1 - b["unsafe"][unsafe_rows]
    for lab in (b, twin):
        lab["water"][:] = (lab["background"] < len(WATER_BACKGROUNDS)).astype(np.int64)
    return twin, which


def render_pairs(
    base: dict[str, np.ndarray], twin: dict[str, np.ndarray], rng: np.random.Generator,
    image_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(bases, twins)`` images ``(h, 3, S, S)``, each pair drawn with the same texture,
    jitter and noise (pairs that switch the background are rendered apart from the others,
    so every other pair shares its background texture exactly)."""
    h = len(base["color"])
    out = [np.empty((h, 3, image_size, image_size), np.float32) for _ in range(2)]
    moved = base["background"] != twin["background"]
    for group in (moved, ~moved):
        seeds = rng.integers(0, 2**63, 2)
        idx = np.flatnonzero(group)
        if idx.size == 0:
            continue
        for lab, dst in zip((base, twin), out):
            sub = {k: v[idx] for k, v in lab.items()}
            dst[idx] = render(sub, np.random.default_rng(seeds[0]), image_size=image_size,
                              object_rng=np.random.default_rng(seeds[1]))
    return out[0], out[1]


def v2_batch(config: TrainConfig, step: int) -> TrainingBatch:
    """Batch ``step`` of a ``v2``-world run (module doc)."""
    rng = np.random.default_rng([config.seed, step])
    b = config.batch_size
    h = int(round(config.hard_negative_frac * b))
    base = sample_labels(b - h, rng, world=config.world)
    twin, which = twin_labels(base, h, config.twin_factors, rng)
    rest = {k: v[h:] for k, v in base.items()}
    img_b, img_t = render_pairs({k: v[:h] for k, v in base.items()}, twin, rng, config.image_size)
    img_r = render(rest, rng, image_size=config.image_size)
    world_rates = {**WORLD_RATES[config.world], **config.caption_rates}
    paired = {k: np.concatenate([base[k][:h], twin[k]]) for k in base}
    rates = {**world_rates, **{TWIN_RATE[f]: 1.0 for f in config.twin_factors}}
    cap_p, men_p = make_captions(paired, rng, rates=rates)
    cap_r, men_r = make_captions(rest, rng, rates=world_rates)
    labels = {k: np.concatenate([base[k], twin[k]]) for k in base}
    mentions = {k: np.concatenate([men_p[k][:h], men_r[k], men_p[k][h:]]) for k in men_p}
    pair = np.concatenate([which, np.full(b - 2 * h, ""), which]).astype(str)
    return TrainingBatch(
        images=np.concatenate([img_b, img_r, img_t]), captions=cap_p[:h] + cap_r + cap_p[h:],
        pos=positives(labels, mentions), labels=labels, pair=pair,
    )
