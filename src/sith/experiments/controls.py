"""Edit conditions: the judged edit and its controls.

Every edit experiment measures the same list of :class:`Condition`\\ s:

* ``original`` — no edit;
* ``judged`` — the experiment's rule applied to the judge's scores (the SITH edit);
* ``random-i`` (``draws`` ≥ 5) — as many random components as the judged edit, drawn per
  layer with the same per-layer counts, carrying the same α values;
* ``unrelated`` — the same number of components, those the same judge rates highest for an
  unrelated task (score first, then relevance), with the same α values;
* ``alignment-top`` / ``alignment>=0.3`` — the old rule that never reads the explanations,
  by the ``|cos|`` between a component's joint-space target and a task concept's atom
  (docs/method.md §3): the same number of components ranked by it (same α values), and every
  component at ``|cos| ≥ 0.3`` (the old default threshold).

Edits are exact (docs/method.md §6, :func:`sith.edit.edited_head_outputs`); an edited model is an
in-memory copy (:func:`sith.load.with_head_outputs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from sith.decompose.search import alignment
from sith.edit import ComponentEdit, edited_head_outputs
from sith.edit.select import Component, random_draws
from sith.encode import concept_atom
from sith.experiments.setup import Analysis
from sith.load import with_head_outputs

#: The alignment rule's threshold (the old default of ``sith edit``; not tuned here).
ALIGNMENT_THRESHOLD = 0.3


@dataclass(frozen=True)
class Condition:
    """One measured model: ``kind`` in original | judged | random | unrelated | alignment."""

    name: str
    kind: str
    edits: tuple[ComponentEdit, ...] = field(default_factory=tuple)

    @property
    def n_components(self) -> int:
        return sum(1 for e in self.edits if e.alpha != 1.0)

    def record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "n_components": self.n_components,
            "edits": [[e.layer, e.head, e.index, e.alpha] for e in self.edits if e.alpha != 1.0],
        }


def random_conditions(
    components: list[Component], chosen: tuple[ComponentEdit, ...], *, draws: int, seed: int
) -> list[Condition]:
    """:func:`sith.edit.select.random_draws` as ``random-1``, ``random-2``, … conditions."""
    return [
        Condition(f"random-{d + 1}", "random", edits)
        for d, edits in enumerate(random_draws(components, chosen, draws=draws, seed=seed))
    ]


def alignment_scores(analysis: Analysis, concepts: list[str]) -> Tensor:
    """``(n,)`` max over ``concepts`` of ``|cos|`` between each analysed component's joint-space
    target and the concept's atom (made like the dictionary's atoms; docs/method.md §3–§4): the
    alignment rule's score (a component is selected when it is ≥ :data:`ALIGNMENT_THRESHOLD`)."""
    ws, cfg = analysis.ws, analysis.config
    encoded = ws.encoded(cfg.dictionary, cfg.template)
    emb = ws.clip.encode_text(list(concepts)).float().cpu()
    mean = ws.image_mean() if cfg.image_mean else None
    best = torch.zeros(len(analysis.components))
    for e in emb:
        atom = concept_atom(e, encoded.embeddings, mode=cfg.atoms)
        per = alignment(
            ws.weights,
            atom,
            layers=analysis.layers,
            fold_ln=cfg.fold_ln,
            sv_type=cfg.sv_type,
            rank=analysis.decompositions[0].rank,
            image_mean=mean,
        )
        cos = torch.cat([per[layer][0].reshape(-1).float().cpu() for layer in analysis.layers])
        best = torch.maximum(best, cos.abs())
    return best


def edited_model(analysis: Analysis, condition: Condition) -> Any:
    """The model with ``condition``'s edits applied exactly (the original when there are none)."""
    if not condition.edits:
        return analysis.ws.clip
    ws = analysis.ws
    new = edited_head_outputs(
        ws.weights, list(condition.edits), fold_ln=analysis.config.fold_ln, allow_negative=True
    )
    return with_head_outputs(ws.clip, new)
