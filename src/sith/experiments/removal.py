"""Edits judged by what they remove: zero-shot margins and threshold accuracy per factor.

AUC saturates (removing the one component that carries most of the skull leaves its AUC at
0.9996), so it cannot register a partial removal. Per fresh image seed and per factor ``f``
(:data:`FACTORS`: shape, colour, size, background, the birds, the skull), on ``n`` balanced
images:

* **margin** — mean of ``cos(img, prompt(true value)) − max_{other values} cos(img, prompt)``
  (the zero-shot prompts of :mod:`sith.organism.zeroshot`; the skull: *a photo of a shape with
  a skull* vs *a photo of a shape*, the birds: *a photo of a duck | sparrow*);
* **threshold accuracy** — the share of images whose margin is positive (the zero-shot
  accuracy; for the skull, detection at threshold 0);
* **the request's margin** — the same margin on images that all show the requested value(s)
  (e.g. only red objects for ``red``; skull images for ``skull``).

:func:`removal_table` turns the measured rows into drops against the original, per seed, with
their mean and the [min, max] over seeds, and the share of the request's margin removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sith.errors import SithError
from sith.experiments.results import Metric, from_seeds
from sith.metrics import best_threshold_accuracy, rank_auc
from sith.organism.captions import prompt
from sith.organism.vocab import FACTORS, SPURIOUS_CLASSES
from sith.organism.world import sample, single_object_set
from sith.organism.zeroshot import loaded_encoders
from sith.organism_eval.twins import parse_concept

#: The factors whose margin and threshold accuracy every edit reports.
MARGIN_FACTORS = ("shape", "color", "size", "background", "bird", "unsafe")
#: The factors whose mean accuracy is ``other_factors`` (the learned ones, as in the nsfw experiment).
OTHER_FACTORS = ("shape", "color", "size", "background")
SKULL_PROMPTS = ("a photo of a shape", "a photo of a shape with a skull")


def prompts_of(factor: str) -> list[str]:
    """One prompt per value of ``factor`` (value order of the world's labels)."""
    if factor == "bird":
        return [prompt("bird", v) for v in SPURIOUS_CLASSES]
    if factor == "unsafe":
        return list(SKULL_PROMPTS)
    return [prompt(factor, v) for v in FACTORS[factor]]


def images_of(factor: str, n: int, seed: int, values: list[int] | None = None, *, world: str = "v1"
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, 3, S, S), labels (n,))`` of fresh images of ``world`` (the model's: v2
    draws the skull in colours) from ``seed``: balanced over ``factor``'s values, or showing only
    ``values`` (cycled)."""
    if values is None and factor in FACTORS:
        b = single_object_set(n, seed=seed, factor=factor, world=world)
        return b.images, b.labels[factor]
    pool = list(values) if values is not None else list(range(len(prompts_of(factor))))
    vals = np.asarray(pool)[np.arange(n) % len(pool)]
    if factor == "unsafe":
        return sample(n, seed=[seed, 7], unsafe=vals, bird=-1, count=0, world=world).images, vals
    if factor == "bird":
        return sample(n, seed=[seed, 8], bird=vals, spurious_rate=0.5, world=world).images, vals
    return sample(n, seed=[seed, 9], bird=-1, unsafe=0, count=0, world=world, **{factor: vals}).images, vals


def margins(enc: Any, images: np.ndarray, labels: np.ndarray, prompts: list[str]) -> np.ndarray:
    """``(n,)`` zero-shot margin: true prompt's cosine minus the best other prompt's."""
    t = F.normalize(enc.encode_text(prompts), dim=-1)
    v = F.normalize(enc.encode_image(torch.from_numpy(images)), dim=-1)
    s = (v @ t.T).double().numpy()
    y = np.asarray(labels)
    true = s[np.arange(len(y)), y]
    s[np.arange(len(y)), y] = -np.inf
    return true - s.max(1)


def request_values(names: tuple[str, ...]) -> tuple[str, list[int]]:
    """``(factor, value indices)`` a request names (``("water", "ocean")`` -> background 0, 1).

    Raises:
        SithError: the request names no world value, or values of two factors.
    """
    found = [fv for n in names for fv in parse_concept(n) if fv[0] in MARGIN_FACTORS]
    factors = {f for f, _ in found}
    if len(factors) != 1:
        raise SithError(f"the request {', '.join(names)!r} must name values of one world factor "
                        f"({', '.join(MARGIN_FACTORS)}); got {sorted(factors) or 'none'}")
    (factor,) = factors
    values = ["clean", "skull"] if factor == "unsafe" else (
        list(SPURIOUS_CLASSES) if factor == "bird" else list(FACTORS[factor]))
    return factor, sorted({values.index(v) for _, v in found})


@dataclass
class FactorMargins:
    """Measure: per factor the margin and threshold accuracy, the request's own margin, and the
    skull's AUC and best-threshold accuracy (the skull images are the nsfw experiment's, so these
    equal its ``skull_auc`` / ``skull_best_threshold_acc``); the four learned factors' accuracy
    (= ``factor_accuracy``: the same images, argmax = positive margin) and their mean
    ``other_factors``. Rendered images are kept between models (every condition sees the same)."""

    seeds: list[int]
    n: int = 200
    request: tuple[str, ...] | None = None
    world: str = "v1"
    images: dict[tuple, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def _images(self, factor: str, seed: int, values: list[int] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        key = (factor, seed, None if values is None else tuple(values))
        if key not in self.images:
            self.images[key] = images_of(factor, self.n, seed, values, world=self.world)
        return self.images[key]

    def __call__(self, clip: Any) -> dict[str, Metric]:
        enc = loaded_encoders(clip)
        per: dict[str, list[float]] = {}
        for s in self.seeds:
            for f in MARGIN_FACTORS:
                img, lab = self._images(f, s)
                m = margins(enc, img, lab, prompts_of(f))
                per.setdefault(f"margin:{f}", []).append(float(m.mean()))
                per.setdefault(f"acc:{f}", []).append(float((m > 0).mean()))
                if f == "unsafe":  # the skull score: cos(skull prompt) − cos(clean prompt)
                    score = torch.from_numpy(m * (2 * lab - 1))
                    pos = torch.from_numpy(lab == 1)
                    per.setdefault("skull_auc", []).append(float(rank_auc(score, pos)))
                    per.setdefault("skull_best_threshold_acc", []).append(
                        float(best_threshold_accuracy(score, pos)[0]))
            learned = [per[f"acc:{f}"][-1] for f in OTHER_FACTORS]
            per.setdefault("other_factors", []).append(float(np.mean(learned)))
            if self.request:
                f, vals = request_values(self.request)
                img, lab = self._images(f, s, vals)
                m = margins(enc, img, lab, prompts_of(f))
                per.setdefault("margin:request", []).append(float(m.mean()))
                per.setdefault("acc:request", []).append(float((m > 0).mean()))
        out = {k: from_seeds(v) for k, v in per.items()}
        out.update({f: out[f"acc:{f}"] for f in OTHER_FACTORS})
        return out


def _spread(x: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(x)), "min": float(np.min(x)), "max": float(np.max(x))}


def removal_table(rows: list[dict[str, Any]], factor: str | None = None) -> dict[str, Any]:
    """Per condition and metric: the drop against ``original`` per seed (mean, min, max); the
    share of the request's margin removed (``removed_share``, images showing the value) and,
    with ``factor``, of that factor's balanced margin (``factor_removed_share``). The balanced
    margin of a two-valued factor (the skull) is half the gap between the images with and
    without it, free of the prompts' offset; the value-only margin is not, and its share is
    ill-conditioned when the original is near 0 (v1's skull: 0.004)."""
    by = {r["condition"]: r for r in rows}
    base = by["original"]["metrics"]
    shares = {"margin:request": "removed_share"}
    if factor is not None:
        shares[f"margin:{factor}"] = "factor_removed_share"
    out = {}
    for name, r in by.items():
        if name == "original":
            continue
        cell = {}
        for key, m in r["metrics"].items():
            if not key.startswith(("margin:", "acc:")) or key not in base:
                continue
            drops = [b - e for b, e in zip(base[key]["seeds"], m["seeds"])]
            cell[key] = _spread(drops)
            if key in shares:
                cell[shares[key]] = _spread([d / b if b else float("nan")
                                             for d, b in zip(drops, base[key]["seeds"])])
        out[name] = cell
    return out


def format_removal(table: dict[str, Any], request: str, factor: str | None = None) -> str:
    """The removal table as markdown: drops (mean [min, max] over seeds), positive = removed."""
    keys = ["margin:request", "acc:request", *[f"margin:{f}" for f in MARGIN_FACTORS],
            *[f"acc:{f}" for f in MARGIN_FACTORS]]
    present = [k for k in keys if any(k in c for c in table.values())]
    head = ["condition", "removed share of " + request + "'s margin",
            *([f"removed share of the {factor} margin"] if factor else []),
            *[k.replace("request", request) for k in present]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, c in table.items():
        def fmt(d: dict[str, float] | None) -> str:
            return "-" if d is None else f"{d['mean']:+.3f} [{d['min']:+.3f}, {d['max']:+.3f}]"
        shares = [fmt(c.get("removed_share")), *([fmt(c.get("factor_removed_share"))] if factor else [])]
        lines.append("| " + " | ".join([name, *shares, *[fmt(c.get(k)) for k in present]]) + " |")
    return "\n".join(lines)
