"""The offline judge: relevance of an explanation to a task's concept list (paper Sec. 5.3).

For an explanation ``{(a_k, w_k)}`` (positive weights only) and task concepts ``{t}``::

    R      = Σ_k w_k · max_t cos(a_k, t)            (the paper's relevance, "raw R")
    R_mean = R / Σ_k w_k                             (weighted mean best-match cosine, in [-1, 1])

Embeddings come from a text encoder ``encode(list[str]) -> (n, e)``; each row is
L2-normalised, then — as the dictionary atoms are (docs/method.md §4) — the mean of a reference
set's normalised rows is subtracted and rows are normalised again, so unrelated concepts sit
near cosine 0 instead of CLIP's shared text offset (raw text cosines of unrelated words are
high: on the organism, water–red 0.60, water–grass 0.55). The reference set is ``reference``
when given (``sith judge`` passes every concept in the decomposition file), else the scored
concepts plus the task concepts. docs/judges.md reports how selective this is on the organism.

Score (1–5) from ``R_mean`` with fixed cut-offs chosen a priori from what a centred cosine
means, never tuned on results (:data:`DEFAULT_CUTOFFS`):

====================  =====  ==========================================
``R_mean``            score  reading
====================  =====  ==========================================
< 0.15                1      unrelated (centred cosines of unrelated words ≈ 0 ± 0.1)
[0.15, 0.30)          2      weakly related
[0.30, 0.50)          3      related
[0.50, 0.70)          4      strongly related
≥ 0.70                5      the task's own concepts or near-synonyms
====================  =====  ==========================================

An explanation with no positive weight gets R = 0 and score 1.

``score_by="lead"`` (a named option, not the default) bins ``lead = max_t cos(a_1, t)``
instead — the best-match cosine of the explanation's largest-weight concept, the concept the
grounded validation's top-concept rule reads (docs/grounding.md) — with the same cut-offs. R_mean
dilutes a component led by a task word with its other K − 1 concepts (on the organism
"hazard 0.56; green diamond 0.45; amber hexagon 0.43; …" has R_mean 0.23, score 2);
docs/judges.md compares the two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from sith.edit.judges.base import (
    MIN_SCORE,
    Explanation,
    Verdict,
    check_task,
    concept_task,
    positive_sorted,
    split_concepts,
)
from sith.errors import ConfigError, SithError

#: Lower bounds of ``R_mean`` for scores 2, 3, 4, 5 (see the module docstring).
DEFAULT_CUTOFFS: tuple[float, float, float, float] = (0.15, 0.30, 0.50, 0.70)
#: What the 1–5 score bins: ``mean`` (R_mean, default) or ``lead`` (the leading concept's match).
SCORE_BY: tuple[str, ...] = ("mean", "lead")

TextEncode = Callable[[list[str]], Tensor]


@dataclass(frozen=True)
class Relevance:
    """Per explanation: ``raw`` R, ``mean`` R_mean = R / Σw, ``lead`` the largest-weight
    concept's best-match cosine, and the 1–5 ``scores`` (binned from ``mean`` or ``lead``)."""

    raw: list[float]
    mean: list[float]
    lead: list[float]
    scores: list[int]


def unit_rows(x: Tensor, eps: float = 1e-12) -> Tensor:
    """``(n, e)`` rows scaled to unit L2 norm (zero rows stay zero)."""
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


def centred_unit(emb: Tensor, center: Tensor | None) -> Tensor:
    """Normalise rows, subtract ``center`` ``(e,)`` (if given), normalise again (docs/method.md §4)."""
    emb = unit_rows(emb.float())
    return emb if center is None else unit_rows(emb - center)


def score_from_mean(r_mean: float, cutoffs: Sequence[float] = DEFAULT_CUTOFFS) -> int:
    """Map ``R_mean`` to 1–5: 1 + the number of cut-offs it reaches."""
    return MIN_SCORE + sum(r_mean >= c for c in cutoffs)


def checked_binning(cutoffs: Sequence[float], score_by: str) -> tuple[tuple[float, ...], str]:
    """``(cutoffs, score_by)`` validated: 4 increasing cut-offs and one of :data:`SCORE_BY`."""
    if len(cutoffs) != 4 or list(cutoffs) != sorted(cutoffs):
        raise SithError(f"cutoffs must be 4 increasing numbers (scores 2..5), got {list(cutoffs)}")
    if score_by not in SCORE_BY:
        raise SithError(f"score_by must be one of {', '.join(SCORE_BY)}, got {score_by!r}")
    return tuple(float(c) for c in cutoffs), score_by


