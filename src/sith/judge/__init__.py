"""``sith judge``: score every component of a decomposition file 1–5 for a task (docs/judges.md).

The judges themselves belong to the edit stage (:mod:`sith.edit.judges`: the selection of
``sith edit`` reads them); this shell re-exports them for ``sith judge`` users.

Public API::

    Judge                      protocol: score(explanations, task) -> list[int]  (1..5)
    EmbeddingJudge(encode, task_concepts=None, *, reference=None, center=True, cutoffs=DEFAULT_CUTOFFS,
                   score_by="mean")        # score_by: one of SCORE_BY (mean | lead)
        .relevance(explanations, task) -> Relevance(raw, mean, lead, scores);  .score(...)
    WordJudge(task_concepts=None, *, cutoffs=DEFAULT_CUTOFFS, score_by="mean")   # no model
        .relevance(explanations, task) -> Relevance;  .score(...)   (concepts containing task words)
    LLMJudge(base_url=..., model=..., api_key=None, key_env="OPENAI_API_KEY", cache_path=None,
             max_calls=None, concurrency=4, retries=4, parse_retries=2, backoff_s=1.0, ...)
        .plan(explanations, task) -> CallPlan;  .score(...);  .calls_made
    judge_file(path, task, judge) -> list[JudgedComponent];  format_judged(rows, fmt)
    embedding_judge_for(decomposition, task_concepts, device=..., score_by="mean") -> EmbeddingJudge
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
