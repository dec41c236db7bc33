"""``sith edit`` as functions: choose components, apply exact edits, save model + log.

:func:`plan_edits` decides the components (by index or by concept) and validates them
completely — ranges, α, threshold, and that ``W_O`` can carry each edit — so a dry run
refuses exactly what a real run refuses; :func:`apply_plan` writes. :func:`apply_log`
reproduces a logged edit on the original model; :func:`undo_log` restores the original
weights from an edited model and its log; both read logs with :func:`read_log`, which
checks every key and type. Outputs are written atomically: the checkpoint first, then
the log, each via temp + rename.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sith.decompose.results import LayerDecomposition
from sith.edit.exact import (
    LOG_FORMAT,
    ComponentEdit,
    SvdOf,
    check_alpha,
    check_component,
    check_log,
    edit_log,
    edited_head_outputs,
    edits_from_log,
    layer_svd,
    rank_one_updates,
    undo_head_outputs,
)
from sith.edit.select import RULES, concept_indices, select_by_alignment, select_by_weight
from sith.errors import SithError
from sith.io import read_text, save_json
from sith.paths import DEFAULT_DATA_DIR, model_dir

log = logging.getLogger(__name__)


@dataclass
class EditPlan:
    """The components an edit touches, with the explanations that justify them.

    ``rows()`` gives one dict per component: layer, head, index, singular value, α, the
    ``score`` that selected it (``|cos|`` for the alignment rule, the concept's explanation
    weight for the weight rule; None for a component named by index), the reason and the
    component's explanation ``[(concept, weight), ...]``.
    """

    edits: list[ComponentEdit]
    fold_ln: bool
    explanations: dict[tuple[int, int, int], list[tuple[str, float]]] = field(default_factory=dict)
    singular_values: dict[tuple[int, int, int], float] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "layer": e.layer,
                "head": e.head,
                "index": e.index,
                "singular_value": self.singular_values.get((e.layer, e.head, e.index)),
                "alpha": e.alpha,
                "score": e.score,
                "reason": e.reason,
                "explanation": self.explanations.get((e.layer, e.head, e.index), []),
            }
            for e in self.edits
        ]


def log_path_for(output: Path) -> Path:
    """``clean.v1.safetensors`` → ``clean.v1.edit-log.json`` (beside the checkpoint; only the
    last suffix is replaced, so two outputs never share a log)."""
    return output.with_name((output.stem if output.suffix else output.name) + ".edit-log.json")


def _explain(plan: EditPlan, decompositions: list[LayerDecomposition]) -> None:
    by_layer = {int(d.config["layer"]): d for d in decompositions}
    for e in plan.edits:
        d = by_layer.get(e.layer)
        if d is not None and e.index < d.rank:
            plan.explanations[(e.layer, e.head, e.index)] = d.explanation(e.head, e.index)


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
    rule: str = "alignment",
    threshold: float | None = None,
    max_per_layer: int | None = None,
    sv_type: str = "right",
    image_mean: Any = None,
    svd_of: SvdOf | None = None,
) -> EditPlan:
    """Decide which components change and by how much.

    ``components`` are used as given. ``suppress``/``amplify`` name dictionary concepts;
    with ``rule="weight"`` they are matched in ``decompositions`` (which must have been
    made with the same ``fold_ln``), with ``rule="alignment"`` against ``atoms`` ``(N, e)``
    over the decomposed layers (or all layers), using the ``sv_type`` targets with
    ``image_mean`` subtracted, as the decomposition does. ``svd_of`` reuses a run's SVDs.
    """
    weights = clip.weights
    svd_of = svd_of or (lambda layer, fold: layer_svd(weights, layer, fold))
    if rule not in RULES:
        raise SithError(f"unknown selection rule {rule!r}; use one of {', '.join(RULES)}")
    check_alpha(suppress_alpha)
    check_alpha(amplify_alpha)
    check_selection(threshold, max_per_layer)
    components = [check_component(weights, e) for e in components or []]
    decompositions = decompositions or []
    check_decompositions(decompositions, weights, fold_ln=fold_ln)
    edits = list(components)
    for names, alpha, verb in ((suppress, suppress_alpha, "suppress"), (amplify, amplify_alpha, "amplify")):
        if names:
            edits += select_by_concepts(
                weights, names, alpha=alpha, reason=f"{verb} {', '.join(names)}", rule=rule,
                concepts=concepts, decompositions=decompositions, atoms=atoms, threshold=threshold,
                max_per_layer=max_per_layer, fold_ln=fold_ln, sv_type=sv_type, image_mean=image_mean,
                svd_of=svd_of,
            )
    seen = merge_edits(edits, weights.n_layers)
    plan = EditPlan(list(seen.values()), fold_ln)
    if not plan.edits:
        raise SithError("no component matches the edit; lower --threshold or name other concepts")
    # the exact updates validate every edit as the real run does (W_O must carry it)
    for e, s, _, _ in rank_one_updates(weights, plan.edits, fold_ln=fold_ln, svd_of=svd_of):
        plan.singular_values[(e.layer, e.head, e.index)] = s
    _explain(plan, decompositions)
    return plan


def check_decompositions(decompositions: list[LayerDecomposition], weights: Any, *, fold_ln: bool) -> None:
    """Refuse decompositions made for another model or with the other ``fold_ln``. A file made
    by the seed's code records no fingerprint: its model name and tag are compared instead."""
    for d in decompositions:
        model = d.config["model"]
        named = (model.get("model_name"), model.get("pretrained"))
        if (model["fingerprint"] or named != (weights.info.model_name, weights.info.pretrained)) and (
            model["fingerprint"] != weights.info.fingerprint
        ):
            raise SithError(
                "the decomposition was made for another model; run `sith decompose` on this model"
            )
        if bool(d.config["fold_ln"]) != fold_ln:
            flag = "--fold-ln" if d.config["fold_ln"] else "--no-fold-ln"
            raise SithError(f"the decomposition was made with {flag}; pass the same flag to `sith edit`")


