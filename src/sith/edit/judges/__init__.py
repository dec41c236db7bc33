"""Judges: score a component's explanation 1–5 for a task (docs/judges.md; docs/method.md §6).

The edit stage selects components by judging their explanations, as the paper does; these
are the judges it reads them with.

Public API::

    Judge                      protocol: kind; record(); judge(explanations, question, concepts) -> Verdict;
                               score(explanations, task) -> list[int]  (1..5)
    JUDGES, DEFAULT_JUDGE      the name -> factory registry (share, words, embedding, llm) and its
                               default, shared by ``sith judge``, ``sith edit`` and the API;
                               make_judge(name_or_judge, JudgeInputs(...)) -> Judge
    ShareJudge(matched, k)     weight share of the explanation's concepts in ``matched``
        (the request's matching dictionary concepts, :func:`sith.edit.select.match_request`),
        binned by K-aware cut-offs — the default judge of ``sith edit``
    EmbeddingJudge(encode, task_concepts=None, *, reference=None, center=True, cutoffs=DEFAULT_CUTOFFS,
                   score_by="mean")        # score_by: one of SCORE_BY (mean | lead)
        .relevance(explanations, task) -> Relevance(raw, mean, lead, scores);  .score(...)
    WordJudge(task_concepts=None, *, cutoffs=DEFAULT_CUTOFFS, score_by="mean")   # no model
        .relevance(explanations, task) -> Relevance;  .score(...)   (concepts containing task words)
    LLMJudge(base_url=..., model=..., api_key=None, key_env="OPENAI_API_KEY", cache_path=None,
             max_calls=None, concurrency=4, retries=4, parse_retries=2, backoff_s=1.0, ...)
        .plan(explanations, task) -> CallPlan;  .score(...);  .calls_made
"""

from sith.edit.judges.base import (
    MAX_SCORE,
    MIN_SCORE,
    Explanation,
    Judge,
    Verdict,
    check_task,
    positive_sorted,
    split_concepts,
)
from sith.edit.judges.embedding import (
    DEFAULT_CUTOFFS,
    SCORE_BY,
    EmbeddingJudge,
    Relevance,
    score_from_mean,
)
from sith.edit.judges.llm import CallPlan, LLMJudge
from sith.edit.judges.prompt import SYSTEM_PROMPT, USER_TEMPLATE, build_messages, parse_answer
from sith.edit.judges.registry import DEFAULT_JUDGE, JUDGES, JudgeInputs, make_judge
from sith.edit.judges.share import ShareJudge, share_cutoffs
from sith.edit.judges.words import WordJudge

__all__ = [
    "DEFAULT_CUTOFFS",
    "DEFAULT_JUDGE",
    "JUDGES",
    "MAX_SCORE",
    "MIN_SCORE",
    "SCORE_BY",
    "SYSTEM_PROMPT",
    "USER_TEMPLATE",
    "CallPlan",
    "EmbeddingJudge",
    "Explanation",
    "Judge",
    "JudgeInputs",
    "LLMJudge",
    "Relevance",
    "ShareJudge",
    "Verdict",
    "WordJudge",
    "build_messages",
    "check_task",
    "make_judge",
    "parse_answer",
    "positive_sorted",
    "score_from_mean",
    "share_cutoffs",
    "split_concepts",
]
