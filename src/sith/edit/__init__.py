"""Edit stage (docs/method.md §6): request → plan → apply. Exact singular-component edits,
selection by judged explanations, plans and logs."""

from sith.edit.exact import (
    ComponentEdit,
    edit_log,
    edited_head_outputs,
    rank_one_updates,
    undo_head_outputs,
)
from sith.edit.plan import PLAN_FORMAT, EditPlan, Evidence, plan_edits
from sith.edit.request import MAX_SHARE, EditRequest
from sith.edit.run import apply_log, apply_plan, default_output, edited_model, read_log, undo_log
from sith.edit.select import RULES, concept_indices, select_by_alignment, select_by_weight

__all__ = [
    "MAX_SHARE",
    "PLAN_FORMAT",
    "RULES",
    "ComponentEdit",
    "EditPlan",
    "EditRequest",
    "Evidence",
    "apply_log",
    "apply_plan",
    "concept_indices",
    "default_output",
    "edit_log",
    "edited_head_outputs",
    "edited_model",
    "plan_edits",
    "rank_one_updates",
    "read_log",
    "select_by_alignment",
    "select_by_weight",
    "undo_head_outputs",
    "undo_log",
]
