"""``sith experiment edit``: what ``sith edit --suppress X`` does to the organism, beside controls.

For each request (default ``skull`` and ``water,ocean``), the judged edit is exactly the plan
``sith edit --suppress X`` makes by default (:meth:`sith.pipeline.Workspace.plan`: the
request matched to dictionary concepts, every explanation judged by the share judge, components
judged ≥ 3 zeroed). It is measured beside controls fixed before any measurement:

* ``random-i`` — the same per-layer counts of random components, α = 0 (``--draws``);
* ``unrelated`` — the same number of components, those the same judge rates highest for an
  unrelated request (:data:`UNRELATED_REQUEST`, a world word neither metric reads);
* ``alignment-top`` — the same number, ranked by the alignment rule (``|cos|`` of the component's
  target with the request's atoms).

Every model is measured on fresh image seeds for both phenomena: the skull (AUC of the
skull-vs-clean score, its best-threshold accuracy, the other four factors' zero-shot accuracy)
and the spurious birds (worst and average group accuracy). The primary metrics are the
request's own: the skull AUC (lower is better) for ``skull``, the worst group for the rest.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sith.edit import EditRequest
from sith.edit.select import judge_explanations, top_ranked
from sith.errors import SithError
from sith.experiments.controls import Condition, alignment_scores, random_conditions
from sith.experiments.nsfw import OTHER_FACTORS, OrganismSkull
from sith.experiments.results import Metric
from sith.experiments.runner import finish, organism_seeds
from sith.experiments.setup import Options, Task, analyse
from sith.experiments.spurious import OrganismGroups
from sith.pipeline.editing import judge_for, request_notes

#: The requests measured by default (the README's examples).
DEFAULT_REQUESTS: tuple[tuple[str, ...], ...] = (("skull",), ("water", "ocean"))
#: The unrelated control's request: a world word that neither the skull nor the birds' metrics read.
UNRELATED_REQUEST: tuple[str, ...] = ("three",)
SHOWN = ["skull_auc", "skull_best_threshold_acc", "other_factors", "worst_group", "average"]


class BothPhenomena:
    """Measure the skull and the spurious birds on the same fresh seeds."""

    def __init__(self, seeds: list[int], n: int) -> None:
        self.skull = OrganismSkull(seeds, n=n)
        self.groups = OrganismGroups(seeds, n_per_group=max(1, n // 2))

    def __call__(self, clip: Any) -> dict[str, Metric]:
        return {**self.skull(clip), **self.groups(clip)}


def slug(names: tuple[str, ...]) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "-".join(names).lower()).strip("-") or "request"


def conditions_for(
    ws: Any, analysis: Any, names: tuple[str, ...], draws: int
) -> tuple[list[Condition], dict]:
    """The default plan of ``sith edit --suppress names`` and its controls, plus a record."""
    plan = ws.plan(EditRequest(suppress=names, decomposition=analysis.config))
    chosen = tuple(plan.edits)
    comps = analysis.components
    expl = analysis.explanations()
    matches, records, _ = request_notes(ws, analysis.config, list(UNRELATED_REQUEST))
    unrelated_judge = judge_for(ws, "share", analysis.config.sparsity, analysis.reference(), matches)
    unrelated = judge_explanations(
        unrelated_judge(list(UNRELATED_REQUEST)), expl, Task("unrelated", "three", UNRELATED_REQUEST)
    )
    align = alignment_scores(analysis, list(names))
    conditions = [
        Condition("original", "original"),
        Condition("judged", "judged", chosen),
        *random_conditions(comps, chosen, draws=draws, seed=0),
        Condition("unrelated", "unrelated", top_ranked(comps, unrelated.ranking_key(), chosen, "unrelated")),
        Condition("alignment-top", "alignment", top_ranked(comps, align, chosen, "alignment rule, top-N")),
    ]
    record = {
        "request": list(names),
        "plan": plan.rows(),
        "totals": plan.totals(),
        "selection": plan.selection,
        "notes": plan.notes,
        "unrelated_request": list(UNRELATED_REQUEST),
        "unrelated_match": records,
        "random_draws": draws,
    }
    return conditions, record


def run(
    ws: Any,
    opts: Options,
    out_dir: Path,
    judge: Any = None,
    requests: tuple[tuple[str, ...], ...] | None = None,
) -> dict[str, Any]:
    """Measure ``sith edit``'s default plan for each request with its controls; one results
    folder per request under ``out_dir``; returns ``{"markdown", "results"}``."""
    if opts.dataset != "organism":
        raise SithError("sith experiment edit runs on the organism (its skull and birds); drop --dataset")
    if judge is not None:
        raise SithError("sith experiment edit measures sith edit's default judge; drop --judge")
    analysis = analyse(ws, layers=opts.layers, dictionary=opts.dictionary)
    measure = BothPhenomena(organism_seeds(opts.seeds), opts.n)
    parts, results = [], {}
    for names in requests or DEFAULT_REQUESTS:
        conditions, record = conditions_for(ws, analysis, names, opts.draws)
        primary = {"skull_auc": False} if "skull" in names else {"worst_group": True}
        primary["other_factors"] = True
        payload = finish(
            "edit",
            analysis,
            conditions,
            measure,
            primary=primary,
            shown=SHOWN + list(OTHER_FACTORS),
            config={**opts.record(), "rule": "sith edit default: share judge, zero components judged >= 3"},
            record=record,
            out_dir=Path(out_dir) / slug(names),
            progress=opts.progress,
            title=f"`sith edit --suppress {','.join(names)}` (default rule) with controls on the organism.",
        )
        results[slug(names)] = payload
        parts.append(payload["markdown"])
    return {"markdown": "\n".join(parts), "results": results}
