"""``sith judge FILE``: embedding judge on the organism's text tower, LLM judge on the fake server."""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging

import pytest
import torch

from sith.cli import main
from sith.cli.judge import add_score_by_arg
from sith.decompose import DecompositionConfig, LayerDecomposition
from sith.edit.judges import SCORE_BY
from sith.explore.extras import read_judge
from sith.load import load_clip
from tests.edit.judges.fake_server import FakeChatServer, task_answer

CONCEPTS = {0: "water", 1: "ocean", 2: "red", 3: "grass", 4: "circle", 5: "small"}


def fake_decomposition(path, fingerprint):
    """2 heads × 2 vectors × K=2: (0,0) water+ocean, (0,1) red+circle, (1,0) grass+small, (1,1) empty."""
    idx = torch.tensor([[[0, 1], [2, 4]], [[3, 5], [-1, -1]]])
    w = torch.tensor([[[0.6, 0.3], [0.5, 0.2]], [[0.4, 0.0], [0.0, 0.0]]])
    ones = torch.ones(2, 2)
    LayerDecomposition(
        scores=w,
        indices=idx,
        singular_values=ones,
        fidelity=ones * 0.5,
        polarity=torch.ones(2, 2, dtype=torch.int8),
        tied=torch.zeros(2, 2, dtype=torch.bool),
        concepts=CONCEPTS,
        layer=5,
        config=DecompositionConfig("sith-organism", "v1", fingerprint=fingerprint, sparsity=2),
    ).save(path)
    return path


@pytest.fixture(scope="module")
def decomp(tmp_path_factory):
    fp = load_clip("sith-organism", "v1").info.fingerprint
    return fake_decomposition(tmp_path_factory.mktemp("judge") / "layer-05.pt", fp)


def test_embedding_judge_cli(decomp, capsys):
    code = main(
        ["judge", str(decomp), "--task", "is it water?", "--task-concepts", "water,ocean",
         "--judge", "embedding", "--json", "-q"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["format"] == "sith-judge/1" and doc["task"] == "is it water?" and doc["judge"] == "embedding"
    assert doc["model"]["model_name"] == "sith-organism" and doc["decomposition"] == str(decomp)
    rows = doc["components"]
    assert [(r["head"], r["index"]) for r in rows] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    by = {(r["head"], r["index"]): r for r in rows}
    assert by[(0, 0)]["score"] == 5 and by[(0, 0)]["explanation"].startswith("water 0.600")
    assert by[(0, 0)]["score"] > by[(0, 1)]["score"]
    assert by[(0, 0)]["relevance"] > by[(1, 0)]["relevance"]
    assert by[(1, 1)]["score"] == 1 and all(r["layer"] == 5 for r in rows)
    lead = ["judge", str(decomp), "--task", "t", "--task-concepts", "water,ocean", "--judge", "embedding",
            "--judge-score-by", "lead"]
    out_file = decomp.parent / "judge.json"
    assert main([*lead, "--json", "--output", str(out_file), "-q"]) == 0
    capsys.readouterr()
    rows = json.loads(out_file.read_text())["components"]  # read as `sith explore --judge` reads it:
    assert read_judge(out_file) == {f"5-{r['head']}-{r['index']}": r["score"] for r in rows}
    assert [r["relevance"] for r in rows] == pytest.approx([r["relevance"] for r in by.values()])
    assert main([*lead, "-q"]) == 0  # the table ends with a legend of its columns (issue 26)
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:5] == ["layer", "head", "index", "score", "relevance"]
    assert len(table) == 1 + 4 + 2 + 3  # rows, the task concepts' familiarity, the legend
    assert table[5].startswith("# task 'water': ") and table[6].startswith("# task 'ocean': ")
    assert table[-3].startswith("# score:") and "relevance" in table[-3] and "explanation" in table[-1]
    with pytest.raises(SystemExit) as bad:
        main([*lead[:-1], "max"])
    assert bad.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_llm_judge_cli_csv_and_cache(decomp, tmp_path, capsys, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="sith.judge")
    monkeypatch.setenv("FAKE_KEY", "sk-x")
    cache = tmp_path / "c.json"
    with FakeChatServer(lambda b: (200, task_answer(b))) as srv:
        argv = [
            "judge",
            str(decomp),
            "--task",
            "is it water?",
            "--judge",
            "llm",
            "--judge-url",
            srv.url,
            "--judge-model",
            "m",
            "--judge-key-env",
            "FAKE_KEY",
            "--judge-cache",
            str(cache),
            "--csv",
        ]
        assert main(argv) == 0
        out, err = capsys.readouterr()
        assert "3 requests" in caplog.text  # the plan is logged before running
        rows = list(csv.DictReader(io.StringIO(out)))
        assert [r["score"] for r in rows] == ["5", "1", "1", "1"]
        assert main(argv) == 0 and len(srv.requests) == 3  # second run: all cached
        capsys.readouterr()
        cache.unlink()
        assert main(argv + ["--max-calls", "2"]) == 2
        assert "max-calls" in capsys.readouterr().err and len(srv.requests) == 3


def test_bad_inputs_are_one_line_errors(decomp, tmp_path, capsys, monkeypatch):
    (tmp_path / "x.pt").write_bytes(b"junk")
    assert main(["judge", str(tmp_path / "x.pt"), "--task", "t"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    assert (
        main(["judge", str(decomp), "--task", "t", "--judge", "llm", "--judge-key-env", "NO_SUCH_KEY"]) == 2
    )
    assert "NO_SUCH_KEY" in capsys.readouterr().err
    other = fake_decomposition(tmp_path / "other.pt", "0000000000000000")
    assert main(["judge", str(other), "--task", "t"]) == 2
    assert "other weights" in capsys.readouterr().err


def test_score_by_flag_offers_the_judges_choices():
    """The CLI spells the choices out (importing sith.judge at start-up would load torch);
    they must stay the judge's own."""
    p = argparse.ArgumentParser()
    add_score_by_arg(p)
    (action,) = [a for a in p._actions if a.dest == "judge_score_by"]
    assert tuple(action.choices) == SCORE_BY and action.default == SCORE_BY[0]


def test_share_judge_is_the_default_and_matches_the_task_in_the_dictionary(decomp, capsys):
    """``sith judge`` defaults to ``share``, as ``sith edit`` does (docs/judges.md)."""
    data = decomp.parent / "data"
    code = main(["judge", str(decomp), "--task", "is it red?", "--task-concepts", "red", "--json", "-q",
                 "--data-dir", str(data)])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["judge"] == "share"
    by = {(r["head"], r["index"]): r for r in doc["components"]}
    named = [k for k, r in by.items() if "red" in r["explanation"]]
    assert named and all(by[k]["score"] > 1 and by[k]["relevance"] > 0 for k in named)
    assert all(r["score"] == 1 for k, r in by.items() if k not in named)
