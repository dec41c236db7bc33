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

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sith.decompose.results import LayerDecomposition, components_of, explanations_of
from sith.edit.exact import ComponentEdit, SvdOf, check_alpha, check_component, layer_svd, rank_one_updates
from sith.edit.judges import Judge
from sith.edit.select import (
    MIN_SCORE_SELECTED,
    RULES,
    Task,
    check_signs,
    concept_indices,
    edits_from_rule,
    judge_signs,
    negated_explanations,
    select_by_alignment,
    select_by_weight,
    zero_rule,
)
from sith.errors import ConfigError, ModelMismatch, SithError

#: A concept edit may touch at most this share of the components it selects from.
MAX_SHARE = 0.10

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
    """

    edits: list[ComponentEdit]
    fold_ln: bool
    explanations: dict[tuple[int, int, int], list[tuple[str, float]]] = field(default_factory=dict)
    singular_values: dict[tuple[int, int, int], float] = field(default_factory=dict)
    layer_energy: dict[int, float] = field(default_factory=dict)
    pool: int = 0
    selection: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

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


@dataclass(frozen=True)
class Request:
    """One group of named concepts: ``names``, their α and the verb (suppress | amplify)."""

    names: tuple[str, ...]
    alpha: float
    verb: str

    @property
    def reason(self) -> str:
        return f"{self.verb} {', '.join(self.names)}"


def plan_edits(
    clip: Any,
    *,
    components: list[ComponentEdit] | None = None,
    suppress: list[str] | None = None,
    amplify: list[str] | None = None,
    suppress_alpha: float = 0.0,
    amplify_alpha: float = 2.0,
    fold_ln: bool = True,
    decompositions: list[LayerDecomposition] | None = None,
    concepts: list[str] | None = None,
    atoms: Any = None,
    rule: str = "judged",
    judge_for: JudgeFor | None = None,
    min_score: int = MIN_SCORE_SELECTED,
    threshold: float | None = None,
    max_per_layer: int | None = None,
    sv_type: str = "right",
    image_mean: Any = None,
    svd_of: SvdOf | None = None,
    max_share: float = MAX_SHARE,
    allow_large: bool = False,
    selection: dict[str, Any] | None = None,
    notes: list[str] | None = None,
    signs: str = "seed",
) -> EditPlan:
    """Decide which components change and by how much.

    ``components`` are used as given. ``suppress``/``amplify`` name concepts, selected among
    the components of ``decompositions`` (made with the same ``fold_ln``) by ``rule``:
    ``judged`` (default) keeps components whose explanation ``judge_for(names)`` scores
    ``≥ min_score``; ``weight`` matches dictionary ``concepts`` in the explanations;
    ``alignment`` compares ``atoms`` ``(N, e)`` with the ``sv_type`` targets (``image_mean``
    subtracted as in the decomposition). ``svd_of`` reuses a run's SVDs. ``selection`` and
    ``notes`` (what the request matched, familiarity) are carried into the plan. ``signs``
    (``seed`` | ``both``, :mod:`sith.edit.select.judged`): with ``both`` the judged rule also
    judges ``−v``'s explanation of every component for a suppress request (needs ``atoms`` and
    ``concepts``); which sign matched is in each edit's reason and ``selection["signs"]``.
    """
    weights = clip.weights
    svd_of = svd_of or (lambda layer, fold: layer_svd(weights, layer, fold))
    check_rule(rule, min_score, max_share)
    check_alpha(suppress_alpha)
    check_alpha(amplify_alpha)
    check_selection(threshold, max_per_layer)
    check_signs(signs)
    sign_log: dict[str, Any] = {}
    decompositions = decompositions or []
    check_decompositions(decompositions, weights, fold_ln=fold_ln)
    edits = [check_component(weights, e) for e in components or []]
    requests = [
        Request(tuple(names), alpha, verb)
        for names, alpha, verb in (
            (suppress, suppress_alpha, "suppress"),
            (amplify, amplify_alpha, "amplify"),
        )
        if names
    ]
    chosen: list[ComponentEdit] = []
    for req in requests:
        chosen += select_for(
            req,
            weights,
            rule=rule,
            decompositions=decompositions,
            concepts=concepts,
            atoms=atoms,
            judge_for=judge_for,
            min_score=min_score,
            threshold=threshold,
            max_per_layer=max_per_layer,
            fold_ln=fold_ln,
            sv_type=sv_type,
            image_mean=image_mean,
            svd_of=svd_of,
            signs=signs,
            sign_log=sign_log,
        )
    plan = EditPlan(
        list(merge_edits(edits + chosen, weights.n_layers).values()),
        fold_ln,
        pool=sum(d.num_heads * d.rank for d in decompositions) if requests else 0,
        selection=dict(selection or {}, rule=rule if requests else "by index",
                       **({"signs": {"mode": signs, **sign_log}} if rule == "judged" and requests else {})),
        notes=list(notes or []),
    )
    for key, m in sign_log.get("minus_only", {}).items():
        plan.explanations[tuple(int(x) for x in key.split("."))] = m
    if not plan.edits:
        hint = " ".join(plan.notes) or "no explanation is judged about the request"
        raise SithError(f"no component matches the edit ({hint}); name other concepts or see `sith search`")
    if requests and not allow_large and len(chosen) > max_share * plan.pool:
        raise ConfigError(
            "allow_large",
            f"the plan edits {len(chosen)} of {plan.pool} components ({len(chosen) / plan.pool:.0%}), "
            f"above the {max_share:.0%} cap; narrow the request or pass {{on}}", value=len(chosen),
        )
    # the exact updates validate every edit as the real run does (W_O must carry it)
    for e, s, _, _ in rank_one_updates(weights, plan.edits, fold_ln=fold_ln, svd_of=svd_of):
        plan.singular_values[(e.layer, e.head, e.index)] = s
    for layer in sorted({e.layer for e in plan.edits}):
        plan.layer_energy[layer] = float((svd_of(layer, fold_ln).S.double() ** 2).sum())
    explain(plan, decompositions)
    return plan


def select_for(
    req: Request,
    weights: Any,
    *,
    rule: str,
    decompositions: list[LayerDecomposition],
    concepts: list[str] | None,
    atoms: Any,
    judge_for: JudgeFor | None,
    min_score: int,
    threshold: float | None,
    max_per_layer: int | None,
    fold_ln: bool,
    sv_type: str,
    image_mean: Any,
    svd_of: SvdOf,
    signs: str = "seed",
    sign_log: dict[str, Any] | None = None,
) -> list[ComponentEdit]:
    """The components that carry one request under ``rule`` (:mod:`sith.edit.select`); with
    ``signs="both"`` a suppress request's judged rule reads ``±v`` (which sign matched goes to
    each edit's reason and to ``sign_log``)."""
    if rule in ("judged", "weight") and not decompositions:
        raise SithError("no decomposition to select from; run `sith decompose` first")
    if rule == "judged":
        if judge_for is None:
            raise ConfigError("judge", "the judged rule needs a judge; pass {name}")
        comps = components_of(decompositions)
        minus = None
        if signs == "both" and req.verb == "suppress":
            minus = negated_explanations(weights, decompositions, atoms, concepts, image_mean=image_mean,
                                         svd_of=svd_of)
        judged, matched = judge_signs(judge_for(list(req.names)), explanations_of(decompositions), minus,
                                      Task(req.verb, ", ".join(req.names), req.names), min_score)
        edits = edits_from_rule(comps, zero_rule(min_score, req.alpha)(judged.scores), req.reason, judged)
        if minus is not None:
            edits = signed_edits(edits, comps, matched, minus, sign_log if sign_log is not None else {})
        return cap_per_layer(list(edits), max_per_layer)
    if concepts is None:
        raise ConfigError("dictionary", "editing by concept needs a dictionary; pass {name}")
    idx = concept_indices(list(req.names), concepts)
    if rule == "weight":
        return select_by_weight(
            decompositions,
            idx,
            alpha=req.alpha,
            threshold=0.1 if threshold is None else threshold,
            max_per_layer=max_per_layer,
            reason=req.reason,
        )
    if atoms is None:
        raise ConfigError("dictionary", "the alignment rule needs the dictionary's atoms; pass {name}")
    layers = sorted({d.layer for d in decompositions}) or list(range(weights.n_layers))
    return select_by_alignment(
        weights,
        atoms[idx],
        layers=layers,
        alpha=req.alpha,
        fold_ln=fold_ln,
        sv_type=sv_type,
        threshold=0.3 if threshold is None else threshold,
        max_per_layer=max_per_layer,
        reason=req.reason,
        image_mean=image_mean,
        svd_of=svd_of,
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


def cap_per_layer(edits: list[ComponentEdit], max_per_layer: int | None) -> list[ComponentEdit]:
    """At most ``max_per_layer`` edits per layer, highest judge score then relevance first."""
    if max_per_layer is None:
        return edits
    ranked = sorted(edits, key=lambda e: (e.layer, -(e.judge_score or 0), -(e.score or 0.0), e.head, e.index))
    kept: list[ComponentEdit] = []
    for e in ranked:
        if sum(k.layer == e.layer for k in kept) < max_per_layer:
            kept.append(e)
    return kept


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


def check_rule(rule: str, min_score: int, max_share: float) -> None:
    """Refuse an unknown rule, a ``--min-score`` outside 1..5 and a cap outside (0, 1]."""
    if rule not in RULES:
        msg = f"unknown selection {{name}} {rule!r}; use one of {', '.join(RULES)}"
        raise ConfigError("rule", msg, value=rule, choices=RULES)
    if not 1 <= int(min_score) <= 5:
        raise ConfigError("min_score", f"{{name}} must be 1..5 (the judges' scale), got {min_score}")
    if not 0 < max_share <= 1:
        raise SithError(f"the cap must be a share in (0, 1], got {max_share}")


def check_selection(threshold: float | None, max_per_layer: int | None) -> None:
    """Refuse a negative or non-finite ``--threshold`` and a ``--max-per-layer`` below 1."""
    if threshold is not None and (not math.isfinite(threshold) or threshold < 0):
        raise ConfigError(
            "threshold",
            f"{{name}} {threshold} is invalid: use a value >= 0 (|cos| for the alignment rule, "
            "an explanation weight for the weight rule)"
        )
    if max_per_layer is not None and max_per_layer < 1:
        raise ConfigError("max_per_layer", f"{{name}} must be >= 1, got {max_per_layer}")
