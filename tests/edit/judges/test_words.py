"""The word judge: whole-word matches of task concepts, weight share binned like R_mean."""

from __future__ import annotations

import json

import pytest

from sith.cli import main
from sith.edit.judges import DEFAULT_CUTOFFS, WordJudge, score_from_mean
from sith.edit.judges.words import contains_run, matches_task, words_of
from sith.errors import SithError
from tests.judge.test_cli import decomp  # noqa: F401 - the shared decomposition fixture


def test_whole_words_only():
    task = [words_of("water"), words_of("sea shore")]
    assert words_of("Duck on-Water") == ("duck", "on", "water")
    assert matches_task("duck on water", task) and matches_task("WATER", task)
    assert not matches_task("waterfall", task) and not matches_task("sea", task)
    assert matches_task("rocky sea shore", task) and not matches_task("shore sea", task)
    assert not contains_run(("a",), ())


def test_share_of_weight_and_lead():
    explanations = [
        [("water", 0.6), ("red", 0.4)],  # share 0.6, led by water
        [("red", 0.7), ("duck on water", 0.3)],  # share 0.3, led by red
        [("red", 0.5), ("ocean", -0.5)],  # negative weights carry no evidence
        [],
    ]
    mean = WordJudge(["water", "ocean"])
    rel = mean.relevance(explanations, "water, ocean")
    assert rel.mean == pytest.approx([0.6, 0.3, 0.0, 0.0])
    assert rel.raw == pytest.approx([0.6, 0.3, 0.0, 0.0])
    assert rel.lead == [1.0, 0.0, 0.0, 0.0]
    assert rel.scores == [score_from_mean(m, DEFAULT_CUTOFFS) for m in rel.mean] == [4, 3, 1, 1]
    assert WordJudge(["water"], score_by="lead").score(explanations, "x") == [5, 1, 1, 1]
    # without task concepts the task question is split at commas
    assert WordJudge().score(explanations, "water, ocean") == [4, 3, 1, 1]


def test_bad_settings_are_errors():
    with pytest.raises(SithError, match="score_by"):
        WordJudge(score_by="max")
    with pytest.raises(SithError, match="cutoffs"):
        WordJudge(cutoffs=(0.5, 0.1, 0.2, 0.3))
    with pytest.raises(SithError, match="no task words"):
        WordJudge(["--"]).score([[("water", 1.0)]], "task")


def test_cli_words_judge_needs_no_model(decomp, capsys):  # noqa: F811
    code = main(["judge", str(decomp), "--judge", "words", "--task", "water or ocean",
                 "--task-concepts", "water,ocean", "--json", "-q"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["format"] == "sith-judge/1" and doc["judge"] == "words"
    rows = doc["components"]
    scores = {(r["head"], r["index"]): r["score"] for r in rows}
    assert [r["relevance"] for r in rows] == pytest.approx([0.9, 0.0, 0.0, 0.0])
    # (0,0) water+ocean: share 1 → 5; (0,1) red+circle → 1; (1,0) grass → 1; (1,1) empty → 1
    assert scores == {(0, 0): 5, (0, 1): 1, (1, 0): 1, (1, 1): 1}
