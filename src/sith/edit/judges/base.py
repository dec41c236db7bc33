"""What every judge shares: the protocol, the explanation type, positive-and-sorted concepts.

An *explanation* is the list of ``(concept, weight)`` pairs that
:meth:`sith.decompose.LayerDecomposition.explanation` returns for one singular vector
(docs/method.md §5). A judge scores how relevant each explanation is to a task, 1 (unrelated)
to 5 (clearly about the task).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sith.errors import ConfigError

#: One explanation: ``[(concept, weight), ...]``.
Explanation = list[tuple[str, float]]

MIN_SCORE = 1
MAX_SCORE = 5


@runtime_checkable
class Judge(Protocol):
    """Scores explanations for a task question."""

    def score(self, explanations: list[Explanation], task: str) -> list[int]:
        """One integer in ``1..5`` per explanation, in order."""
        ...


def positive_sorted(explanation: Explanation) -> Explanation:
    """The pairs with weight > 0, largest weight first (ties: concept string order).

    Non-negative solvers (docs/method.md §5) give weights ≥ 0; zero slots and the negative
    weights of signed project options carry no positive evidence, so judges ignore them."""
    pairs = [(str(c), float(w)) for c, w in explanation if float(w) > 0]
    return sorted(pairs, key=lambda p: (-p[1], p[0]))


def check_task(task: str) -> str:
    """The stripped task question; an empty one is the user's error."""
    text = " ".join(str(task).split())
    if not text:
        raise ConfigError("task", "empty task question; pass one, e.g. {name}='background or scene'")
    return text


def split_concepts(text: str) -> list[str]:
    """``"water, ocean,lake"`` → ``["water", "ocean", "lake"]`` (empty items dropped)."""
    return [c.strip() for c in str(text).split(",") if c.strip()]
