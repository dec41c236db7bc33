"""Control selections: what a selection rule is compared with (docs/experiments.md).

* :func:`random_draws` — as many random components as the selection, drawn per layer with
  the same per-layer counts (without replacement), carrying the same α values;
* :func:`top_ranked` — the same number of components ranked by another key (an unrelated
  concept's judged scores, the alignment rule's ``|cos|``), with the same α values.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sith.edit.exact import ComponentEdit
from sith.edit.select.judged import Component


def random_draws(
    components: list[Component], chosen: tuple[ComponentEdit, ...], *, draws: int, seed: int
) -> list[tuple[ComponentEdit, ...]]:
    """``draws`` random selections with ``chosen``'s per-layer counts and α values."""
    gen = torch.Generator().manual_seed(int(seed))
    by_layer: dict[int, list[Component]] = {}
    for c in components:
        by_layer.setdefault(c[0], []).append(c)
    out = []
    for _ in range(draws):
        edits: list[ComponentEdit] = []
        for layer, pool in by_layer.items():
            mine = [e for e in chosen if e.layer == layer]
            if not mine:
                continue
            pick = torch.randperm(len(pool), generator=gen)[: len(mine)].tolist()
            edits += [ComponentEdit(*pool[p], e.alpha, "random control") for p, e in zip(pick, mine)]
        out.append(tuple(edits))
    return out


def top_ranked(
    components: list[Component], key: Tensor, chosen: tuple[ComponentEdit, ...], reason: str
) -> tuple[ComponentEdit, ...]:
    """The ``len(chosen)`` components of highest ``key`` (n,), given the chosen edits' α values
    (largest |α − 1| to the highest rank)."""
    alphas = sorted((e.alpha for e in chosen), key=lambda a: -abs(a - 1.0))
    order = torch.argsort(key, descending=True, stable=True)[: len(alphas)].tolist()
    return tuple(
        ComponentEdit(*components[o], a, reason, round(float(key[o]), 4)) for o, a in zip(order, alphas)
    )
