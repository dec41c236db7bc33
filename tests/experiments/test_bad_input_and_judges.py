"""Bad input → one-line error, exit 2, no result folder; the LLM judge on the fake server;
``sith experiment fidelity``; one run on a random ViT-B-32."""

from __future__ import annotations

import csv
import socket
from pathlib import Path

import pytest
import torch

import sith.api as api
from sith.datasets.fixtures import write_dtd, write_waterbirds
from sith.edit.judges import LLMJudge, WordJudge, build_messages, positive_sorted
from sith.encode import save_image_mean
from sith.errors import SithError
from sith.experiments import Options, spurious
from sith.experiments.setup import analyse
from sith.load import load_clip
from sith.paths import image_mean_path
from tests.edit.judges.fake_server import FakeChatServer
from tests.experiments.conftest import FAST, leftovers, payload, run_cli


def fake_answer(messages: list[dict]) -> int | str:
    """A deterministic fake model: 1..5 from the prompt's length (an int for the test, str on the wire)."""
    return 1 + len(messages[-1]["content"]) % 5


def expect_error(args: list[str], capsys, out: Path, needle: str) -> None:
    code, stdout, err = run_cli([*args, "--output-dir", str(out)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err
    assert not out.exists() and not leftovers(out.parent)


def test_wrong_layout_missing_columns_unreadable_image(data_dir, tmp_path, capsys):
    base = ["experiment", "spurious", "--dataset", "waterbirds", "--data-dir", str(data_dir), *FAST]
    expect_error([*base, "--root", str(tmp_path / "nowhere")], capsys, tmp_path / "a", "metadata.csv")
    expect_error(["experiment", "spurious", "--dataset", "waterbirds"], capsys, tmp_path / "b", "--root")
    root = write_waterbirds(tmp_path / "wb", per_group=2)
    meta = root / "waterbird_complete95_forest2water2" / "metadata.csv"
    good = meta.read_text()
    rows = list(csv.reader(good.splitlines()))
    meta.write_text("\n".join(",".join(r[:4]) for r in rows) + "\n")  # drop 'place'
    expect_error([*base, "--root", str(root)], capsys, tmp_path / "c", "place")
    meta.write_text(good)
    test_row = next(r for r in rows[1:] if r[3] == "2")
    (meta.parent / test_row[1]).write_bytes(b"not a jpeg")
    expect_error([*base, "--root", str(root)], capsys, tmp_path / "d", "cannot read image")
    expect_error(
        ["experiment", "nsfw", "--dataset", "waterbirds", "--root", str(root)],
        capsys,
        tmp_path / "e",
        "--dataset organism | visu",
    )


def test_llm_judge_fake_server_and_non_integer_answers(data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "sk-x")

    def args(url: str) -> list[str]:
        return [
            "experiment",
            "spurious",
            "--judge",
            "llm",
            "--judge-url",
            url,
            "--judge-key-env",
            "FAKE_KEY",
            "--judge-model",
            "fake",
            "--data-dir",
            str(data_dir),
            "--n",
            "8",
            *FAST,
        ]

    with FakeChatServer(lambda body: (200, str(fake_answer(body["messages"])))) as server:
        out = tmp_path / "ok"
        code, _, err = run_cli([*args(server.url), "--output-dir", str(out)], capsys)
        assert code == 0, err
        data = payload(out, "spurious")
        assert data["config"]["judge"]["kind"] == "llm" and server.requests
    # the scores are the fake model's answers to the judge's prompts (task question, not concepts)
    analysis = analyse(api.workspace(data_dir=data_dir, progress=False), layers=[5])
    expected = [
        fake_answer(build_messages(e, spurious.QUESTION)) if positive_sorted(e) else 1
        for e in analysis.explanations()
    ]
    assert data["selection"]["score_counts"] == {str(s): expected.count(s) for s in range(1, 6)}
    zeroed = {(c["layer"], c["head"], c["index"]) for c in data["selection"]["judged_components"]}
    assert zeroed == {c for c, s in zip(analysis.components, expected) if s >= 3}
    with FakeChatServer(lambda body: (200, "three")) as server:
        fresh = ["--judge-cache", str(tmp_path / "other-cache.json")]  # not the answers cached above
        expect_error([*args(server.url), *fresh], capsys, tmp_path / "bad", "instead of one integer")


def test_words_judge_edits_the_components_naming_the_task(data_dir, tmp_path, capsys):
    out = tmp_path / "words"
    code, _, err = run_cli(["experiment", "spurious", "--judge", "words", "--data-dir", str(data_dir),
                            "--n", "8", *FAST, "--output-dir", str(out)], capsys)
    assert code == 0, err
    data = payload(out, "spurious")
    assert data["config"]["judge"] == {"kind": "words", "cutoffs": [0.15, 0.3, 0.5, 0.7], "score_by": "mean"}
    analysis = analyse(api.workspace(data_dir=data_dir, progress=False), layers=[5])
    task = spurious.task_for("organism")
    expected = WordJudge(task.concepts).score(analysis.explanations(), "background")
    zeroed = {(c["layer"], c["head"], c["index"]) for c in data["selection"]["judged_components"]}
    assert zeroed == {c for c, s in zip(analysis.components, expected) if s >= 3} and zeroed


def test_endpoint_down_is_an_error_and_writes_nothing(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "sk-x")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    judge = LLMJudge(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", key_env="FAKE_KEY", retries=1, backoff_s=0.01
    )
    ws = api.workspace(data_dir=data_dir, progress=False)
    out = tmp_path / "down"
    with pytest.raises(SithError, match="failed 2 times"):
        spurious.run(ws, Options(seeds=1, n=8, draws=1, layers=(5,), progress=False), out, judge)
    assert not out.exists() and not leftovers(tmp_path)


def test_fidelity_organism_methods_controls_and_pareto(data_dir, tmp_path, capsys):
    out = tmp_path / "fid"
    code, stdout, err = run_cli(
        [
            "experiment",
            "fidelity",
            "--data-dir",
            str(data_dir),
            "--layers",
            "5",
            "--methods",
            "topk,comp-0.3",
            "--ks",
            "2,4",
            "--output-dir",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    data = payload(out, "fidelity")
    kinds = [r["kind"] for r in data["rows"]]
    assert kinds == ["method"] * 4 + ["control"] * 2 + ["ceiling"]
    assert data["pareto"] and all(-1 <= r["fidelity"] <= 1 for r in data["rows"])
    real = [r for r in data["rows"] if r["kind"] == "method"]
    shuffled = [r for r in data["rows"] if r["kind"] == "control"]
    # explanations reconstruct their vectors; random concepts with the same weights do not
    assert min(r["joint_fidelity"] for r in real) > max(r["joint_fidelity"] for r in shuffled)
    assert all(0 < r["grounded_share"] <= 1 for r in real)
    assert "| topk | 2 |" in stdout


def test_random_vit_b32_classification_on_dtd_layout(tmp_path, capsys):
    """The same command on an open_clip ViT-B-32 with random weights (no download)."""
    data = tmp_path / "data"
    pool = tmp_path / "pool.txt"
    pool.write_text(
        "\n".join(["red", "blue", "stripes", "dots", "grid", "wood", "metal", "cloud", "dog", "cat"])
    )
    clip = load_clip("ViT-B-32", "none")
    save_image_mean(
        torch.nn.functional.normalize(torch.randn(clip.weights.d_embed), dim=0),
        clip.info,
        image_mean_path(data, "ViT-B-32", "none"),
        {"source": "test"},
    )
    root = write_dtd(tmp_path / "dtd", classes=("banded", "dotted"), per_split=2)
    out = tmp_path / "res"
    code, _, err = run_cli(
        [
            "experiment",
            "classification",
            "--model-name",
            "ViT-B-32",
            "--pretrained",
            "none",
            "--dataset",
            "dtd",
            "--root",
            str(root),
            "--dictionary",
            str(pool),
            "--data-dir",
            str(data),
            "--output-dir",
            str(out),
            "--batch-size",
            "4",
            *FAST[:4],
            "--layers",
            "11",
            "--n-boot",
            "20",
        ],
        capsys,
    )
    assert code == 0, err
    res = payload(out, "classification")
    assert res["config"]["decomposition"]["model_name"] == "ViT-B-32"
    assert len(res["conditions"][1]["edits"]) == 12 * 64  # every analysed singular value is scaled
