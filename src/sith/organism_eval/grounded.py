"""Grounded validation on the organism: do explanations match behaviour?

For every analysed component whose explanation names a world value (a factor value, a
synonym, a bird, the skull: :func:`concept_factors`), the component's *grounded
activation* on fresh world images — its exact contribution through the head
(:func:`sith.ground.component_activations`, ``s_i ⟨Σ_t a_t x̂_t, u_i⟩``), times the sign
the explanation describes (``polarity``) — should be larger on images that show the value:

* ``auc`` — ROC AUC of that activation for images with the value vs without
  (:func:`sith.ground.grounded_auc`), from the world's labels;
* ``precision`` — share of images with the value among the 20 highest activations
  (:func:`sith.ground.top_precision`), beside ``base_rate`` (what a random ranking gets).

Two naming rules, reported separately: ``top`` (the explanation's largest-weight concept)
and ``share`` (every concept whose weight is at least ``SHARE`` of the explanation's
total weight; fixed before any measurement). A component naming one world value twice
(e.g. *red* and *crimson*) counts once per rule.

Explanations are passed as flat tensors over the analysed components so the same scoring
serves the nulls (:mod:`sith.organism_eval.nulls`): shuffled explanations, random directions.
:func:`grounded_scores` is the same top-concept rule for explanations given as concept
strings (``sith experiment fidelity``'s grounded column). The whole-explanation test with
counterfactual twins is :mod:`sith.organism_eval.twins`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sith.decompose.results import LayerDecomposition, components_of
from sith.ground import ImageSource, ground, grounded_auc, top_precision
from sith.organism.world import FACTORS, SPURIOUS_CLASSES, SYNONYMS, UNSAFE_WORDS

#: A concept names a component under the ``share`` rule when its weight is at least this
#: share of the explanation's total weight (fixed a priori, not tuned on the results).
SHARE = 0.25
#: Images in the top-activation precision.
TOP = 20
#: A component counts as grounded when its AUC is at least this.
AUC_GOOD = 0.75
#: World images for grounding come from seeds ``[GROUND_SEED, chunk]``: training draws
#: ``[train seed, step]`` (seed 0), the image mean integer seeds from 12345, zero-shot
#: tests 10_000_019 — none of them collide with this.
GROUND_SEED = 20_251_125
RULES = ("top", "share")
#: ``sith experiment fidelity``'s grounded column: this many world images from this seed.
EXPERIMENT_IMAGES, EXPERIMENT_SEED = 512, 30_000_001
#: The factors the organism learned (zero-shot ≥ 0.9; position and count are at chance).
LEARNED = ("shape", "color", "size", "background")


def concept_factors(concepts: list[str]) -> dict[int, tuple[str, str]]:
    """``{pool index: (factor, canonical value)}`` for every pool concept that names a
    world concept (a factor value or its synonym, a bird class, an unsafe word)."""
    lookup: dict[str, tuple[str, str]] = {}
    for factor, values in FACTORS.items():
        for v in values:
            lookup[v] = (factor, v)
            for s in SYNONYMS.get(v, ()):
                lookup[s] = (factor, v)
    for v in SPURIOUS_CLASSES:
        lookup[v] = ("bird", v)
        for s in SYNONYMS.get(v, ()):
            lookup[s] = ("bird", v)
    for w in UNSAFE_WORDS:
        lookup[w] = ("unsafe", "skull")
    return {i: lookup[c.lower()] for i, c in enumerate(concepts) if c.lower() in lookup}


def world_positive(labels: dict[str, np.ndarray], factor: str, value: str) -> np.ndarray:
    """``(n,)`` bool: which images show ``value`` of ``factor`` (``bird``, ``unsafe`` too)."""
    if factor == "unsafe":
        return labels["unsafe"].astype(bool)
    if factor == "bird":
        return labels["bird"] == SPURIOUS_CLASSES.index(value)
    return labels[factor] == FACTORS[factor].index(value)


@dataclass(frozen=True)
class Explained:
    """Flat explanations of ``N`` components (one row each).

    Attributes:
        keys: ``N`` ``(layer, head, index)`` tuples.
        scores: ``(N, K)`` weights (0 = unused slot); indices: ``(N, K)`` pool indices (-1 unused).
    """

    keys: list[tuple[int, int, int]]
    scores: Tensor
    indices: Tensor

    def permuted(self, perm: Tensor) -> Explained:
        """Component ``j`` gets the explanation of component ``perm[j]``."""
        return Explained(self.keys, self.scores[perm], self.indices[perm])


def flatten(decs: list[LayerDecomposition]) -> Explained:
    """The explanations of layer decompositions as one :class:`Explained` (layer, head, index order)."""
    keys = components_of(decs)
    scores = torch.cat([d.scores.reshape(-1, d.sparsity) for d in decs])
    indices = torch.cat([d.indices.reshape(-1, d.sparsity) for d in decs])
    return Explained(keys, scores, indices)


def named(
    ex: Explained, mapping: dict[int, tuple[str, str]], *, share: float = SHARE
) -> list[dict[str, Any]]:
    """Every (component, world value) pair an explanation names, per rule (module doc).

    Returns:
        dicts with ``row`` (index into ``ex``), ``component`` (its ``(layer, head, index)``),
        ``rule``, ``factor``, ``value``, ``concept_index``.
    """
    out = []
    w = ex.scores.abs()
    total = w.sum(-1)
    top = w.argmax(-1)
    for row in range(len(ex.keys)):
        if float(total[row]) <= 0:
            continue
        hits: dict[str, dict[tuple[str, str], int]] = {r: {} for r in RULES}
        j = int(ex.indices[row, top[row]])
        if j in mapping:
            hits["top"][mapping[j]] = j
        for slot in range(ex.scores.shape[1]):
            j = int(ex.indices[row, slot])
            if j in mapping and float(w[row, slot]) >= share * float(total[row]):
                hits["share"].setdefault(mapping[j], j)
        for rule in RULES:
            for (factor, value), j in hits[rule].items():
                out.append({"row": row, "component": list(ex.keys[row]), "rule": rule, "factor": factor,
                            "value": value, "concept_index": j})
    return out


def score_named(
    items: list[dict[str, Any]], activations: np.ndarray, labels: dict[str, np.ndarray], *, top: int = TOP
) -> list[dict[str, Any]]:
    """Add ``auc``, ``precision``, ``base_rate`` to each named pair; ``activations (n, N)``
    holds each component's signed grounded activation per image. Pairs whose value never
    (or always) appears in the images are left out."""
    out = []
    for it in items:
        y = world_positive(labels, it["factor"], it["value"])
        if y.all() or not y.any():
            continue
        a = activations[:, it["row"]]
        out.append({**it, "auc": grounded_auc(a, y), "precision": top_precision(a, y, k=min(top, a.size)),
                    "base_rate": float(y.mean())})
    return out


def summarise(scored: list[dict[str, Any]], *, good: float = AUC_GOOD) -> dict[str, Any]:
    """Per rule: ``count``, ``mean_auc``, ``share_auc_good`` (AUC ≥ ``good``),
    ``mean_precision``, ``mean_base_rate``, ``grounded_recall`` (share of the learned
    factors' values named by at least one component with AUC ≥ ``good``) and the same
    statistics per factor."""
    out: dict[str, Any] = {}
    n_values = sum(len(FACTORS[f]) for f in LEARNED)
    for rule in RULES:
        rows = [s for s in scored if s["rule"] == rule]
        out[rule] = _stats(rows, good)
        found = {(s["factor"], s["value"]) for s in rows if s["factor"] in LEARNED and s["auc"] >= good}
        out[rule]["grounded_recall"] = len(found) / n_values
        out[rule]["per_factor"] = {
            f: _stats([s for s in rows if s["factor"] == f], good)
            for f in sorted({s["factor"] for s in rows})
        }
    return out


def _stats(rows: list[dict[str, Any]], good: float) -> dict[str, Any]:
    if not rows:
        return {"count": 0, "mean_auc": float("nan"), "share_auc_good": float("nan"),
                "mean_precision": float("nan"), "mean_base_rate": float("nan")}
    auc = np.array([r["auc"] for r in rows])
    return {
        "count": len(rows),
        "mean_auc": float(auc.mean()),
        "share_auc_good": float((auc >= good).mean()),
        "mean_precision": float(np.mean([r["precision"] for r in rows])),
        "mean_base_rate": float(np.mean([r["base_rate"] for r in rows])),
    }


@dataclass(frozen=True)
class WorldActivations:
    """Grounded activations of every analysed component on ``n`` world images.

    Attributes:
        acts: layer -> ``(n, H, rank)`` activations ``s_i ⟨z, u_i⟩`` (canonical sign).
        labels: factor -> ``(n,)`` world labels.
    """

    acts: dict[int, Tensor]
    labels: dict[str, np.ndarray]

    def of(self, keys: list[tuple[int, int, int]], sign: Tensor | None = None) -> np.ndarray:
        """``(n, N)`` activations of components ``keys``, times ``sign (N,)`` if given."""
        cols = torch.stack([self.acts[layer][:, h, i] for layer, h, i in keys], dim=1).double()
        if sign is not None:
            cols = cols * sign.double()[None, :]
        return cols.numpy()


def world_activations(
    clip: Any, layers: list[int], rank: int, *, n_images: int, seed: int = GROUND_SEED,
    batch_size: int = 128, progress: bool = False,
) -> WorldActivations:
    """One grounding pass of ``clip`` over ``n_images`` fresh world images (fold-ln SVD)."""
    g = ground(clip, ImageSource(world=n_images, world_seed=seed), layers=list(layers), rank=rank, k=1,
               batch_size=batch_size, keep_all=True, grid_components=0, progress=progress)
    acts = {layer: torch.cat(g.trackers[layer].all_values) for layer in g.layers}
    return WorldActivations(acts, g.labels)


def polarity_of(decs: list[LayerDecomposition]) -> Tensor:
    """``(N,)`` ±1: the sign each flat explanation describes (layer, head, index order)."""
    return torch.cat([d.polarity.reshape(-1).float() for d in decs])


def grounded_report(
    ex: Explained,
    activations: np.ndarray,
    labels: dict[str, np.ndarray],
    mapping: dict[int, tuple[str, str]],
    *,
    share: float = SHARE,
) -> dict[str, Any]:
    """Named pairs of ``ex`` scored against ``activations (n, N)``: ``summary`` + ``items``."""
    scored = score_named(named(ex, mapping, share=share), activations, labels)
    return {"summary": summarise(scored), "items": scored}


def explained_from_strings(
    components: list[tuple[int, int, int]], explanations: list[list[tuple[str, float]]]
) -> tuple[Explained, list[str]]:
    """String explanations (``(concept, weight)`` pairs per component) as :class:`Explained`
    over their own concept list (returned with it)."""
    concepts = sorted({c for e in explanations for c, _ in e})
    index = {c: i for i, c in enumerate(concepts)}
    k = max([len(e) for e in explanations] + [1])
    scores = torch.zeros(len(explanations), k)
    indices = torch.full((len(explanations), k), -1, dtype=torch.long)
    for row, e in enumerate(explanations):
        for slot, (c, w) in enumerate(e):
            scores[row, slot], indices[row, slot] = float(w), index[c]
    return Explained(list(components), scores, indices), concepts


def grounded_scores(
    world: WorldActivations,
    components: list[tuple[int, int, int]],
    explanations: list[list[tuple[str, float]]],
) -> tuple[float, float]:
    """``(mean grounded AUC, covered share)`` of string explanations under the ``top`` rule:
    the AUC of each component whose top concept names a world value (values absent from the
    images left out), and the share of ``components`` so scored."""
    ex, concepts = explained_from_strings(components, explanations)
    top = grounded_report(ex, world.of(ex.keys), world.labels, concept_factors(concepts))["summary"]["top"]
    return top["mean_auc"], top["count"] / max(1, len(components))
