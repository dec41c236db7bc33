"""Grounded interpretability on the organism: does a component respond to the images of the
concept its explanation names first? (the grounding issue's AUC, :func:`sith.ground.grounded_auc`)

For ``n`` fresh world images the activation of every analysed component is measured once
(:func:`sith.ground.ground`, ``keep_all``). An explanation whose top concept is a world
value (a factor value or its synonym, a bird, an unsafe word) is scored by the rank AUC of
the component's signed activation for "the image shows that value"; other explanations are
not covered (their share is reported).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sith.edit.judges import Explanation
from sith.ground import ImageSource, ground, grounded_auc
from sith.organism.vocab import FACTORS, SPURIOUS_CLASSES, SYNONYMS, UNSAFE_WORDS

#: The organism's grounding images: this many, from this seed (fresh: not a training seed pair).
GROUND_IMAGES, GROUND_SEED = 512, 30_000_001


def world_words() -> dict[str, tuple[str, int]]:
    """word -> (label key, value index) for every world value, synonym, bird and unsafe word."""
    out: dict[str, tuple[str, int]] = {}
    for factor, values in FACTORS.items():
        for i, v in enumerate(values):
            for w in (v, *SYNONYMS.get(v, ())):
                out.setdefault(w, (factor, i))
    for i, b in enumerate(SPURIOUS_CLASSES):
        for w in (b, *SYNONYMS.get(b, ())):
            out[w] = ("bird", i)
    for w in UNSAFE_WORDS:
        out[w] = ("unsafe", 1)
    return out


@dataclass
class WorldActivations:
    """Per analysed layer ``(n, H, rank)`` activations and the images' world labels."""

    activations: dict[int, torch.Tensor]
    labels: dict[str, np.ndarray]

    def component(self, layer: int, head: int, index: int) -> np.ndarray:
        return self.activations[layer][:, head, index].double().numpy()


def world_activations(
    clip: Any,
    layers: list[int],
    rank: int,
    *,
    n: int = GROUND_IMAGES,
    seed: int = GROUND_SEED,
    progress: bool = False,
) -> WorldActivations:
    g = ground(
        clip,
        ImageSource(world=n, world_seed=seed),
        layers=layers,
        rank=rank,
        keep_all=True,
        progress=progress,
    )
    acts = {layer: torch.cat(list(g.trackers[layer].all_values)) for layer in layers}
    return WorldActivations(acts, dict(g.labels))


def grounded_scores(
    world: WorldActivations, components: list[tuple[int, int, int]], explanations: list[Explanation]
) -> tuple[float, float]:
    """``(mean grounded AUC over covered components, covered share)``."""
    words = world_words()
    aucs = []
    for (layer, head, index), expl in zip(components, explanations):
        pos = [(c, w) for c, w in expl if w > 0]
        if not pos:
            continue
        top = max(pos, key=lambda p: p[1])[0]
        if top not in words:
            continue
        key, value = words[top]
        y = world.labels[key] == value
        if y.all() or not y.any():
            continue
        aucs.append(grounded_auc(world.component(layer, head, index), y))
    share = len(aucs) / max(1, len(components))
    return (float(np.mean(aucs)) if aucs else float("nan")), share
