"""Decide an edit before anything is written: which components, why, and how much of the model.

:func:`plan_edits` chooses components (by index, or by concept through one rule of
:mod:`sith.edit.select`) and validates them completely — ranges, α, and that ``W_O`` can
carry each edit — so a dry run refuses exactly what a real run refuses. The
:class:`EditPlan` tells the truth before anything is written: each component with its
explanation and judged score, the totals (count, share of the components selected from,
share of each layer's σ² energy), what the request matched in the dictionary, and whether the
model knows the request at all. A concept edit above :data:`MAX_SHARE` of the components
selected from is refused unless ``allow_large``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sith.decompose.config import DecompositionConfig
from sith.decompose.results import LayerDecomposition, components_of, explanations_of
from sith.decompose.tables import data_frame, explanation_text, html_table
from sith.edit.exact import ComponentEdit, check_component, rank_one_updates
from sith.edit.judges import Judge
from sith.edit.request import MAX_SHARE, EditRequest
from sith.edit.select import (
    ALIGNMENT_THRESHOLD,
    WEIGHT_THRESHOLD,
    Task,
    cap_per_layer,
    concept_indices,
    edits_from_rule,
    judge_signs,
    negated_explanations,
    select_by_alignment,
    select_by_weight,
    zero_rule,
)
from sith.errors import ConfigError, ModelMismatch, SithError
from sith.factor import layer_svd

#: The format tag of a plan's record (``sith edit --json``; the edit log is ``sith-edit-log/1``).
PLAN_FORMAT = "sith-edit-plan/1"
#: The order of a plan row's fields (``sith edit --csv``).
PLAN_FIELDS = [
    "layer", "head", "index", "singular_value", "alpha", "judged", "score", "reason", "explanation",
]

JudgeFor = Callable[[list[str]], Judge]


@dataclass
class EditPlan:
    """The components an edit touches, with the explanations that justify them.

    ``rows()`` gives one dict per component: layer, head, index, singular value, α, the
    ``score`` that selected it (the judge's relevance, ``|cos|`` for the alignment rule, the
    concept's explanation weight for the weight rule; None for a component named by index),
    the judge's 1–5 ``judged`` verdict, the reason and the explanation ``[(concept, weight)]``.
    ``selection`` records the rule, the judge, the request's dictionary matches and
    familiarity; ``pool`` is the number of components selected from (0: by index only).
    ``request`` is the :class:`EditRequest` it was made for, ``config`` the decomposition
    configuration its explanations come from (None when no decomposition was read) and
    ``fingerprint`` the weights it was planned on (applying it to other weights is refused).
    """

    edits: list[ComponentEdit]
    fold_ln: bool
    explanations: dict[tuple[int, int, int], list[tuple[str, float]]] = field(default_factory=dict)
    singular_values: dict[tuple[int, int, int], float] = field(default_factory=dict)
    layer_energy: dict[int, float] = field(default_factory=dict)
    pool: int = 0
    selection: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    request: EditRequest | None = None
    config: DecompositionConfig | None = None
    fingerprint: str = ""

    def check_model(self, clip: Any) -> None:
        """Refuse to apply the plan to other weights than it was planned on."""
        if self.fingerprint and self.fingerprint != clip.info.fingerprint:
            raise SithError(
                f"this plan was made for other weights (fingerprint {self.fingerprint}, this model "
                f"{clip.info.fingerprint}); plan the request on this model"
            )

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "layer": e.layer,
                "head": e.head,
                "index": e.index,
                "singular_value": self.singular_values.get((e.layer, e.head, e.index)),
                "alpha": e.alpha,
                "score": e.score,
                "judged": e.judge_score,
                "reason": e.reason,
                "explanation": self.explanations.get((e.layer, e.head, e.index), []),
            }
            for e in self.edits
        ]

    def sorted_rows(self) -> list[dict[str, Any]]:
        """:meth:`rows` in layer, head, index order (how plans are printed and recorded)."""
        return sorted(self.rows(), key=lambda r: (r["layer"], r["head"], r["index"]))

    def totals(self) -> dict[str, Any]:
        """Counts and shares: components edited, of the pool selected from, and per layer the
        share of its σ² energy (Σ over its heads' singular values squared) that is edited."""
        per_layer: dict[int, float] = {}
        for (layer, _, _), s in self.singular_values.items():
            per_layer[layer] = per_layer.get(layer, 0.0) + s * s
        return {
            "components": len(self.edits),
            "pool": self.pool,
            "share_of_pool": (len(self.edits) / self.pool) if self.pool else None,
            "energy_share": {
                str(layer): round(e / self.layer_energy[layer], 6)
                for layer, e in sorted(per_layer.items())
                if self.layer_energy.get(layer)
            },
        }

    def record(self, checkpoint: Any = None, log: Any = None) -> dict[str, Any]:
        """The plan as one JSON-ready object, format :data:`PLAN_FORMAT` (``sith edit --json``):
        the rows, totals, selection, notes and the written paths (None: nothing written)."""
        return {
            "format": PLAN_FORMAT,
            "components": self.sorted_rows(),
            "totals": self.totals(),
            "selection": self.selection,
            "notes": self.notes,
            "checkpoint": None if checkpoint is None else str(checkpoint),
            "log": None if log is None else str(log),
        }

    def log_selection(self) -> dict[str, Any]:
        """What the edit log records as ``selection``: the plan's selection, the request's
        concepts and limits, the totals and the decomposition configuration."""
        asked = self.request.record() if self.request is not None else EditRequest().record()
        return {
            **self.selection,
            **asked,
            "totals": self.totals(),
            "decomposition": None if self.config is None else self.config.record(),
        }

    def __repr__(self) -> str:
        t = self.totals()
        head = f"EditPlan({self.selection.get('rule')}: {t['components']} component(s)"
        head += f" of {t['pool']})" if t["pool"] else ")"
        rows = [
            f"  {r['layer']}:{r['head']}:{r['index']} alpha {r['alpha']:g} sigma "
            f"{r['singular_value'] or 0:.4f}  {explanation_text(r['explanation']) or r['reason']}"
            for r in self.sorted_rows()
        ]
        return "\n".join([head, *rows, *(f"  note: {n}" for n in self.notes)])

    def to_pandas(self) -> Any:
        """The rows (:meth:`sorted_rows`) as a ``pandas.DataFrame`` (pandas: the ``notebook`` extra)."""
        return data_frame(self.sorted_rows(), PLAN_FIELDS)

    def _repr_html_(self) -> str:
        t = self.totals()
        line = f"{t['components']} component(s)"
        if t["pool"]:
            line += f" of {t['pool']} selected from ({t['share_of_pool']:.1%})"
        caption = f"edit plan ({self.selection.get('rule')})"
        return html_table(self.sorted_rows(), PLAN_FIELDS, caption=caption, notes=[line, *self.notes])


@dataclass(frozen=True)
class Evidence:
    """What a concept selection reads, prepared by the pipeline (:mod:`sith.pipeline.editing`).

    Attributes:
        decompositions: the layers selected from (made with ``fold_ln``); by-index plans take
            explanations from them too.
        config: their (resolved) configuration, carried into the plan.
        concepts: the dictionary's concept strings (``weight``/``alignment`` rules).
        atoms: the dictionary's atoms ``(N, e)`` (``alignment`` rule).
        judge_for: ``names -> Judge`` (``judged`` rule).
        image_mean: ``(e,)`` subtracted from targets as in the decomposition (``alignment``).
        fold_ln, sv_type: the matrix explained and edited, the vectors explained.
        selection: what the request matched, carried into :attr:`EditPlan.selection`.
        notes: one-line notes on the request (not in the dictionary, noise-like, ...).
    """

    decompositions: tuple[LayerDecomposition, ...] = ()
    config: DecompositionConfig | None = None
    concepts: list[str] | None = None
    atoms: Any = None
    judge_for: JudgeFor | None = None
    image_mean: Any = None
    fold_ln: bool = True
    sv_type: str = "right"
    selection: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Request:
    """One group of named concepts: ``names``, their α and the verb (suppress | amplify)."""

    names: tuple[str, ...]
    alpha: float
    verb: str

    @property
    def reason(self) -> str:
        return f"{self.verb} {', '.join(self.names)}"


def plan_edits(clip: Any, request: EditRequest, evidence: Evidence = Evidence()) -> EditPlan:
    """Decide which components change and by how much (nothing written).

    ``request.components`` are used as given. ``request.suppress``/``amplify`` name concepts,
    selected among the components of ``evidence.decompositions`` by ``request.rule``:
    ``judged`` (default) keeps components whose explanation ``evidence.judge_for(names)`` scores
    ``≥ min_score``; ``weight`` matches dictionary ``concepts`` in the explanations;
    ``alignment`` compares ``atoms`` with the targets. Every edit is validated as the real run
    validates it (``W_O`` must carry it); a concept edit above :data:`MAX_SHARE` of the pool is
    refused unless ``request.allow_large``. With ``request.signs == "both"`` the judged rule also
    judges ``−v``'s explanation of every component for a suppress request (needs
    ``evidence.atoms`` and ``evidence.concepts``); which sign matched is in each edit's reason
    and ``selection["signs"]``.
    """
    weights = clip.weights
    fold_ln = evidence.fold_ln
    decompositions = list(evidence.decompositions)
    sign_log: dict[str, Any] = {}
    check_decompositions(decompositions, weights, fold_ln=fold_ln)
    edits = [check_component(weights, e) for e in request.components]
    groups = [
        Request(names, alpha, verb)
        for names, alpha, verb in (
            (request.suppress, request.alpha, "suppress"),
            (request.amplify, request.amplify_alpha, "amplify"),
        )
        if names
    ]
    chosen: list[ComponentEdit] = []
    for group in groups:
        chosen += select_for(group, weights, request, evidence, sign_log)
    plan = EditPlan(
        list(merge_edits(edits + chosen, weights.n_layers).values()),
        fold_ln,
        pool=sum(d.num_heads * d.rank for d in decompositions) if groups else 0,
        selection=dict(
            evidence.selection,
            rule=request.rule if groups else "by index",
            **({"signs": {"mode": request.signs, **sign_log}} if request.rule == "judged" and groups else {}),
        ),
        notes=list(evidence.notes),
        request=request,
        config=evidence.config,
        fingerprint=weights.info.fingerprint,
    )
    for key, m in sign_log.get("minus_only", {}).items():
        plan.explanations[tuple(int(x) for x in key.split("."))] = m
    if not plan.edits:
        hint = " ".join(plan.notes) or "no explanation is judged about the request"
        raise SithError(f"no component matches the edit ({hint}); name other concepts or see `sith search`")
    if groups and not request.allow_large and len(chosen) > MAX_SHARE * plan.pool:
        raise ConfigError(
            "allow_large",
            f"the plan edits {len(chosen)} of {plan.pool} components ({len(chosen) / plan.pool:.0%}), "
            f"above the {MAX_SHARE:.0%} cap; narrow the request or pass {{on}}", value=len(chosen),
        )
    # the exact updates validate every edit as the real run does (W_O must carry it)
    for e, s, _, _ in rank_one_updates(weights, plan.edits, fold_ln=fold_ln):
        plan.singular_values[(e.layer, e.head, e.index)] = s
    for layer in sorted({e.layer for e in plan.edits}):
        plan.layer_energy[layer] = float((layer_svd(weights, layer, fold_ln=fold_ln).S.double() ** 2).sum())
    explain(plan, decompositions)
    return plan


def select_for(
    group: Request,
    weights: Any,
    request: EditRequest,
    evidence: Evidence,
    sign_log: dict[str, Any] | None = None,
) -> list[ComponentEdit]:
    """The components that carry one group of concepts under ``request.rule`` (:mod:`sith.edit.select`);
    with ``request.signs == "both"`` a suppress group's judged rule reads ``±v`` (which sign
    matched goes to each edit's reason and to ``sign_log``)."""
    decompositions = list(evidence.decompositions)
    rule = request.rule
    if rule in ("judged", "weight") and not decompositions:
        raise SithError("no decomposition to select from; run `sith decompose` first")
    if rule == "judged":
        if evidence.judge_for is None:
            raise ConfigError("judge", "the judged rule needs a judge; pass {name}")
        comps = components_of(decompositions)
        minus = None
        if request.signs == "both" and group.verb == "suppress":
            minus = negated_explanations(
                weights, decompositions, evidence.atoms, evidence.concepts, image_mean=evidence.image_mean
            )
        judged, matched = judge_signs(
            evidence.judge_for(list(group.names)), explanations_of(decompositions), minus,
            Task(group.verb, ", ".join(group.names), group.names), request.min_score,
        )
        alphas = zero_rule(request.min_score, group.alpha)(judged.scores)
        edits = edits_from_rule(comps, alphas, group.reason, judged)
        if minus is not None:
            edits = signed_edits(edits, comps, matched, minus, sign_log if sign_log is not None else {})
        return cap_per_layer(list(edits), request.max_per_layer)
    if evidence.concepts is None:
        raise ConfigError("dictionary", "editing by concept needs a dictionary; pass {name}")
    idx = concept_indices(list(group.names), evidence.concepts)
    if rule == "weight":
        return select_by_weight(
            decompositions,
            idx,
            alpha=group.alpha,
            threshold=WEIGHT_THRESHOLD if request.threshold is None else request.threshold,
            max_per_layer=request.max_per_layer,
            reason=group.reason,
        )
    if evidence.atoms is None:
        raise ConfigError("dictionary", "the alignment rule needs the dictionary's atoms; pass {name}")
    layers = sorted({d.layer for d in decompositions}) or list(range(weights.n_layers))
    return select_by_alignment(
        weights,
        evidence.atoms[idx],
        layers=layers,
        alpha=group.alpha,
        fold_ln=evidence.fold_ln,
        sv_type=evidence.sv_type,
        threshold=ALIGNMENT_THRESHOLD if request.threshold is None else request.threshold,
        max_per_layer=request.max_per_layer,
        reason=group.reason,
        image_mean=evidence.image_mean,
    )


def signed_edits(edits: tuple[ComponentEdit, ...], comps: list[tuple[int, int, int]], matched: list[str],
                 minus: list[Any], sign_log: dict[str, Any]) -> list[ComponentEdit]:
    """Each edit's reason gains the sign judged about the request (``[+v]``, ``[-v]``, ``[+v -v]``);
    ``sign_log`` records the signs and, for ``−v``-only matches, ``−v``'s explanation."""
    row = {c: n for n, c in enumerate(comps)}
    out = []
    for e in edits:
        n = row[(e.layer, e.head, e.index)]
        tag = " ".join(f"{s}v" for s in matched[n]) or "+v"
        key = f"{e.layer}.{e.head}.{e.index}"
        sign_log.setdefault("matched", {})[key] = matched[n] or "+"
        if matched[n] == "-":
            sign_log.setdefault("minus_only", {})[key] = minus[n]
        out.append(replace(e, reason=f"{e.reason} [{tag}]"))
    return out


def explain(plan: EditPlan, decompositions: list[LayerDecomposition]) -> None:
    """Attach each edited component's explanation (when its layer was decomposed)."""
    by_layer = {d.layer: d for d in decompositions}
    for e in plan.edits:
        d = by_layer.get(e.layer)
        key = (e.layer, e.head, e.index)
        if d is not None and e.index < d.rank and key not in plan.explanations:  # (a -v match: set already)
            plan.explanations[key] = d.explanation(e.head, e.index)


def check_decompositions(decompositions: list[LayerDecomposition], weights: Any, *, fold_ln: bool) -> None:
    """Refuse decompositions made for another model or with the other ``fold_ln``. A file made
    by the seed's code records no fingerprint: its model name and tag are compared instead."""
    for d in decompositions:
        model = d.model
        named = (model.model_name, model.pretrained)
        if (model.fingerprint or named != (weights.info.model_name, weights.info.pretrained)) and (
            model.fingerprint != weights.info.fingerprint
        ):
            raise ModelMismatch(
                "the decomposition was made for another model; run `sith decompose` on this model"
            )
        if d.config.fold_ln != fold_ln:
            flag = "{on}" if d.config.fold_ln else "{off}"
            raise ConfigError("fold_ln", f"the decomposition was made with {flag}; pass the same to the edit")


def merge_edits(edits: list[ComponentEdit], n_layers: int) -> dict[tuple[int, int, int], ComponentEdit]:
    """One edit per component (a later duplicate with the same α wins); a component both
    suppressed and amplified is refused."""
    seen: dict[tuple[int, int, int], ComponentEdit] = {}
    for e in edits:
        key = (e.layer % n_layers, e.head, e.index)
        if key in seen and seen[key].alpha != e.alpha:
            raise SithError(f"component {key} is both suppressed and amplified; name it once")
        seen[key] = replace(e, layer=key[0])
    return seen
