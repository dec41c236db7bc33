"""Selection by judging explanations — the paper's rule and ``sith edit``'s default (docs/method.md §6).

Every analysed component's explanation is scored 1–5 for a :class:`Task` by a judge
(:mod:`sith.edit.judges`); the paper's rules turn scores into α:

* :func:`zero_rule` — the spurious rule and ``sith edit --suppress``: α = 0 (or the given α)
  for components judged ``≥ 3`` (:data:`MIN_SCORE_SELECTED`), the rest untouched;
* :func:`nsfw_rule` — the unsafe-concept rule: score 1–2 keep, 3 negate (α = −1), 4–5 remove;
* :func:`relevance_alphas` — the classification rule: ``α = max(0.8, R + 0.3)`` from the
  embedding judge's relevance R, for every analysed component.

**Signs** (:data:`SIGN_MODES`). Zeroing a component removes both ``+v`` and ``−v``, but a
decomposition explains one sign (the seed's: ``+v`` as the sign rule gives it). With
``signs="both"`` (``sith edit --suppress``'s default) the judged rule also explains ``−v``
(:func:`negated_explanations`: the negated singular vector through the same target map — ``−x``
*before* ``LN_post`` and the image mean, docs/method.md §3 — the same solver, sparsity and
dictionary) and selects a component when either explanation is judged ``≥ 3``
(:func:`judge_signs`, which also says which sign matched). ``signs="seed"`` reads the stored
``+v`` explanations only (the seed's rule). Amplifying (α > 1) scales ``+v`` and ``−v`` alike
too, but "make the model see more of X" is only what ``+v``'s explanation promises when ``+v``
is the sign that reads as X; the amplify request therefore stays ``+v`` only. The decomposition
files are never changed: they keep the seed's ``+v`` recipe.

A component is ``(layer, head, index)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from sith.decompose import solve
from sith.decompose.results import LayerDecomposition
from sith.edit.exact import ComponentEdit
from sith.edit.judges import Explanation, Judge
from sith.edit.judges.registry import judge_kind, run_judge
from sith.errors import ConfigError, SithError
from sith.factor import joint_targets, layer_svd, singular_directions

Component = tuple[int, int, int]
Rule = Callable[[Tensor], list[float]]

#: The paper's cut-off: components judged at least this are edited.
MIN_SCORE_SELECTED = 3
#: The classification rule's ``α = max(ALPHA_FLOOR, R + ALPHA_SHIFT)``.
ALPHA_FLOOR, ALPHA_SHIFT = 0.8, 0.3
#: Which explanations the judged rule reads: ``seed`` (the stored ``+v``) or ``both`` (``±v``).
SIGN_MODES = ("seed", "both")
#: What ``sith edit --suppress`` / ``sith.api.edit`` / ``Workspace.plan_edit`` read by default (the
#: one place to change it; :func:`sith.edit.plan_edits` itself defaults to the seed's rule).
DEFAULT_SIGNS = "both"


@dataclass(frozen=True)
class Task:
    """A judge task: ``question`` goes to the LLM judge, ``concepts`` to the offline judges."""

    name: str
    question: str
    concepts: tuple[str, ...]

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "question": self.question, "concepts": list(self.concepts)}


@dataclass(frozen=True)
class Judged:
    """Per component: ``scores`` (n,) int 1–5 and ``relevance`` (n,) (the judge's raw R; the
    share judge's matched weight share), None for the LLM judge."""

    scores: Tensor
    relevance: Tensor | None

    def ranking_key(self) -> Tensor:
        """A score to rank by: the 1–5 score, ties broken by relevance when known."""
        key = self.scores.double()
        if self.relevance is not None:
            key = key + 1e-3 * torch.sigmoid(self.relevance.double())
        return key


def judge_explanations(judge: Judge, explanations: list[Explanation], task: Task) -> Judged:
    """Score explanations for ``task`` through the judge protocol (:mod:`sith.edit.judges.registry`):
    the offline judges read ``task.concepts`` (the share judge its matched concepts), an LLM
    judge ``task.question``."""
    if getattr(judge, "reads_concepts", False) and not task.concepts:
        raise ConfigError(
            "task_concepts",
            f"task {task.name!r} has no concepts for the {judge_kind(judge)} judge; pass {{name}}",
        )
    verdict = run_judge(judge, explanations, task.question, task.concepts)
    relevance = None if verdict.relevance is None else torch.tensor(verdict.relevance, dtype=torch.float64)
    return Judged(torch.tensor([int(s) for s in verdict.scores], dtype=torch.long), relevance)


def zero_rule(threshold: int = MIN_SCORE_SELECTED, alpha: float = 0.0) -> Rule:
    """The seed's spurious rule: ``alpha`` (0) for components judged ``≥ threshold``, else 1."""

    def rule(scores: Tensor) -> list[float]:
        return [alpha if s >= threshold else 1.0 for s in scores.tolist()]

    return rule


def nsfw_rule(scores: Tensor) -> list[float]:
    """The seed's unsafe-concept rule: score 1–2 keep (1), 3 negate (−1), 4–5 remove (0)."""
    return [1.0 if s <= 2 else -1.0 if s == 3 else 0.0 for s in scores.tolist()]


def relevance_alphas(relevance: Tensor) -> list[float]:
    """The classification rule: ``α = max(0.8, R + 0.3)`` per component."""
    return [max(ALPHA_FLOOR, float(x) + ALPHA_SHIFT) for x in relevance.tolist()]


def edits_from_rule(
    components: list[Component],
    alphas: list[float],
    reason: str,
    judged: Judged | None = None,
) -> tuple[ComponentEdit, ...]:
    """``ComponentEdit``\\ s for matching lists (α = 1 entries are dropped: no change); with
    ``judged``, each edit carries its relevance as ``score`` and its 1–5 ``judge_score``."""
    out = []
    for n, ((layer, head, index), a) in enumerate(zip(components, alphas)):
        if a == 1.0:
            continue
        score = judge_score = None
        if judged is not None:
            judge_score = int(judged.scores[n])
            if judged.relevance is not None:
                score = round(float(judged.relevance[n]), 4)
        out.append(ComponentEdit(layer, head, index, float(a), reason, score, judge_score))
    return tuple(out)


def check_signs(signs: str) -> str:
    """Validate a :data:`SIGN_MODES` value; SithError naming the choices otherwise."""
    if signs not in SIGN_MODES:
        raise ConfigError(
            "signs", f"unknown {{name}} {signs!r}; use one of {', '.join(SIGN_MODES)}",
            value=signs, choices=SIGN_MODES,
        )
    return signs


def negated_explanations(
    weights: Any,
    decompositions: list[LayerDecomposition],
    atoms: Tensor,
    concepts: list[str],
    *,
    image_mean: Tensor | None,
) -> list[Explanation]:
    """The explanation of ``−v`` for every component, in :func:`components_of` order.

    ``v`` is the vector each file explains (its singular vector times its stored polarity); the
    target is ``joint_targets(−v)`` (docs/method.md §3: the negation comes before ``LN_post``
    and the image mean, so it is not ``−t``), explained with the file's method and sparsity over
    ``atoms (N, e)`` (the file's dictionary atoms) — the same recipe as the stored ``+v``.

    Args:
        concepts: the dictionary's ``N`` concept strings (``atoms``' rows).
        image_mean: ``(e,)`` when the files subtract it (their ``config.image_mean``), else None.
    """
    if atoms is None or concepts is None:
        raise SithError("explaining -v needs the dictionary's atoms and concepts; pass the dictionary")
    out: list[Explanation] = []
    for d in decompositions:
        c = d.config
        svd = layer_svd(weights, d.layer, fold_ln=c.fold_ln)
        x = singular_directions(svd, c.sv_type, d.rank)[: d.num_heads].double()
        x = x * d.polarity.double()[..., None]
        mean = image_mean if c.image_mean else None
        code = solve(joint_targets(weights, -x.reshape(-1, x.shape[-1]), mean), atoms, c.sparsity,
                     method=c.method)
        for w_row, i_row in zip(code.weights.cpu().tolist(), code.indices.cpu().tolist()):
            pairs = [(concepts[i], float(w)) for w, i in zip(w_row, i_row) if i >= 0 and w != 0]
            out.append(sorted(pairs, key=lambda p: -abs(p[1])))
    return out


def judge_signs(
    judge: Judge, plus: list[Explanation], minus: list[Explanation] | None, task: Task,
    threshold: int = MIN_SCORE_SELECTED,
) -> tuple[Judged, list[str]]:
    """Judge ``+v``'s explanations and, when given, ``−v``'s; per component the higher score
    (and that sign's relevance) and which sign was judged ``≥ threshold``: ``"+"``, ``"-"``,
    ``"+-"`` (both) or ``""`` (neither)."""
    jp = judge_explanations(judge, plus, task)
    if minus is None:
        return jp, ["+" if s >= threshold else "" for s in jp.scores.tolist()]
    jm = judge_explanations(judge, minus, task)
    use_minus = jm.scores > jp.scores
    scores = torch.where(use_minus, jm.scores, jp.scores)
    relevance = None
    if jp.relevance is not None and jm.relevance is not None:
        relevance = torch.where(use_minus, jm.relevance, jp.relevance)
    signs = [("+" if a >= threshold else "") + ("-" if b >= threshold else "")
             for a, b in zip(jp.scores.tolist(), jm.scores.tolist())]
    return Judged(scores, relevance), signs
