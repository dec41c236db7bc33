"""``sith judge``: score every component of a decomposition file 1–5 for a task (docs/judges.md).

The judges belong to the edit stage (:mod:`sith.edit.judges`: one import path each, and one
name → factory registry, :mod:`sith.edit.judges.registry`, shared with ``sith edit``); this
shell runs one over a whole file.

Public API::

    judge_file(path, task, judge) -> list[JudgedComponent];  format_judged(rows, fmt)
    judge_decomposition(decomposition, task, judge) -> list[JudgedComponent]
    check_same_model(decomposition, clip)

``sith.api.judge`` runs it on the session of the file's model (loaded once, reused).
"""

from sith.judge.run import (
    FORMAT,
    JudgedComponent,
    check_same_model,
    format_judged,
    judge_decomposition,
    judge_file,
)

__all__ = [
    "FORMAT",
    "JudgedComponent",
    "check_same_model",
    "format_judged",
    "judge_decomposition",
    "judge_file",
]
