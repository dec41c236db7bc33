"""The word judge: does an explanation *use* the task's words? (offline, no model; docs/judges.md)

The embedding judge (:mod:`sith.edit.judges.embedding`) reads concepts through a text tower, so its
verdicts are only as good as that tower's separation of concepts — poor on a small model such
as the organism (raw cosines of unrelated words 0.55–0.60). An LLM judge reads the strings.
The word judge is the transparent offline stand-in for a closed vocabulary: a concept matches
the task when one of the task concepts occurs in it as whole words, case-insensitively
(``"water"`` matches ``"water"`` and ``"duck on water"``, not ``"waterfall"``)::

    m(a)   = 1 if some task concept t is a contiguous run of a's words, else 0
    R      = Σ_k w_k · m(a_k)                       (the embedding judge's R with cos → m)
    R_mean = R / Σ_k w_k                             (the weight share of matching concepts)
    lead   = m(a_1)                                  (the largest-weight concept)

``R_mean`` (or ``lead`` with ``score_by="lead"``) is binned to 1–5 by the embedding judge's
fixed cut-offs (:data:`sith.edit.judges.embedding.DEFAULT_CUTOFFS`): with the seed's spurious rule
(zero components judged ≥ 3) a component is edited when ≥ 30% of its explanation's weight
names the task. It cannot know synonyms the task list does not give; list them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sith.edit.judges.base import (
    Explanation,
    Verdict,
    check_task,
    concept_task,
    positive_sorted,
    split_concepts,
)
from sith.edit.judges.embedding import DEFAULT_CUTOFFS, Relevance, checked_binning, score_from_mean
from sith.errors import ConfigError

_WORD = re.compile(r"[0-9a-z]+")


def words_of(text: str) -> tuple[str, ...]:
    """``"Duck on-water"`` → ``("duck", "on", "water")``: lower-cased alphanumeric runs."""
    return tuple(_WORD.findall(str(text).lower()))


def contains_run(words: tuple[str, ...], run: tuple[str, ...]) -> bool:
    """Whether ``run`` occurs in ``words`` as a contiguous sub-sequence (an empty run never does)."""
    n = len(run)
    return n > 0 and any(words[i : i + n] == run for i in range(len(words) - n + 1))


def matches_task(concept: str, task_words: Sequence[tuple[str, ...]]) -> bool:
    """Whether some task concept (given as its words) occurs in ``concept`` as whole words."""
    words = words_of(concept)
    return any(contains_run(words, t) for t in task_words)


class WordJudge:
    """Offline judge: the weight share of an explanation's concepts that contain a task word.

    Args:
        task_concepts: the task's concept list; when None, the task question split at commas.
        cutoffs: lower bounds of ``R_mean`` for scores 2..5 (default :data:`DEFAULT_CUTOFFS`).
        score_by: ``mean`` (bin R_mean; default) or ``lead`` (bin whether the leading concept matches).
    """

    kind = "words"
    reads_concepts = True  # the task as a concept list

    def __init__(
        self,
        task_concepts: Sequence[str] | None = None,
        *,
        cutoffs: Sequence[float] = DEFAULT_CUTOFFS,
        score_by: str = "mean",
    ) -> None:
        self.cutoffs, self.score_by = checked_binning(cutoffs, score_by)
        self.task_concepts = None if task_concepts is None else [str(c) for c in task_concepts]

    def concepts_for(self, task: str) -> list[str]:
        """The task concepts used for ``task`` (each must contain a word)."""
        concepts = self.task_concepts if self.task_concepts is not None else split_concepts(task)
        if not concepts or not all(words_of(c) for c in concepts):
            raise ConfigError("task_concepts", "no task words; pass {name}=a,b,c (letters or digits) or a "
                              "comma-separated {name:task}")
        return concepts

    def relevance(self, explanations: list[Explanation], task: str) -> Relevance:
        """R, R_mean, lead and the 1–5 score of every explanation for ``task``."""
        check_task(task)
        task_words = [words_of(c) for c in self.concepts_for(task)]
        raw, mean, lead = [], [], []
        for pairs in (positive_sorted(e) for e in explanations):
            hits = [float(matches_task(c, task_words)) for c, _ in pairs]
            total = sum(w for _, w in pairs)
            r = sum(w * h for (_, w), h in zip(pairs, hits))
            raw.append(r)
            mean.append(r / total if total > 0 else 0.0)
            lead.append(hits[0] if hits else 0.0)
        binned = mean if self.score_by == "mean" else lead
        return Relevance(raw, mean, lead, [score_from_mean(b, self.cutoffs) for b in binned])

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind, "cutoffs": list(self.cutoffs), "score_by": self.score_by}

    def judge(self, explanations: list[Explanation], question: str, concepts: Sequence[str] = ()) -> Verdict:
        """Scores and raw R for the task's ``concepts`` (else the question split at commas)."""
        rel = self.relevance(explanations, concept_task(question, concepts))
        return Verdict(rel.scores, rel.raw)

    def score(self, explanations: list[Explanation], task: str) -> list[int]:
        """One score 1–5 per explanation (see :meth:`relevance`)."""
        return self.relevance(explanations, task).scores