def explanation_relevance(
    weights: Tensor, concept_emb: Tensor, task_emb: Tensor
) -> tuple[float, float, float]:
    """``(R, R_mean, lead)`` for one explanation (``lead``: the best match of the concept with
    the largest weight).

    Args:
        weights: ``(K,)`` positive concept weights ``w_k``.
        concept_emb: ``(K, e)`` unit concept embeddings ``a_k``.
        task_emb: ``(T, e)`` unit task-concept embeddings ``t``.
    """
    if weights.numel() == 0:
        return 0.0, 0.0, 0.0
    best = (concept_emb @ task_emb.T).max(dim=1).values
    raw = float((weights * best).sum())
    return raw, raw / float(weights.sum()), float(best[int(weights.argmax())])


class EmbeddingJudge:
    """Offline judge: ``R = Σ_k w_k · max_t cos(a_k, t)`` mapped to 1–5 by fixed cut-offs.

    Args:
        encode: text encoder ``list[str] -> (n, e)`` (e.g. ``LoadedClip.encode_text``).
        task_concepts: the task's concept list; when None, the task question split at commas.
        reference: strings whose mean normalised embedding is subtracted (centring); None uses
            the scored concepts plus the task concepts; ``center=False`` turns centring off.
        cutoffs: lower bounds of ``R_mean`` for scores 2..5 (default :data:`DEFAULT_CUTOFFS`).
        batch_size: strings per ``encode`` call.
        score_by: ``mean`` (bin R_mean; default) or ``lead`` (bin the leading concept's match).
    """

    kind = "embedding"
    reads_concepts = True  # the task as a concept list

    def __init__(
        self,
        encode: TextEncode,
        task_concepts: Sequence[str] | None = None,
        *,
        reference: Sequence[str] | None = None,
        center: bool = True,
        cutoffs: Sequence[float] = DEFAULT_CUTOFFS,
        batch_size: int = 256,
        score_by: str = "mean",
    ) -> None:
        self.cutoffs, self.score_by = checked_binning(cutoffs, score_by)
        self.encode = encode
        self.task_concepts = None if task_concepts is None else [str(c) for c in task_concepts]
        self.reference = None if reference is None else [str(c) for c in reference]
        self.center = center
        self.batch_size = int(batch_size)

    def concepts_for(self, task: str) -> list[str]:
        """The task concepts used for ``task``."""
        concepts = self.task_concepts if self.task_concepts is not None else split_concepts(task)
        if not concepts:
            raise ConfigError(
                "task_concepts", "no task concepts; pass {name}=a,b,c or a comma-separated {name:task}"
            )
        return concepts

    def embed(self, strings: list[str]) -> Tensor:
        """``(n, e)`` raw embeddings, encoded in batches of ``batch_size``."""
        parts = [
            torch.as_tensor(self.encode(strings[i : i + self.batch_size])).detach().float().cpu()
            for i in range(0, len(strings), self.batch_size)
        ]
        return torch.cat(parts)

    def relevance(self, explanations: list[Explanation], task: str) -> Relevance:
        """Raw R, R_mean and the 1–5 score of every explanation for ``task``."""
        check_task(task)
        task_concepts = self.concepts_for(task)
        pairs = [positive_sorted(e) for e in explanations]
        used = sorted({c for p in pairs for c, _ in p})
        extra = [] if self.reference is None else self.reference
        strings = list(dict.fromkeys(used + task_concepts + extra))
        emb = unit_rows(self.embed(strings))
        row = {s: i for i, s in enumerate(strings)}
        center = None
        if self.center:
            ref = self.reference if self.reference is not None else used + task_concepts
            center = emb[[row[s] for s in dict.fromkeys(ref)]].mean(dim=0)
        emb = centred_unit(emb, center)
        task_emb = emb[[row[t] for t in task_concepts]]
        raw, mean, lead = [], [], []
        for p in pairs:
            w = torch.tensor([x for _, x in p], dtype=torch.float32)
            a = emb[[row[c] for c, _ in p]] if p else emb[:0]
            r, m, top = explanation_relevance(w, a, task_emb)
            raw.append(r)
            mean.append(m)
            lead.append(top)
        binned = mean if self.score_by == "mean" else lead
        return Relevance(raw, mean, lead, [score_from_mean(b, self.cutoffs) for b in binned])

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind, "cutoffs": list(self.cutoffs), "center": self.center,
                "score_by": self.score_by}

    def judge(self, explanations: list[Explanation], question: str, concepts: Sequence[str] = ()) -> Verdict:
        """Scores and raw R for the task's ``concepts`` (else the question split at commas)."""
        rel = self.relevance(explanations, concept_task(question, concepts))
        return Verdict(rel.scores, rel.raw)

    def score(self, explanations: list[Explanation], task: str) -> list[int]:
        """One score 1–5 per explanation (see :meth:`relevance`)."""
        return self.relevance(explanations, task).scores
