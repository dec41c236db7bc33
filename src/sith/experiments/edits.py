"""``sith experiment edit``: what ``sith edit --suppress X`` does to the organism, beside controls.

For each request (default ``skull``, ``red`` and ``water,ocean``: the skull, a colour, a
background), the judged edit is exactly the plan
``sith edit --suppress X`` makes by default (:meth:`sith.pipeline.Workspace.plan`: the
request matched to dictionary concepts, every explanation — of ``+v`` and of ``−v``, as a
suppress request's judged rule reads both signs — judged by the share judge, components judged
≥ 3 zeroed). It is measured beside controls fixed before any measurement:

* ``random-i`` — the same per-layer counts of random components, α = 0 (``--draws``);
* ``unrelated`` — the same number of components, those the same judge rates highest for an
  unrelated request (:data:`UNRELATED_REQUEST`, a world word neither metric reads);
* ``alignment-top`` — the same number, ranked by the alignment rule (``|cos|`` of the component's
  target with the request's atoms).

Every model is measured on fresh image seeds for both phenomena: the skull (AUC of the
skull-vs-clean score, its best-threshold accuracy, the other four factors' zero-shot accuracy)
and the spurious birds (worst and average group accuracy) — and, judged by what it removes
(:mod:`sith.experiments.removal`), per factor the drop of the mean zero-shot margin and of the
threshold accuracy, and the share of the request's own margin removed, each per seed with its
mean and [min, max] over seeds (``removal.md`` / ``removal.json`` beside the results). The
primary metrics are the request's own margin (lower is better) and the other factors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sith.edit import EditRequest
from sith.edit.select import judge_explanations, top_ranked
from sith.errors import SithError
from sith.experiments.controls import Condition, alignment_scores, random_conditions
from sith.experiments.removal import (
    OTHER_FACTORS,
    FactorMargins,
    format_removal,
    removal_table,
    request_values,
)
from sith.experiments.results import Metric
from sith.experiments.runner import finish, organism_seeds
from sith.experiments.setup import Options, Task, analyse
from sith.experiments.spurious import OrganismGroups
from sith.io import save_json, save_text
from sith.organism.model import recorded_world
from sith.pipeline.editing import judge_for, request_notes

#: The requests measured by default (the README's examples).
DEFAULT_REQUESTS: tuple[tuple[str, ...], ...] = (("skull",), ("red",), ("water", "ocean"))
#: The unrelated control's request: a world word that neither the skull nor the birds' metrics read.
UNRELATED_REQUEST: tuple[str, ...] = ("three",)
SHOWN = ["margin:request", "acc:request", "skull_auc", "skull_best_threshold_acc", "other_factors",
         "worst_group", "average"]


class BothPhenomena:
    """Measure the skull, the spurious birds and every factor's margin on the same fresh seeds
    (:class:`~sith.experiments.removal.FactorMargins` gives the skull AUC and the factors'
    accuracies on the nsfw experiment's images, rendered once for every condition)."""

    def __init__(self, seeds: list[int], n: int, request: tuple[str, ...] | None = None,
                 world: str = "v1") -> None:
        self.groups = OrganismGroups(seeds, n_per_group=max(1, n // 2))
        self.margins = FactorMargins(seeds, n=n, request=request, world=world)

    def __call__(self, clip: Any) -> dict[str, Metric]:
        return {**self.groups(clip), **self.margins(clip)}


def slug(names: tuple[str, ...]) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "-".join(names).lower()).strip("-") or "request"


def conditions_for(
    ws: Any, analysis: Any, names: tuple[str, ...], draws: int
) -> tuple[list[Condition], dict]:
    """The default plan of ``sith edit --suppress names`` and its controls, plus a record."""
    # the cap (10% of the pool) is lifted: the experiment measures whatever the default rule selects
    plan = ws.plan(EditRequest(suppress=names, decomposition=analysis.config, allow_large=True))
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
        "allow_large": True,
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
    for names in requests or DEFAULT_REQUESTS:  # each must name values of one world factor
        request_values(names)
    analysis = analyse(ws, layers=opts.layers, dictionary=opts.dictionary)
    world = recorded_world(ws.clip.info.model_name, ws.clip.info.pretrained)  # v2 draws coloured skulls
    parts, results = [], {}
    for names in requests or DEFAULT_REQUESTS:
        measure = BothPhenomena(organism_seeds(opts.seeds), opts.n, request=names, world=world)
        conditions, record = conditions_for(ws, analysis, names, opts.draws)
        primary = {"margin:request": False, "other_factors": True}
        payload = finish(
            "edit",
            analysis,
            conditions,
            measure,
            primary=primary,
            shown=SHOWN + list(OTHER_FACTORS),
            config={**opts.record(), "rule": "sith edit default: share judge, +v and -v explanations, zero "
                    "components judged >= 3"},
            record=record,
            out_dir=Path(out_dir) / slug(names),
            progress=opts.progress,
            title=f"`sith edit --suppress {','.join(names)}` (default rule) with controls on the organism.",
        )
        factor = request_values(names)[0]
        removal = removal_table(payload["rows"], factor)
        table = format_removal(removal, ",".join(names), factor)
        folder = Path(out_dir) / slug(names)
        save_json({"request": list(names), "seeds": organism_seeds(opts.seeds), "drops": removal},
                  folder / "removal.json")
        save_text(f"Drops against the original (mean [min, max] over {opts.seeds} seed(s); positive = "
                  f"removed):\n\n{table}\n", folder / "removal.md")
        payload["removal"] = removal
        payload["markdown"] += f"\nDrops against the original (mean [min, max] over seeds):\n\n{table}\n"
        results[slug(names)] = payload
        parts.append(payload["markdown"])
    return {"markdown": "\n".join(parts), "results": results}
