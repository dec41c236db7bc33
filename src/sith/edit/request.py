"""What a user asks an edit to do: one frozen :class:`EditRequest` (docs/method.md §6).

request → plan → apply: the request names components (by index) and/or concepts to suppress
or amplify, the selection rule and judge, and the decomposition the concepts are selected
from; :func:`sith.edit.plan.plan_edits` turns it into an :class:`~sith.edit.plan.EditPlan`
(which carries the request), and the plan is applied in memory or saved with its log.
Every field is checked when the request is made, so a bad request fails before any model
loads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sith.decompose.config import DecompositionConfig
from sith.edit.exact import ComponentEdit, check_alpha
from sith.edit.judges.registry import DEFAULT_JUDGE
from sith.edit.select import DEFAULT_SIGNS, MIN_SCORE_SELECTED, RULES, check_signs
from sith.errors import ConfigError, SithError

#: A concept edit may touch at most this share of the components it selects from.
MAX_SHARE = 0.10

ComponentLike = ComponentEdit | tuple[int, int, int] | tuple[int, int, int, float]


def as_edit(component: ComponentLike, alpha: float) -> ComponentEdit:
    """A :class:`ComponentEdit` from ``(layer, head, index[, alpha])`` (``alpha`` when absent)."""
    if isinstance(component, ComponentEdit):
        return component
    parts = tuple(component)
    if len(parts) not in (3, 4) or not all(isinstance(p, int) and not isinstance(p, bool) for p in parts[:3]):
        raise SithError(
            f"component {component!r} is not (layer, head, index) or (layer, head, index, alpha); "
            "pass integers, e.g. (5, 3, 0)"
        )
    a = alpha if len(parts) == 3 or parts[3] is None else float(parts[3])
    return ComponentEdit(parts[0], parts[1], parts[2], a, "by index")


def _names(names: Iterable[str] | str | None) -> tuple[str, ...]:
    if names is None:
        return ()
    if isinstance(names, str):
        names = [names]
    return tuple(str(n) for n in names)


@dataclass(frozen=True)
class EditRequest:
    """One edit, as asked (nothing resolved against a model yet).

    Attributes:
        components: ``(layer, head, index[, alpha])`` tuples or :class:`ComponentEdit`\\ s,
            edited by index (``alpha`` when a tuple gives none).
        suppress, amplify: concepts (a string or strings) whose components are selected by ``rule``.
        alpha: α of suppressed and by-index components (0 removes them).
        amplify_alpha: α of amplified components.
        rule: ``judged`` (the paper's, default), ``alignment`` or ``weight`` (:mod:`sith.edit.select`).
        judge: a judge name (:data:`sith.edit.judges.registry.JUDGES`) or a judge object; ``judged`` rule.
        min_score: the smallest 1–5 judged score edited (3, the paper's).
        threshold: ``alignment``/``weight`` rules: smallest score selected (None: the rule's default).
        max_per_layer: keep only the N best-scoring components per layer.
        allow_large: allow a concept edit above :data:`MAX_SHARE` of the components selected from.
        signs: ``both`` (the default, :data:`sith.edit.select.DEFAULT_SIGNS`): a suppress
            request's judged rule reads the explanations of ``+v`` and ``−v`` (zeroing removes
            both; :mod:`sith.edit.select.judged`); ``seed``: the stored ``+v`` explanation only
            (the seed's rule). Amplify always reads ``+v``.
        decomposition: the options of ``sith.api.decompose`` (``layers``, ``method``, ``sparsity``,
            ``dictionary``, ``fold_ln``, ...) — the decomposition concepts are selected from and
            whose matrix is edited; unset ones are the seed's defaults — or a
            :class:`~sith.decompose.config.DecompositionConfig` itself (e.g. a loaded one's ``config``).
    """

    components: tuple[ComponentEdit, ...] = ()
    suppress: tuple[str, ...] = ()
    amplify: tuple[str, ...] = ()
    alpha: float = 0.0
    amplify_alpha: float = 2.0
    rule: str = "judged"
    judge: Any = DEFAULT_JUDGE
    min_score: int = MIN_SCORE_SELECTED
    threshold: float | None = None
    max_per_layer: int | None = None
    allow_large: bool = False
    signs: str = DEFAULT_SIGNS
    decomposition: Mapping[str, Any] | DecompositionConfig = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_alpha(self.amplify_alpha)
        put = object.__setattr__  # frozen: normalise the fields once, here
        put(self, "suppress", _names(self.suppress))
        put(self, "amplify", _names(self.amplify))
        put(self, "components", tuple(as_edit(c, self.alpha) for c in self.components or ()))
        for e in self.components:
            check_alpha(e.alpha)
        if not isinstance(self.decomposition, DecompositionConfig):
            put(self, "decomposition", dict(self.decomposition or {}))
        check_rule(self.rule, self.min_score, MAX_SHARE)
        check_selection(self.threshold, self.max_per_layer)
        check_signs(self.signs)

    @property
    def by_concept(self) -> bool:
        """Whether concepts are named (``suppress``/``amplify``)."""
        return bool(self.suppress or self.amplify)

    @property
    def judge_name(self) -> str:
        """The judge's name (a judge object's ``kind``)."""
        from sith.edit.judges.registry import judge_kind

        return self.judge if isinstance(self.judge, str) else judge_kind(self.judge)

    def record(self) -> dict[str, Any]:
        """What the edit log records of the request (its ``selection`` keys)."""
        return {
            "suppress": list(self.suppress),
            "amplify": list(self.amplify),
            "threshold": self.threshold,
            "max_per_layer": self.max_per_layer,
        }


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
            "an explanation weight for the weight rule)",
        )
    if max_per_layer is not None and max_per_layer < 1:
        raise ConfigError("max_per_layer", f"{{name}} must be >= 1, got {max_per_layer}")
