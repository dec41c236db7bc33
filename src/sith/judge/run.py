"""Judge every component of a decomposition file (what ``sith judge FILE`` does).

Public API::

    judge_file(path, task, judge) -> list[JudgedComponent]
    judge_decomposition(decomposition, task, judge) -> list[JudgedComponent]
    check_same_model(decomposition, clip)
    format_judged(rows, fmt="table"|"json"|"csv", meta=None) -> str

``--json`` is one object, format :data:`FORMAT`: ``{"format", "task", "judge", "model",
"components": [{layer, head, index, score, relevance, explanation}]}`` (``sith explore
--judge`` reads it by that tag).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sith.decompose.results import LayerDecomposition, components_of, explanations_of
from sith.edit.judges.base import Explanation, Judge, positive_sorted
from sith.edit.judges.registry import run_judge
from sith.errors import SithError

FORMAT = "sith-judge/1"


@dataclass(frozen=True)
class JudgedComponent:
    """One singular vector's explanation and its score (``relevance``: raw R; embedding, word judges)."""

    layer: int | None
    head: int
    index: int
    score: int
    relevance: float | None
    explanation: str


def all_explanations(dec: LayerDecomposition) -> tuple[list[tuple[int, int]], list[Explanation]]:
    """``[(head, index)]`` and the matching explanations, head-major (:func:`components_of`)."""
    return [(h, i) for _, h, i in components_of([dec])], explanations_of([dec])


def explanation_text(explanation: Explanation) -> str:
    """``water 0.412; ocean 0.210`` (positive weights, largest first)."""
    return "; ".join(f"{c} {w:.3f}" for c, w in positive_sorted(explanation))


def check_same_model(dec: LayerDecomposition, clip: Any) -> None:
    """Refuse to judge ``dec`` on the text tower of other weights than it was made for."""
    model = dec.model
    if model.fingerprint and clip.info.fingerprint != model.fingerprint:
        raise SithError(
            f"the decomposition was made for other weights of {model.model_name} "
            f"{model.pretrained} (fingerprint {model.fingerprint}, loaded {clip.info.fingerprint}); "
            "decompose this model again"
        )


def judge_file(path: str | Path, task: str, judge: Judge) -> list[JudgedComponent]:
    """Score every component of the decomposition at ``path`` for ``task``."""
    dec = LayerDecomposition.load(path)
    return judge_decomposition(dec, task, judge)


def judge_decomposition(dec: LayerDecomposition, task: str, judge: Judge) -> list[JudgedComponent]:
    """Score every component of ``dec`` (head-major order)."""
    keys, explanations = all_explanations(dec)
    verdict = run_judge(judge, explanations, task)
    scores = verdict.scores
    raw = verdict.relevance if verdict.relevance is not None else [None] * len(keys)
    layer = dec.layer
    return [
        JudgedComponent(layer, h, i, int(s), r, explanation_text(e))
        for (h, i), s, r, e in zip(keys, scores, raw, explanations)
    ]


def format_judged(rows: list[JudgedComponent], fmt: str = "table", meta: dict[str, Any] | None = None) -> str:
    """Rows as an aligned table, CSV or JSON: one object ``{"format": FORMAT, **meta,
    "components": [row, ...]}`` (``meta``: e.g. ``task``, ``judge``, ``model``)."""
    dicts = [asdict(r) for r in rows]
    if fmt == "json":
        return json.dumps({"format": FORMAT, **(meta or {}), "components": dicts}, indent=2) + "\n"
    fields = ["layer", "head", "index", "score", "relevance", "explanation"]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(dicts)
        return buf.getvalue()
    lines = ["layer head index score relevance  explanation"]
    for r in rows:
        rel = "" if r.relevance is None else f"{r.relevance:.3f}"
        layer = "" if r.layer is None else r.layer
        lines.append(f"{layer!s:>5} {r.head:>4} {r.index:>5} {r.score:>5} {rel:>9}  {r.explanation}")
    return "\n".join(lines) + "\n"
