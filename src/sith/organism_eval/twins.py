"""Counterfactual twins: does a component respond to what its *whole* explanation names?

The statistic, fixed before any measurement (docs/organism.md, "The twin test"):

* **Twin pairs.** For a world factor ``f`` (``TWIN_FACTORS``: the six factors, ``bird``
  duck/sparrow, ``habitat`` water-like/land-like, ``unsafe`` clean/skull) ``n`` pairs
  ``(x_i, x'_i)`` are drawn: ``x_i`` a world image whose ``f`` has value ``a_i``, ``x'_i`` the
  same image (same labels, same background texture, same jitter, colour noise and pixel
  noise: :func:`sith.organism.world.render` with ``object_rng``) with ``f`` set to another
  value ``b_i ≠ a_i`` (uniform). Everything but ``f`` is held fixed, the background too unless
  ``f`` is ``background`` or ``habitat``.
* **Response.** ``act(x)`` is the component's grounded activation: its exact contribution
  through the head, ``s_i ⟨z, u_i⟩`` (:func:`sith.ground.component_activations`), times the
  sign its explanation describes. For value ``v`` of ``f`` every pair with ``b_i = v``
  gives ``d = act(x') − act(x)`` and every pair with ``a_i = v`` gives ``d = act(x) − act(x')``
  (switching ``v`` on).
* **Twin AUC** ``T(c, f, v)`` = mean over those pairs of ``[d > 0] + ½[d = 0]``: the paired
  AUC, the probability that switching ``v`` on raises the activation (0.5 = no response).
* **A component's twin score.** Its explanation has ``K`` slots (concept ``s``, weight
  ``w_s ≥ 0``); each concept is parsed into the world values it names, ``N_s``
  (:func:`parse_concept`: *pink hexagon* names colour pink and shape hexagon, *duck on land*
  the bird duck and the habitat land, *table* nothing). Twin score =
  ``Σ_{s: N_s≠∅} w_s · mean_{(f,v)∈N_s} T(c,f,v) / Σ_{s: N_s≠∅} w_s``; its **coverage** =
  ``Σ_{s: N_s≠∅} w_s / Σ_s w_s``. A component whose explanation names no world value
  (coverage 0) has no twin score and is counted as **names nothing** — never dropped silently.
* **Summary** over components: the share that names something, the mean twin score over
  them, and per factor the mean of ``T`` over every (component, slot, value) item of that
  factor, each weighted ``w_s / |N_s|``.

Public API::

    twin_pairs(factor, n, seed) -> TwinPairs            images (2n, 3, S, S): bases then twins
    twin_activations(clip, layers, rank, pairs) -> {layer: (2n, H, rank)}
    twin_table(diff (n, N), pairs) -> (N, n_values)      T per component and value
    parse_concept(text) -> list of (factor, value)
    score_explanations(tables, parsed, scores, indices) -> per-component scores and items
    summarise(result) -> dict
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sith.factor import head_vo
from sith.ground import component_activations
from sith.ground.capture import capturing
from sith.organism.vocab import FACTORS, LAND_BACKGROUNDS, SPURIOUS_CLASSES, SYNONYMS, UNSAFE_WORDS
from sith.organism.world import render, sample_labels

#: Every factor a twin can switch, with its values (labels index these tuples).
TWIN_FACTORS: dict[str, tuple[str, ...]] = {
    **FACTORS,
    "bird": SPURIOUS_CLASSES,
    "habitat": ("water", "land"),
    "unsafe": ("clean", "skull"),
}
#: Twin images are drawn from seeds ``[seed, factor index]``; default image seed of the test
#: (training uses ``[0, step]``, the image mean 12345…, grounding 20251125, zero-shot 10000019).
TWIN_SEED = 25_000_025
#: Pairs per factor by default (each pair serves two values).
N_PAIRS = 200
#: A named item counts as *right* (supported by the twins) when its twin AUC is at least this.
RIGHT = 0.75

_IGNORED = {"a", "an", "the", "on", "in", "at", "near", "of", "with", "and", "next", "to", "symbol",
            "sign", "mark", "shape", "shapes", "object", "objects", "photo", "image", "picture"}
_POSITION_WORDS = {"middle": "center"}


def _lookup() -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for factor, values in FACTORS.items():
        for v in values:
            for w in (v, *SYNONYMS.get(v, ())):
                out.setdefault(w, (factor, v))
    for v in SPURIOUS_CLASSES:
        for w in (v, *SYNONYMS.get(v, ())):
            out[w] = ("bird", v)
    for w in UNSAFE_WORDS:
        out[w] = ("unsafe", "skull")
    out["land"] = ("habitat", "land")
    for w, v in _POSITION_WORDS.items():
        out[w] = ("position", v)
    return out


_LOOKUP = _lookup()


def parse_concept(text: str) -> list[tuple[str, str]]:
    """The world values a concept names, in order, each once: ``"pink hexagon"`` ->
    ``[("color", "pink"), ("shape", "hexagon")]``; ``"two circles"`` -> count two, shape
    circle (plurals of shape and bird words count); ``"duck on land"`` -> bird duck, habitat
    land (*on water* / *on land* is the captions' habitat phrase; the word *water* alone is the
    background value, *land* the habitat); words outside the world -> ``[]``."""
    out: list[tuple[str, str]] = []
    text = text.lower().strip()
    habitat = re.search(r"\bon (water|land)\b", text)
    if habitat:  # the captions' habitat phrase
        text = text[: habitat.start()] + text[habitat.end():]
    for word in re.split(r"[\s,]+", text):
        if not word or word in _IGNORED:
            continue
        hit = _LOOKUP.get(word)
        if hit is None and word.endswith("s"):
            stem = word[:-2] if word.endswith("es") and word[:-2] in _LOOKUP else word[:-1]
            hit = _LOOKUP.get(stem) if _LOOKUP.get(stem, ("",))[0] in ("shape", "bird") else None
        if hit is not None and hit not in out:
            out.append(hit)
    if habitat:
        out.append(("habitat", habitat.group(1)))
    return out


@dataclass(frozen=True)
class TwinPairs:
    """``n`` twin pairs of one factor.

    Attributes:
        factor: a key of ``TWIN_FACTORS``.
        a, b: ``(n,)`` value index of each base image / of its twin (``a ≠ b``).
        images: ``(2n, 3, S, S)`` float32 in [0, 1]: the ``n`` bases, then their ``n`` twins.
    """

    factor: str
    a: np.ndarray
    b: np.ndarray
    images: np.ndarray


def _base_overrides(factor: str) -> dict[str, object]:
    """Label constraints that make every value of ``factor`` drawable on the base image."""
    if factor in ("shape", "count"):
        return {"bird": -1}
    if factor == "size":
        return {"count": 0}
    if factor == "bird":
        return {"bird_rate": 1.0, "spurious_rate": 0.5}
    return {}


def _switch(labels: dict[str, np.ndarray], factor: str, b: np.ndarray, rng: np.random.Generator) -> None:
    """Set ``factor`` to values ``b`` in place (``habitat``: a random background of that kind)."""
    n_water = len(FACTORS["background"]) - len(LAND_BACKGROUNDS)
    if factor == "habitat":
        labels["background"] = np.where(b == 0, rng.integers(0, n_water, b.size),
                                         n_water + rng.integers(0, len(LAND_BACKGROUNDS), b.size))
    elif factor == "unsafe":
        labels["unsafe"] = b.copy()
    else:
        labels[factor] = b.copy()
    labels["water"] = (labels["background"] < n_water).astype(np.int64)


def _values_of(labels: dict[str, np.ndarray], factor: str) -> np.ndarray:
    if factor == "habitat":
        return 1 - labels["water"]
    return labels[factor].copy()


def twin_pairs(factor: str, n: int, seed: int = TWIN_SEED, *, image_size: int = 64,
               world: str = "v1") -> TwinPairs:
    """``n`` counterfactual pairs of ``factor`` (module doc) in ``world`` (the model's: v2 colours
    the skull), from seed ``[seed, factor index]``."""
    values = TWIN_FACTORS[factor]
    rng = np.random.default_rng([seed, list(TWIN_FACTORS).index(factor)])
    base = sample_labels(n, rng, world=world, **_base_overrides(factor))
    if factor == "count":  # two or three objects must fit: small or medium
        base["size"] = base["size"] % 2
    a = _values_of(base, factor)
    b = (a + rng.integers(1, len(values), n)) % len(values)
    twin = {k: v.copy() for k, v in base.items()}
    _switch(twin, factor, b, rng)
    bg_seed, obj_seed = rng.integers(0, 2**63, 2)
    images = [render(lab, np.random.default_rng(bg_seed), image_size=image_size,
                     object_rng=np.random.default_rng(obj_seed)) for lab in (base, twin)]
    return TwinPairs(factor, a, b, np.concatenate(images))


@torch.no_grad()
def twin_activations(
    clip: Any, layers: list[int], rank: int, images: np.ndarray, *, batch_size: int = 256
) -> dict[int, torch.Tensor]:
    """``{layer: (m, H, rank)}`` fold-ln component activations ``s_i ⟨z, u_i⟩`` of ``images``
    ``(m, 3, S, S)`` in [0, 1] (normalised with the model's mean/std, resized if needed)."""
    svds = {layer: head_vo(clip.weights, layer, fold_ln=True).svd for layer in layers}
    mean = torch.tensor(clip.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(clip.image_std, dtype=torch.float32).view(1, 3, 1, 1)
    out: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}
    with capturing(clip, layers) as store:
        for start in range(0, len(images), batch_size):
            img = torch.from_numpy(images[start:start + batch_size])
            if img.shape[-1] != clip.image_size:
                img = F.interpolate(img, size=(clip.image_size,) * 2, mode="bilinear", align_corners=False)
            clip.encode_images(((img - mean) / std).to(clip.device))
            for layer in layers:
                out[layer].append(component_activations(store[layer], svds[layer], rank).cpu())
    return {layer: torch.cat(v) for layer, v in out.items()}


def twin_table(diff: np.ndarray, pairs: TwinPairs) -> np.ndarray:
    """``(N, n_values)`` twin AUC ``T`` per component and value (NaN: no pair serves it).

    Args:
        diff: ``(n, N)`` signed activation of each twin minus its base, per component.
    """
    out = np.full((diff.shape[1], len(TWIN_FACTORS[pairs.factor])), np.nan)
    for k in range(out.shape[1]):
        d = np.concatenate([diff[pairs.b == k], -diff[pairs.a == k]])
        if len(d):
            out[:, k] = ((d > 0) + 0.5 * (d == 0)).mean(0)
    return out


def parse_pool(concepts: list[str]) -> list[list[tuple[str, int]]]:
    """Per pool concept, the ``(factor, value index)`` pairs it names (:func:`parse_concept`)."""
    return [[(f, TWIN_FACTORS[f].index(v)) for f, v in parse_concept(c)] for c in concepts]


def score_explanations(
    tables: dict[str, np.ndarray], parsed: list[list[tuple[str, int]]], scores: torch.Tensor,
    indices: torch.Tensor,
) -> dict[str, Any]:
    """Twin scores of ``N`` explanations (module doc).

    Args:
        tables: factor -> ``(N, n_values)`` twin AUC of the same ``N`` components.
        parsed: :func:`parse_pool` of the dictionary.
        scores, indices: ``(N, K)`` weights and pool indices (``-1`` unused).

    Returns:
        ``score (N,)`` (NaN where the explanation names nothing), ``coverage (N,)``, and
        ``items``: ``(row, slot, factor, value, weight, T)`` tuples, weight ``w_s / |N_s|``
        over the explanation's total weight.
    """
    w = scores.abs().double().numpy()
    idx = indices.numpy()
    n = len(w)
    score, coverage, items = np.full(n, np.nan), np.zeros(n), []
    for row in range(n):
        total = w[row].sum()
        if total <= 0:
            continue
        num = den = 0.0
        for slot in range(w.shape[1]):
            j, ws = int(idx[row, slot]), float(w[row, slot])
            named = parsed[j] if j >= 0 and ws > 0 else []
            ts = [float(tables[f][row, v]) for f, v in named]
            ok = [(f, v, t) for (f, v), t in zip(named, ts) if t == t]
            if not ok:
                continue
            num += ws * np.mean([t for _, _, t in ok])
            den += ws
            items += [(row, slot, f, v, ws / len(ok) / total, t) for f, v, t in ok]
        if den > 0:
            score[row], coverage[row] = num / den, den / total
    return {"score": score, "coverage": coverage, "items": items}


def bootstrap_ci(x: np.ndarray, *, draws: int = 1000, seed: int = 0) -> list[float]:
    """95% percentile bootstrap interval of the mean of ``x`` (finite entries)."""
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), (draws, len(x)))].mean(1)
    return [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))]


