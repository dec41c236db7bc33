"""``sith judge``: score every component of a decomposition file 1–5 for a task (docs/judges.md).

The judges themselves belong to the edit stage (:mod:`sith.edit.judges`: the selection of
``sith edit`` reads them); this shell re-exports them for ``sith judge`` users.

Public API (the judges: :mod:`sith.edit.judges`)::

    judge_file(path, task, judge) -> list[JudgedComponent];  format_judged(rows, fmt)
    judge_decomposition(decomposition, task, judge) -> list[JudgedComponent]
    embedding_judge_for(decomposition, task_concepts, clip, score_by="mean") -> EmbeddingJudge

``sith.api.judge`` runs it on the session of the file's model (loaded once, reused).
"""

from sith.edit.judges import (
    DEFAULT_CUTOFFS,
    MAX_SCORE,
    MIN_SCORE,
    SCORE_BY,
    SYSTEM_PROMPT,
    USER_TEMPLATE,
    CallPlan,
    EmbeddingJudge,
    Explanation,
    Judge,
    LLMJudge,
    Relevance,
    ShareJudge,
    WordJudge,
    build_messages,
    parse_answer,
    positive_sorted,
    score_from_mean,
    split_concepts,
)
from sith.judge.run import (
    JudgedComponent,
    embedding_judge_for,
    format_judged,
    judge_decomposition,
    judge_file,
)

__all__ = [
    "DEFAULT_CUTOFFS",
    "SCORE_BY",
    "MAX_SCORE",
    "MIN_SCORE",
    "SYSTEM_PROMPT",
    "USER_TEMPLATE",
    "CallPlan",
    "EmbeddingJudge",
    "Explanation",
    "Judge",
    "JudgedComponent",
    "LLMJudge",
    "WordJudge",
    "Relevance",
    "ShareJudge",
    "build_messages",
    "embedding_judge_for",
    "format_judged",
    "judge_decomposition",
    "judge_file",
    "parse_answer",
    "positive_sorted",
    "score_from_mean",
    "split_concepts",
]