def select_by_concepts(
    weights: Any,
    names: list[str],
    *,
    alpha: float,
    reason: str,
    rule: str,
    concepts: list[str] | None,
    decompositions: list[LayerDecomposition],
    atoms: Any,
    threshold: float | None,
    max_per_layer: int | None,
    fold_ln: bool,
    sv_type: str,
    image_mean: Any,
    svd_of: SvdOf,
) -> list[ComponentEdit]:
    """The components that carry the concepts ``names`` under ``rule`` (:mod:`sith.edit.select`)."""
    if concepts is None:
        raise SithError("editing by concept needs a dictionary; pass --dictionary")
    idx = concept_indices(names, concepts)
    if rule == "weight":
        if not decompositions:
            raise SithError("no decomposition to select from; run `sith decompose` first")
        return select_by_weight(
            decompositions, idx, alpha=alpha, threshold=0.1 if threshold is None else threshold,
            max_per_layer=max_per_layer, reason=reason,
        )
    if atoms is None:
        raise SithError("the alignment rule needs the dictionary's atoms; pass --dictionary")
    layers = sorted({int(d.config["layer"]) for d in decompositions}) or list(range(weights.n_layers))
    return select_by_alignment(
        weights, atoms[idx], layers=layers, alpha=alpha, fold_ln=fold_ln, sv_type=sv_type,
        threshold=0.3 if threshold is None else threshold, max_per_layer=max_per_layer, reason=reason,
        image_mean=image_mean, svd_of=svd_of,
    )


def merge_edits(edits: list[ComponentEdit], n_layers: int) -> dict[tuple[int, int, int], ComponentEdit]:
    """One edit per component (a later duplicate with the same α wins); a component both
    suppressed and amplified is refused."""
    seen: dict[tuple[int, int, int], ComponentEdit] = {}
    for e in edits:
        key = (e.layer % n_layers, e.head, e.index)
        if key in seen and seen[key].alpha != e.alpha:
            raise SithError(f"component {key} is both suppressed and amplified; name it once")
        seen[key] = e
    return seen


def check_selection(threshold: float | None, max_per_layer: int | None) -> None:
    """Refuse a negative or non-finite ``--threshold`` and a ``--max-per-layer`` below 1."""
    if threshold is not None and (not math.isfinite(threshold) or threshold < 0):
        raise SithError(
            f"--threshold {threshold} is invalid: use a value >= 0 (|cos| for the alignment rule, "
            "an explanation weight for the weight rule)"
        )
    if max_per_layer is not None and max_per_layer < 1:
        raise SithError(f"--max-per-layer must be >= 1, got {max_per_layer}")


def apply_plan(
    clip: Any,
    plan: EditPlan,
    output: str | Path,
    *,
    extra: dict[str, Any] | None = None,
    svd_of: SvdOf | None = None,
) -> tuple[Path, Path]:
    """Write the edited checkpoint and its log; returns ``(checkpoint, log)`` paths."""
    from sith.load import save_model, with_head_outputs

    if not plan.edits:
        raise SithError("no component matches the edit; lower --threshold or name other concepts")
    output = Path(output)
    record = edit_log(
        clip.weights, plan.edits, fold_ln=plan.fold_ln, explanations=plan.explanations, extra=extra,
        svd_of=svd_of,
    )
    new_outputs = edited_head_outputs(clip.weights, plan.edits, fold_ln=plan.fold_ln, svd_of=svd_of)
    edited = with_head_outputs(clip, new_outputs)
    saved = save_model(edited, output)
    record["output"] = {"path": str(saved), "fingerprint": edited.info.fingerprint}
    return saved, save_json(record, log_path_for(saved))


