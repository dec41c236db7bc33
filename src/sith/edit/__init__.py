"""Edit stage (docs/method.md §6): exact singular-component edits, concept selection, logs."""

from sith.edit.exact import (
    ComponentEdit,
    edit_log,
    edited_head_outputs,
    rank_one_updates,
    undo_head_outputs,
)
from sith.edit.run import EditPlan, apply_log, apply_plan, plan_edits, undo_log
from sith.edit.select import concept_indices, select_by_alignment, select_by_weight

__all__ = [
    "ComponentEdit",
    "EditPlan",
    "apply_log",
    "apply_plan",
    "concept_indices",
    "edit_log",
    "edited_head_outputs",
    "plan_edits",
    "rank_one_updates",
    "select_by_alignment",
    "select_by_weight",
    "undo_head_outputs",
    "undo_log",
]
