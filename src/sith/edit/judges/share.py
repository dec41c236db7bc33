"""The share judge: how much of an explanation names the request (``sith edit``'s default).

The request (``--suppress skull``) is first matched to dictionary concepts — by words
(``"skull"`` matches ``"skull symbol"``) and by meaning against a null measured on the spot
(:func:`sith.edit.select.match_request`). An explanation ``{(a_k, w_k)}`` (positive weights
only, docs/method.md §5) is then scored by the weight share of its matched concepts::

    share = Σ_k w_k · [a_k matched] / Σ_k w_k          (in [0, 1])

binned to the paper's 1–5 scale with cut-offs that read the share against the explanation's
K slots (:func:`share_cutoffs`, fixed before any measurement):

=========================  =====  ==================================================
share                      score  reading
=========================  =====  ==================================================
0                          1      unrelated: no concept names the request
(0, 1/K)                   2      weakly related: named, with less than an even share
[1/K, 1/2)                 3      related: a matched concept holds at least an even share
[1/2, 3/4)                 4      strongly related: most of the weight
≥ 3/4                      5      about the request
=========================  =====  ==================================================

With the paper's cut-off (score ≥ 3) a component is selected when the concepts matching the
request hold at least 1/K of its explanation's weight. docs/judges.md: the 1/K bin was chosen
for this judge's binary matches (an even share of K slots), after seeing that the organism's
one skull-led explanation holds 0.29 of its weight, below the embedding judge's 0.30 bin.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sith.edit.judges.base import Explanation, Verdict, positive_sorted
from sith.edit.judges.embedding import Relevance, score_from_mean
from sith.errors import SithError


def share_cutoffs(k: int) -> tuple[float, float, float, float]:
    """Lower bounds of the share for scores 2..5: ``(tiny, 1/K, 1/2, 3/4)`` (K ≥ 1)."""
    if k < 1:
        raise SithError(f"the share judge needs K >= 1 concepts per explanation, got {k}")
    return (1e-9, min(1.0 / k, 0.5), 0.5, 0.75)


class ShareJudge:
    """Offline judge: the weight share of an explanation's concepts that are in ``matched``.

    Args:
        matched: the dictionary concepts that match the request (exact strings).
        k: the decomposition's sparsity K (sets the 1/K cut-off).
    """

    kind = "share"

    def __init__(self, matched: Iterable[str], k: int) -> None:
        self.matched = frozenset(str(c) for c in matched)
        self.k = int(k)
        self.cutoffs = share_cutoffs(self.k)

    def relevance(self, explanations: list[Explanation], task: str = "") -> Relevance:
        """Per explanation: ``raw`` R = matched weight, ``mean`` the share, ``lead`` whether the
        largest-weight concept matches, and the 1–5 score binned from the share."""
        raw, mean, lead = [], [], []
        for pairs in (positive_sorted(e) for e in explanations):
            total = sum(w for _, w in pairs)
            r = sum(w for c, w in pairs if c in self.matched)
            raw.append(r)
            mean.append(r / total if total > 0 else 0.0)
            lead.append(float(bool(pairs) and pairs[0][0] in self.matched))
        return Relevance(raw, mean, lead, [score_from_mean(m, self.cutoffs) for m in mean])

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind, "cutoffs": list(self.cutoffs), "k": self.k,
                "matched": sorted(self.matched)}

    def judge(
        self, explanations: list[Explanation], question: str = "", concepts: Sequence[str] = ()
    ) -> Verdict:
        """Scores and the matched weight share (the task was matched at construction)."""
        rel = self.relevance(explanations)
        return Verdict(rel.scores, rel.mean)

    def score(self, explanations: list[Explanation], task: str = "") -> list[int]:
        """One score 1–5 per explanation (see :meth:`relevance`)."""
        return self.relevance(explanations, task).scores