def read_log(path: str | Path, *, updates: bool = True) -> dict[str, Any]:
    """A ``sith edit`` log, every key and type checked (:func:`log_problem`); any problem
    raises one :class:`SithError` naming the file and the key. ``updates=False`` skips the
    rank-one updates (for readers that only list the components, e.g. ``sith explore``)."""
    path = Path(path)
    try:
        record = json.loads(read_text(path, what="edit log"))
    except json.JSONDecodeError as exc:
        raise SithError(
            f"{path} is not valid JSON (line {exc.lineno}); pass a log written by `sith edit`"
        ) from None
    problem = log_problem(record, updates=updates)
    if problem:
        raise SithError(f"{path} is not a sith edit log ({problem}); pass a log written by `sith edit`")
    return record


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _entry_problem(e: Any, where: str, updates: bool) -> str | None:
    if not isinstance(e, dict):
        return f"{where} is not an object"
    for key in ("layer", "head", "index"):
        if not _is_int(e.get(key)):
            return f"{where}.{key} is {e.get(key)!r}, not an integer"
    if not _is_number(e.get("alpha")) or e["alpha"] < 0:
        return f"{where}.alpha is {e.get('alpha')!r}, not a finite number >= 0"
    if not isinstance(e.get("reason", ""), str):
        return f"{where}.reason is not a string"
    if not updates:
        return None
    u = e.get("update")
    if not isinstance(u, dict) or not _is_number(u.get("scale")):
        return f"{where}.update needs a finite number 'scale'"
    for key in ("x", "y"):
        v = u.get(key)
        if not isinstance(v, list) or not v or not all(_is_number(a) for a in v):
            return f"{where}.update.{key} is not a non-empty list of finite numbers"
    return None


def log_problem(record: Any, *, updates: bool = True) -> str | None:
    """What is wrong with a parsed edit log (None: nothing): the format tag, ``model``
    (``model_name``, ``pretrained``, ``fingerprint`` strings), ``fold_ln`` (bool) and each
    entry of ``edits`` (integer ``layer/head/index``, finite ``alpha >= 0``, an ``update``
    with a finite ``scale`` and number lists ``x``, ``y``)."""
    if not isinstance(record, dict):
        return "it is not a JSON object"
    if record.get("format") != LOG_FORMAT:
        return f"'format' is {record.get('format')!r}, not {LOG_FORMAT!r}"
    model = record.get("model")
    if not isinstance(model, dict):
        return f"'model' is {model!r}, not an object"
    for key in ("model_name", "pretrained", "fingerprint"):
        if not isinstance(model.get(key), str):
            return f"model.{key} is missing or not a string"
    if updates and not isinstance(record.get("fold_ln"), bool):
        return "'fold_ln' is missing or not true/false"
    edits = record.get("edits")
    if not isinstance(edits, list) or not edits:
        return "'edits' is missing or empty"
    for n, e in enumerate(edits):
        problem = _entry_problem(e, f"edits[{n}]", updates)
        if problem:
            return problem
    output = record.get("output", {})
    if not isinstance(output, dict):
        return "'output' is not an object"
    return None


def check_log_shapes(record: dict[str, Any], weights: Any, log_file: str | Path) -> None:
    """Every logged component exists in ``weights`` and its update has the head's sizes
    (``x``: dh, ``y``: d)."""
    for n, e in enumerate(record["edits"]):
        check_component(weights, ComponentEdit(e["layer"], e["head"], e["index"], e["alpha"]))
        x, y = e["update"]["x"], e["update"]["y"]
        if len(x) != weights.d_head or len(y) != weights.d_model:
            raise SithError(
                f"{log_file} edits[{n}].update has sizes ({len(x)}, {len(y)}) but this model's heads need "
                f"({weights.d_head}, {weights.d_model}); pass the log written for this model"
            )


def apply_log(clip: Any, log_file: str | Path, output: str | Path) -> tuple[Path, Path]:
    """Reproduce a logged edit on the original model ``clip`` (same components, same α)."""
    record = check_log(read_log(log_file), clip.weights)
    check_log_shapes(record, clip.weights, log_file)
    plan = EditPlan(edits_from_log(record), bool(record["fold_ln"]))
    for e in record["edits"]:
        plan.explanations[(int(e["layer"]), int(e["head"]), int(e["index"]))] = e.get("explanation", [])
    return apply_plan(clip, plan, output, extra={"reproduced_from": str(log_file)})


def undo_log(edited_clip: Any, log_file: str | Path, output: str | Path) -> Path:
    """Restore the original model from an edited one and its log; writes a checkpoint."""
    from sith.load import save_model, with_head_outputs

    record = check_log(read_log(log_file), edited_clip.weights, edited=True)
    check_log_shapes(record, edited_clip.weights, log_file)
    expected = record.get("output", {}).get("fingerprint")
    if expected and expected != edited_clip.weights.info.fingerprint:
        raise SithError("this model is not the output of that edit log; pass the edited checkpoint it names")
    restored = with_head_outputs(edited_clip, undo_head_outputs(edited_clip.weights, record))
    return save_model(restored, Path(output))


def default_output(data_dir: str | Path, clip: Any, name: str) -> Path:
    """``data/models/{model}/{pretrained}/edits/{name}.safetensors``."""
    return (
        model_dir(data_dir or DEFAULT_DATA_DIR, clip.info.model_name, clip.info.pretrained)
        / "edits"
        / f"{name}.safetensors"
    )
