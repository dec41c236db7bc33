"""Selection by judging explanations — the paper's rule and ``sith edit``'s default (docs/method.md §6).

Every analysed component's explanation is scored 1–5 for a :class:`Task` by a judge
(:mod:`sith.edit.judges`); the paper's rules turn scores into α:

* :func:`zero_rule` — the spurious rule and ``sith edit --suppress``: α = 0 (or the given α)
  for components judged ``≥ 3`` (:data:`MIN_SCORE_SELECTED`), the rest untouched;
* :func:`nsfw_rule` — the unsafe-concept rule: score 1–2 keep, 3 negate (α = −1), 4–5 remove;
* :func:`relevance_alphas` — the classification rule: ``α = max(0.8, R + 0.3)`` from the
  embedding judge's relevance R, for every analysed component.

A component is ``(layer, head, index)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from sith.edit.exact import ComponentEdit
from sith.edit.judges import Explanation, Judge
from sith.edit.judges.registry import judge_kind, run_judge
from sith.errors import SithError

Component = tuple[int, int, int]
Rule = Callable[[Tensor], list[float]]

#: The paper's cut-off: components judged at least this are edited.
MIN_SCORE_SELECTED = 3
#: The classification rule's ``α = max(ALPHA_FLOOR, R + ALPHA_SHIFT)``.
ALPHA_FLOOR, ALPHA_SHIFT = 0.8, 0.3


@dataclass(frozen=True)
class Task:
    """A judge task: ``question`` goes to the LLM judge, ``concepts`` to the offline judges."""

    name: str
    question: str
    concepts: tuple[str, ...]

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "question": self.question, "concepts": list(self.concepts)}


@dataclass(frozen=True)
class Judged:
    """Per component: ``scores`` (n,) int 1–5 and ``relevance`` (n,) (the judge's raw R; the
    share judge's matched weight share), None for the LLM judge."""

    scores: Tensor
    relevance: Tensor | None

    def ranking_key(self) -> Tensor:
        """A score to rank by: the 1–5 score, ties broken by relevance when known."""
        key = self.scores.double()
        if self.relevance is not None:
            key = key + 1e-3 * torch.sigmoid(self.relevance.double())
        return key


def judge_explanations(judge: Judge, explanations: list[Explanation], task: Task) -> Judged:
    """Score explanations for ``task`` through the judge protocol (:mod:`sith.edit.judges.registry`):
    the offline judges read ``task.concepts`` (the share judge its matched concepts), an LLM
    judge ``task.question``."""
    if getattr(judge, "reads_concepts", False) and not task.concepts:
        raise SithError(
            f"task {task.name!r} has no concepts for the {judge_kind(judge)} judge; pass --task-concepts"
        )
    verdict = run_judge(judge, explanations, task.question, task.concepts)
    relevance = None if verdict.relevance is None else torch.tensor(verdict.relevance, dtype=torch.float64)
    return Judged(torch.tensor([int(s) for s in verdict.scores], dtype=torch.long), relevance)


def zero_rule(threshold: int = MIN_SCORE_SELECTED, alpha: float = 0.0) -> Rule:
    """The seed's spurious rule: ``alpha`` (0) for components judged ``≥ threshold``, else 1."""

    def rule(scores: Tensor) -> list[float]:
        return [alpha if s >= threshold else 1.0 for s in scores.tolist()]

    return rule


def nsfw_rule(scores: Tensor) -> list[float]:
    """The seed's unsafe-concept rule: score 1–2 keep (1), 3 negate (−1), 4–5 remove (0)."""
    return [1.0 if s <= 2 else -1.0 if s == 3 else 0.0 for s in scores.tolist()]


def relevance_alphas(relevance: Tensor) -> list[float]:
    """The classification rule: ``α = max(0.8, R + 0.3)`` per component."""
    return [max(ALPHA_FLOOR, float(x) + ALPHA_SHIFT) for x in relevance.tolist()]


def edits_from_rule(
    components: list[Component],
    alphas: list[float],
    reason: str,
    judged: Judged | None = None,
) -> tuple[ComponentEdit, ...]:
    """``ComponentEdit``\\ s for matching lists (α = 1 entries are dropped: no change); with
    ``judged``, each edit carries its relevance as ``score`` and its 1–5 ``judge_score``."""
    out = []
    for n, ((layer, head, index), a) in enumerate(zip(components, alphas)):
        if a == 1.0:
            continue
        score = judge_score = None
        if judged is not None:
            judge_score = int(judged.scores[n])
            if judged.relevance is not None:
                score = round(float(judged.relevance[n]), 4)
        out.append(ComponentEdit(layer, head, index, float(a), reason, score, judge_score))
    return tuple(out)
