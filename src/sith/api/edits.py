"""``sith edit`` as API functions: one call (:func:`edit`), and a logged edit reproduced
(:func:`apply_log`) or undone (:func:`undo_log`). In a notebook, the session's
``ws.plan(EditRequest(...))`` / ``ws.apply(plan)`` / ``ws.save(plan, path)`` do the same in steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sith.api.sessions import workspace
from sith.edit import EditPlan, EditRequest, read_log
from sith.edit.judges.registry import DEFAULT_JUDGE, check_judge
from sith.edit.select import DEFAULT_SIGNS
from sith.errors import ConfigError
from sith.paths import DEFAULT_DATA_DIR
from sith.pipeline import Workspace, editing


def edit(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    components: list[tuple[int, int, int, float]] | None = None,
    suppress: list[str] | None = None,
    amplify: list[str] | None = None,
    suppress_alpha: float = 0.0,
    amplify_alpha: float = 2.0,
    rule: str = "judged",
    judge: Any = DEFAULT_JUDGE,
    min_score: int = 3,
    threshold: float | None = None,
    max_per_layer: int | None = None,
    allow_large: bool = False,
    signs: str | None = None,
    output: str | Path | None = None,
    dry_run: bool = False,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    progress: bool = True,
    **decomposition,  # noqa: ANN003 - the options of :func:`decompose`
) -> tuple[EditPlan, Path | None, Path | None]:
    """Scale singular components (docs/method.md §6) and save the edited model + edit log:
    ``sith edit`` as one call — an :class:`EditRequest` of these arguments, planned, then saved
    (``Workspace.plan``/``save``; ``Workspace.apply`` edits in memory instead).

    ``components`` are ``(layer, head, index, alpha)``; ``suppress``/``amplify`` name concepts,
    selected among the components of the decomposition that ``decomposition`` (the options
    of :func:`decompose`) configures — computed if missing or made with another configuration.
    The default ``rule="judged"`` is the paper's: every component's explanation is judged for the
    request (``judge``: ``share`` — the weight share of the request's dictionary matches —,
    ``words``, ``embedding`` or a judge object such as :class:`sith.edit.judges.LLMJudge`) and
    those judged ``≥ min_score`` are edited; ``alignment``/``weight`` are named options. A plan
    above 10% of the components selected from is refused unless ``allow_large``. ``signs``: a
    suppress request's judged rule reads the explanations of ``+v`` and ``−v`` (``both``; None:
    :data:`sith.edit.select.DEFAULT_SIGNS`, ``both``;
    zeroing removes both) or the stored ``+v`` only (``seed``). With ``dry_run`` nothing is written.
    Returns ``(plan, checkpoint_path | None, log_path | None)``.
    """
    request = EditRequest(
        components=tuple(components or ()),
        suppress=tuple(suppress or ()),
        amplify=tuple(amplify or ()),
        alpha=suppress_alpha,
        amplify_alpha=amplify_alpha,
        rule=rule,
        judge=check_judge(judge),
        min_score=min_score,
        threshold=threshold,
        max_per_layer=max_per_layer,
        allow_large=allow_large,
        signs=DEFAULT_SIGNS if signs is None else signs,
        decomposition=decomposition,
    )
    editing.check_request(request)  # flags that need no model fail before it loads
    ws = workspace(model_name, pretrained, data_dir=data_dir, device=device, progress=progress)
    planner = ws.read_only() if dry_run else ws  # a dry run: a workspace that writes nothing
    plan = planner.plan(request)
    if dry_run:
        return plan, None, None
    ckpt, log_file = ws.save(plan, output)
    return plan, ckpt, log_file


def apply_log(
    log_file: str | Path,
    output: str | Path | None = None,
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    dry_run: bool = False,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
) -> tuple[EditPlan, Path | None, Path | None]:
    """Reproduce a logged edit (``sith edit --apply-log``) on the original model: the same
    components and α, checked against its singular values; writes ``output`` and its log
    (``dry_run``: checks only). Returns ``(plan, checkpoint | None, log | None)``."""
    ws = log_session(
        log_file, output, model_name, pretrained, dry_run=dry_run, data_dir=data_dir, device=device
    )
    return editing.apply_log(ws, log_file, output, dry_run=dry_run)


def undo_log(
    log_file: str | Path,
    output: str | Path | None = None,
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    dry_run: bool = False,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
) -> Path | None:
    """Restore the original model from the edited one (``model_name``/``pretrained``: the edited
    checkpoint) and its log (``sith edit --undo-log``); writes ``output`` (``dry_run``: checks
    only, returns None)."""
    ws = log_session(
        log_file, output, model_name, pretrained, dry_run=dry_run, data_dir=data_dir, device=device
    )
    return editing.undo_log(ws, log_file, output, dry_run=dry_run)


def log_session(
    log_file: str | Path,
    output: str | Path | None,
    model_name: str | None,
    pretrained: str | None,
    *,
    dry_run: bool,
    data_dir: str | Path,
    device: str,
) -> Workspace:
    """The model's session for replaying or undoing a log, after the checks that need no model
    (an output to write unless ``dry_run``; a well-formed log)."""
    if output is None and not dry_run:
        raise ConfigError(
            "output", "replaying or undoing an edit log needs {name}=PATH, the checkpoint to write"
        )
    read_log(log_file)  # a malformed log fails before the model loads
    return workspace(model_name, pretrained, data_dir=data_dir, device=device)
