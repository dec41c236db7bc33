"""``sith edit`` as functions: apply a plan's exact edits, save model + log, reproduce, undo.

:func:`sith.edit.plan.plan_edits` decides the components; :func:`edited_model` applies them in
memory and :func:`apply_plan` writes the checkpoint and its log. :func:`apply_log`
reproduces a logged edit on the original model; :func:`undo_log` restores the original
weights from an edited model and its log; both read logs with :func:`read_log`, which
checks every key and type. Outputs are written atomically: the checkpoint first, then
the log, each via temp + rename.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import torch

from sith.edit.exact import (
    LOG_FORMAT,
    ComponentEdit,
    check_component,
    check_log,
    edit_log,
    edited_head_outputs,
    edits_from_log,
    undo_head_outputs,
)
from sith.edit.plan import EditPlan
from sith.errors import ConfigError, FormatError, ModelMismatch, SithError
from sith.factor import layer_svd
from sith.io import read_text, save_json
from sith.paths import DEFAULT_DATA_DIR, model_dir

log = logging.getLogger(__name__)


def log_path_for(output: Path) -> Path:
    """``clean.v1.safetensors`` → ``clean.v1.edit-log.json`` (beside the checkpoint; only the
    last suffix is replaced, so two outputs never share a log)."""
    return output.with_name((output.stem if output.suffix else output.name) + ".edit-log.json")


def edited_model(clip: Any, plan: EditPlan) -> Any:
    """A copy of ``clip`` (a ``LoadedClip``) with the plan's exact edits applied in memory
    (docs/method.md §6); ``clip`` itself is not changed."""
    from sith.load import with_head_outputs

    if not plan.edits:
        raise SithError("no component matches the edit; lower --threshold or name other concepts")
    plan.check_model(clip)
    return with_head_outputs(clip, edited_head_outputs(clip.weights, plan.edits, fold_ln=plan.fold_ln))


def apply_plan(
    clip: Any,
    plan: EditPlan,
    output: str | Path,
    *,
    extra: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write the edited checkpoint and its log; returns ``(checkpoint, log)`` paths."""
    from sith.load import save_model

    if not plan.edits:
        raise ConfigError("threshold", "no component matches the edit; lower {name} or name other concepts")
    edited = edited_model(clip, plan)
    record = edit_log(
        clip.weights, plan.edits, fold_ln=plan.fold_ln, explanations=plan.explanations, extra=extra
    )
    saved = save_model(edited, Path(output))
    record["output"] = {"path": str(saved), "fingerprint": edited.info.fingerprint}
    try:
        return saved, save_json(record, log_path_for(saved))
    except BaseException:  # a checkpoint without its log is half-written: remove it
        remove_output(saved)
        raise


def remove_output(path: Path) -> None:
    """Delete a checkpoint file (or an HF directory) that this run wrote."""
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


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
        raise FormatError(
            f"{path} is not a sith edit log ({problem}); pass a log written by `sith edit`", path=path
        )
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


#: Relative tolerance of a logged singular value against the model's (float32 SVDs).
LOG_SV_RTOL = 1e-4


def check_log_components(record: dict[str, Any], weights: Any, log_file: str | Path) -> None:
    """Refuse a log that does not describe this model's components: a component listed twice,
    or a logged singular value / write direction that the model's SVD (with the logged fold)
    does not have — a hand-edited layer, another model, a flipped ``fold_ln``."""
    fold_ln = bool(record["fold_ln"])
    seen: set[tuple[int, int, int]] = set()
    svds: dict[int, Any] = {}
    for n, e in enumerate(record["edits"]):
        key = (int(e["layer"]) % weights.n_layers, int(e["head"]), int(e["index"]))
        if key in seen:
            raise SithError(
                f"{log_file} edits[{n}] repeats component {key}; pass a log written by `sith edit`"
            )
        seen.add(key)
        if key[0] not in svds:
            svds[key[0]] = layer_svd(weights, key[0], fold_ln=fold_ln)
        _, S, Vh = svds[key[0]]
        s = float(S[key[1], key[2]])
        logged = e.get("singular_value")
        logged_y = torch.tensor(e["update"]["y"], dtype=torch.float64)
        cos = float(abs(Vh[key[1], key[2]].double() @ logged_y) / max(float(logged_y.norm()), 1e-30))
        if not _is_number(logged) or abs(logged - s) > LOG_SV_RTOL * max(abs(s), 1e-12) or cos < 1 - 1e-4:
            fold = "foldln" if fold_ln else "nofoldln"
            raise ModelMismatch(
                f"{log_file} edits[{n}] (component {key[0]}:{key[1]}:{key[2]}, {fold}) does not match this "
                f"model: logged singular value {logged!r}, the model has {s:.6g}; apply the log to the "
                "unedited model it was written for"
            )