def summarise(result: dict[str, Any], *, right: float = RIGHT) -> dict[str, Any]:
    """Coverage, mean twin score (with a bootstrap interval), right-pick share and per factor."""
    s, cov, items = result["score"], result["coverage"], result["items"]
    named = np.isfinite(s)
    per: dict[str, dict[str, Any]] = {}
    for f in TWIN_FACTORS:
        its = [it for it in items if it[2] == f]
        if its:
            wt = np.array([it[4] for it in its])
            t = np.array([it[5] for it in its])
            per[f] = {"components": len({it[0] for it in its}), "items": len(its),
                      "twin_auc": float((wt * t).sum() / wt.sum())}
    wt = np.array([it[4] for it in items]) if items else np.zeros(0)
    t = np.array([it[5] for it in items]) if items else np.zeros(0)
    return {
        "components": int(len(s)),
        "named": int(named.sum()),
        "names_nothing": int((~named).sum()),
        "named_share": float(named.mean()) if len(s) else float("nan"),
        "weight_coverage": float(cov.mean()) if len(s) else float("nan"),
        "twin_score": float(s[named].mean()) if named.any() else float("nan"),
        "ci95": bootstrap_ci(s),
        "right_share": float((wt * (t >= right)).sum() / wt.sum()) if wt.sum() > 0 else float("nan"),
        "per_factor": per,
    }
