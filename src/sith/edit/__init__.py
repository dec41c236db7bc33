"""Edit stage (docs/method.md §6): exact singular-component edits, selection by judged explanations,
plans and logs."""

from sith.edit.exact import (
    ComponentEdit,
    edit_log,
    edited_head_outputs,
    rank_one_updates,
    undo_head_outputs,
)
from sith.edit.plan import MAX_SHARE, EditPlan, plan_edits
from sith.edit.run import apply_log, apply_plan, default_output, read_log, undo_log
from sith.edit.select import RULES, concept_indices, select_by_alignment, select_by_weight

__all__ = [
    "MAX_SHARE",
    "RULES",
    "ComponentEdit",
    "EditPlan",
    "apply_log",
    "apply_plan",
    "concept_indices",
    "default_output",
    "edit_log",
    "edited_head_outputs",
    "plan_edits",
    "rank_one_updates",
    "read_log",
    "select_by_alignment",
    "select_by_weight",
    "undo_head_outputs",
    "undo_log",
]