def plan_from_log(clip: Any, log_file: str | Path) -> tuple[EditPlan, dict[str, Any]]:
    """The plan a log describes, checked against ``clip`` (the original model)."""
    record = check_log(read_log(log_file), clip.weights)
    check_log_shapes(record, clip.weights, log_file)
    check_log_components(record, clip.weights, log_file)
    source = record.get("selection") if isinstance(record.get("selection"), dict) else {}
    plan = EditPlan(edits_from_log(record), bool(record["fold_ln"]), selection={**source, "rule": "from log",
                    "source_rule": source.get("rule")})
    for e in record["edits"]:
        key = (int(e["layer"]), int(e["head"]), int(e["index"]))
        plan.explanations[key] = e.get("explanation", [])
        plan.singular_values[key] = float(e["singular_value"])
    return plan, record


def apply_log(
    clip: Any, log_file: str | Path, output: str | Path | None, *, dry_run: bool = False
) -> tuple[EditPlan, Path | None, Path | None]:
    """Reproduce a logged edit on the original model ``clip`` (same components, same α);
    ``dry_run`` checks everything and writes nothing. Returns ``(plan, checkpoint, log)``."""
    plan, _ = plan_from_log(clip, log_file)
    if dry_run:
        return plan, None, None
    if output is None:
        raise ConfigError("output", "{name:apply_log} needs {name}=PATH for the checkpoint to write")
    extra = {"reproduced_from": str(log_file), "selection": dict(plan.selection)}
    ckpt, log_path = apply_plan(clip, plan, output, extra=extra)
    return plan, ckpt, log_path


def undo_log(
    edited_clip: Any, log_file: str | Path, output: str | Path | None, *, dry_run: bool = False
) -> Path | None:
    """Restore the original model from an edited one and its log; writes a checkpoint
    (``dry_run``: checks only, returns None)."""
    from sith.load import save_model, with_head_outputs

    record = check_log(read_log(log_file), edited_clip.weights, edited=True)
    check_log_shapes(record, edited_clip.weights, log_file)
    expected = record.get("output", {}).get("fingerprint")
    if expected and expected != edited_clip.weights.info.fingerprint:
        named = record.get("output", {}).get("path") or "the checkpoint it wrote"
        raise ModelMismatch(
            f"this model ({edited_clip.info.pretrained or edited_clip.info.model_name}) is not the output of "
            f"that edit log; pass the edited checkpoint it names: {named}"
        )
    restored = with_head_outputs(edited_clip, undo_head_outputs(edited_clip.weights, record))
    if dry_run:
        return None
    if output is None:
        raise ConfigError("output", "{name:undo_log} needs {name}=PATH for the checkpoint to write")
    return save_model(restored, Path(output))


def default_output(data_dir: str | Path, clip: Any, name: str) -> Path:
    """``data/models/{model}/{pretrained}/edits/{name}.safetensors``, or ``{name}-2``, ``-3``, …
    when an earlier edit (checkpoint or log) has that name: never an overwrite."""
    folder = model_dir(data_dir or DEFAULT_DATA_DIR, clip.info.model_name, clip.info.pretrained) / "edits"
    n = 1
    while True:
        path = folder / (f"{name}.safetensors" if n == 1 else f"{name}-{n}.safetensors")
        if not path.exists() and not log_path_for(path).exists():
            return path
        n += 1
