"""The judges by name: one name → factory registry for ``sith judge``, ``sith edit`` and the API.

Every judge follows one protocol (:class:`sith.edit.judges.base.Judge`: ``kind``, ``record()``,
``judge()``), so the selection and ``sith judge`` never ask which class a judge is. A name is
made into a judge by its factory from :class:`JudgeInputs` — what the caller knows about the
task and the model. The default, :data:`DEFAULT_JUDGE`, is the same everywhere: ``share``, so
``sith judge`` re-scores exactly what ``sith edit`` selected with (docs/judges.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from sith.edit.judges.base import Explanation, Judge, Verdict
from sith.edit.judges.embedding import EmbeddingJudge
from sith.edit.judges.share import ShareJudge
from sith.edit.judges.words import WordJudge
from sith.errors import SithError


@dataclass(frozen=True)
class JudgeInputs:
    """What a judge factory may read.

    Attributes:
        names: the task's concepts (the edit's request words, ``sith judge --task-concepts``).
        k: the decomposition's sparsity K (the share judge's 1/K cut-off).
        matched: dictionary concepts that match the task by words or meaning (the share judge).
        encode: the model's text tower ``list[str] -> (n, e)`` (the embedding judge).
        reference: strings the embedding judge centres on (every concept of the decompositions).
        score_by: ``mean`` | ``lead`` (the embedding and word judges).
    """

    names: tuple[str, ...] = ()
    k: int = 5
    matched: frozenset[str] = frozenset()
    encode: Callable[[list[str]], Tensor] | None = None
    reference: tuple[str, ...] | None = None
    score_by: str = "mean"


def _embedding(inputs: JudgeInputs) -> Judge:
    if inputs.encode is None:
        raise SithError("the embedding judge needs the model's text tower; run it on a loaded model")
    return EmbeddingJudge(inputs.encode, list(inputs.names) or None, reference=inputs.reference,
                          score_by=inputs.score_by)


def _llm(inputs: JudgeInputs) -> Judge:
    raise SithError("the llm judge needs its endpoint; pass --judge llm with --judge-url/--judge-model "
                    "(from Python: an LLMJudge object)")


#: Judge name → factory. The first is the default of every command.
JUDGES: dict[str, Callable[[JudgeInputs], Judge]] = {
    "share": lambda inputs: ShareJudge(inputs.matched, inputs.k),
    "words": lambda inputs: WordJudge(list(inputs.names) or None, score_by=inputs.score_by),
    "embedding": _embedding,
    "llm": _llm,
}
DEFAULT_JUDGE = next(iter(JUDGES))
#: Judges whose factory needs the task matched against the dictionary (``JudgeInputs.matched``).
NEEDS_MATCHES = ("share",)
#: Judges whose factory needs the model's text tower (``JudgeInputs.encode``).
NEEDS_MODEL = ("share", "embedding")


def check_judge(judge: Any) -> Any:
    """A known judge name or a judge object; else one line listing the names."""
    if isinstance(judge, str) and judge not in JUDGES:
        raise SithError(f"unknown judge {judge!r}; use one of {', '.join(JUDGES)} or a judge object")
    return judge


def make_judge(judge: str | Judge, inputs: JudgeInputs) -> Judge:
    """``judge`` itself when it is an object, else the registry's judge of that name."""
    if not isinstance(check_judge(judge), str):
        return judge
    return JUDGES[judge](inputs)


def judge_kind(judge: Any) -> str:
    """The judge's name (``kind``; a foreign object without one: its class name)."""
    return str(getattr(judge, "kind", type(judge).__name__))


def judge_record(judge: Any) -> dict[str, Any]:
    """The judge's configuration, for logs and results files."""
    if hasattr(judge, "record"):
        return judge.record()
    return {"kind": judge_kind(judge)}


def run_judge(
    judge: Any, explanations: list[Explanation], question: str, concepts: Sequence[str] = ()
) -> Verdict:
    """``judge.judge(...)``; an object that only has ``score(explanations, task)`` is asked the
    question and gives scores only."""
    if hasattr(judge, "judge"):
        return judge.judge(explanations, question, concepts)
    return Verdict([int(s) for s in judge.score(explanations, question)])
