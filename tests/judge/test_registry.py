"""One judge registry for ``sith judge``, ``sith edit`` and the API: the same names, the same
default (``share``), and every judge answering the same protocol (kind, record, judge)."""

from __future__ import annotations

import inspect

import pytest
import torch

import sith.api
from sith.cli import build_parser
from sith.cli.judge import JUDGES as CLI_JUDGES
from sith.edit.judges import DEFAULT_JUDGE, JUDGES, JudgeInputs, LLMJudge, Verdict, make_judge
from sith.edit.judges.registry import judge_kind, judge_record
from sith.edit.request import EditRequest
from sith.edit.select import Task, judge_explanations
from sith.errors import SithError

EXPLANATIONS = [[("water", 0.6), ("ocean", 0.3)], [("red", 0.9), ("water", 0.1)], [("grass", 1.0)]]


def fake_encode(texts: list[str]) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    table = {w: torch.randn(16, generator=g) for w in ["water", "ocean", "red", "grass"]}
    return torch.stack([table.get(t, torch.ones(16)) for t in texts])


def test_one_list_and_one_default_everywhere():
    assert CLI_JUDGES == tuple(JUDGES) and DEFAULT_JUDGE == "share" == CLI_JUDGES[0]
    parser = build_parser()
    judge_args = parser.parse_args(["judge", "f.pt", "--task", "t"])
    edit_args = parser.parse_args(["edit", "--component", "5:0:0"])
    assert judge_args.judge == edit_args.judge == DEFAULT_JUDGE
    for fn in (sith.api.judge, sith.api.edit):
        assert inspect.signature(fn).parameters["judge"].default == DEFAULT_JUDGE
    assert EditRequest().judge == DEFAULT_JUDGE


@pytest.mark.parametrize("name", ["share", "words", "embedding"])
def test_every_judge_answers_the_protocol(name):
    inputs = JudgeInputs(("water",), k=2, matched=frozenset({"water"}), encode=fake_encode)
    judge = make_judge(name, inputs)
    assert judge.kind == name == judge_kind(judge) and judge_record(judge)["kind"] == name
    verdict = judge.judge(EXPLANATIONS, "is it water?", ["water"])
    assert isinstance(verdict, Verdict) and len(verdict.scores) == 3 and len(verdict.relevance) == 3
    assert verdict.scores[0] > verdict.scores[2] and verdict.scores == judge.score(EXPLANATIONS, "water")
    judged = judge_explanations(judge, EXPLANATIONS, Task("t", "is it water?", ("water",)))
    assert judged.scores.tolist() == verdict.scores


def test_unknown_names_and_the_llm_without_an_endpoint_are_one_line():
    with pytest.raises(SithError, match="unknown judge 'gpt'; use one of share, words, embedding, llm"):
        make_judge("gpt", JudgeInputs())
    with pytest.raises(SithError, match="needs its endpoint"):
        make_judge("llm", JudgeInputs())
    assert LLMJudge.kind == "llm"


def test_a_score_only_judge_object_is_asked_the_question():
    class Constant:
        def score(self, explanations, task):
            assert task == "is it water?"
            return [4] * len(explanations)

    judged = judge_explanations(Constant(), EXPLANATIONS, Task("t", "is it water?", ()))
    assert judged.scores.tolist() == [4, 4, 4] and judged.relevance is None
    assert judge_record(Constant()) == {"kind": "Constant"}
