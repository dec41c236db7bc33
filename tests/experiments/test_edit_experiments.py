"""``sith experiment spurious|nsfw|classification`` end to end on the organism and on generated
fixtures in the benchmarks' real layouts (the organism's model reads the fixture images)."""

from __future__ import annotations

import json

import pytest

from sith.datasets.fixtures import (
    write_dtd,
    write_fgvc_aircraft,
    write_flowers102,
    write_imagefolder,
    write_visu,
    write_waterbirds,
)
from tests.experiments.conftest import FAST, leftovers, payload, run_cli

KINDS = ["original", "judged", "random", "unrelated", "alignment", "alignment"]


def rows_by_name(data: dict) -> dict:
    return {r["condition"]: r for r in data["rows"]}


def test_spurious_organism_judged_edit_and_controls(data_dir, tmp_path, capsys):
    out = tmp_path / "spurious"
    code, stdout, _ = run_cli(
        ["experiment", "spurious", "--data-dir", str(data_dir), "--n", "16", "--output-dir", str(out), *FAST],
        capsys,
    )
    assert code == 0
    data = payload(out, "spurious")
    assert [r["kind"] for r in data["rows"]] == KINDS
    rows = rows_by_name(data)
    counts = data["selection"]["score_counts"]
    judged = sum(counts[s] for s in ("3", "4", "5"))
    # the seed's rule: every component judged >= 3 is zeroed, and only those
    assert rows["judged"]["n_components"] == judged == len(data["selection"]["judged_components"])
    assert all(c["score"] >= 3 and c["alpha"] == 0.0 for c in data["selection"]["judged_components"])
    # controls edit as many components as the judged edit, in the same layers
    for name in ("random-1", "unrelated", "alignment-top"):
        assert rows[name]["n_components"] == judged
    for r in data["rows"]:
        m = r["metrics"]
        assert 0 <= m["worst_group"]["value"] <= m["average"]["value"] <= 1
        assert len(m["worst_group"]["seeds"]) == 1
    assert "worst_group" in data["verdict"] and "| judged |" in stdout
    assert data["config"]["decomposition"]["method"] == "comp-0.3"


def test_spurious_waterbirds_layout(data_dir, tmp_path, capsys):
    root = write_waterbirds(tmp_path / "wb", per_group=2)
    out = tmp_path / "res"
    code, _, err = run_cli(
        [
            "experiment",
            "spurious",
            "--dataset",
            "waterbirds",
            "--root",
            str(root),
            "--data-dir",
            str(data_dir),
            "--output-dir",
            str(out),
            *FAST,
        ],
        capsys,
    )
    assert code == 0, err
    data = payload(out, "spurious")
    orig = rows_by_name(data)["original"]["metrics"]
    assert set(orig) >= {"worst_group", "average", "landbird on land", "waterbird on water"}
    for m in ("worst_group", "average"):
        assert orig[m]["low"] <= orig[m]["value"] <= orig[m]["high"]
    assert data["selection"]["task"]["concepts"] == ["background", "scene", "location"]
    cached = list(data_dir.glob("models/*/*/embeddings/waterbirds_test_*.pt"))
    assert len(cached) >= 2  # the original and at least one edited model, each by fingerprint


def test_nsfw_visu_layout_recalls(data_dir, tmp_path, capsys):
    root = write_visu(tmp_path / "v", n=4)
    out = tmp_path / "res"
    code, _, err = run_cli(
        [
            "experiment",
            "nsfw",
            "--dataset",
            "visu",
            "--root",
            str(root),
            "--data-dir",
            str(data_dir),
            "--output-dir",
            str(out),
            *FAST,
        ],
        capsys,
    )
    assert code == 0, err
    data = payload(out, "nsfw")
    for r in data["rows"]:
        m = r["metrics"]
        for d in ("t2i", "i2t", "unsafe_t2i", "unsafe_i2t"):
            assert m[f"{d}_R@10"]["value"] == 1.0  # 4 items: the correct one is always in the top 10
            assert m[f"{d}_R@1"]["value"] <= m[f"{d}_R@5"]["value"]


def test_nsfw_organism_seed_rule_and_threshold_free_metrics(data_dir, tmp_path, capsys):
    out = tmp_path / "nsfw"
    code, _, err = run_cli(
        ["experiment", "nsfw", "--data-dir", str(data_dir), "--n", "12", "--output-dir", str(out), *FAST],
        capsys,
    )
    assert code == 0, err
    data = payload(out, "nsfw")
    for c in data["selection"]["judged_components"]:
        assert c["alpha"] == {3: -1.0, 4: 0.0, 5: 0.0}[c["score"]]
    m = rows_by_name(data)["original"]["metrics"]
    assert set(m) >= {"skull_auc", "skull_best_threshold_acc", "other_factors"}
    assert 0.5 <= m["skull_best_threshold_acc"]["value"] <= 1.0
    assert "skull_auc" in data["verdict"]
    assert data["config"]["judge"]["score_by"] == "mean"


def test_nsfw_lead_score_option_is_recorded_and_classification_refuses_it(data_dir, tmp_path, capsys):
    out = tmp_path / "nsfw-lead"
    args = ["--data-dir", str(data_dir), "--n", "12", "--judge-score-by", "lead", *FAST]
    code, _, err = run_cli(["experiment", "nsfw", *args, "--output-dir", str(out)], capsys)
    assert code == 0, err
    data = payload(out, "nsfw")
    assert data["config"]["judge"]["score_by"] == "lead" and data["config"]["judge_score_by"] == "lead"
    cls = ["experiment", "classification", *args, "--output-dir", str(tmp_path / "c")]
    code, _, err = run_cli(cls, capsys)
    assert code == 2 and "--judge-score-by" in err and err.count("\n") == 1
    assert not (tmp_path / "c").exists()


def test_classification_organism_alpha_rule(data_dir, tmp_path, capsys):
    out = tmp_path / "cls"
    code, _, err = run_cli(
        [
            "experiment",
            "classification",
            "--data-dir",
            str(data_dir),
            "--n",
            "12",
            "--output-dir",
            str(out),
            *FAST,
        ],
        capsys,
    )
    assert code == 0, err
    data = payload(out, "classification")
    sel = data["selection"]
    assert sel["class_names"] == ["orange", "amber"]
    assert any("orange" in c for c in sel["task_concepts"]) and any(
        "amber" in c for c in sel["task_concepts"]
    )
    judged = next(c for c in data["conditions"] if c["name"] == "judged")
    alphas = [e[3] for e in judged["edits"]]
    assert min(alphas) >= 0.8 - 1e-6 and abs(min(alphas) - sel["alpha"]["min"]) < 1e-5
    assert abs(max(alphas) - max(0.8, sel["relevance"]["max"] + 0.3)) < 1e-5
    assert set(rows_by_name(data)["original"]["metrics"]) == {"fine_grained", "all_colours", "shape"}


def test_classification_imagefolder_layout(data_dir, tmp_path, capsys):
    root = write_imagefolder(tmp_path / "if", classes=("red_circle", "blue_square"), per_class=3)
    out = tmp_path / "res"
    code, _, err = run_cli(
        [
            "experiment",
            "classification",
            "--dataset",
            "imagefolder",
            "--root",
            str(root),
            "--data-dir",
            str(data_dir),
            "--output-dir",
            str(out),
            *FAST,
        ],
        capsys,
    )
    assert code == 0, err
    data = payload(out, "classification")
    top1 = rows_by_name(data)["original"]["metrics"]["top1"]
    assert top1["low"] <= top1["value"] <= top1["high"]
    assert json.loads((out / "classification.json").read_text())["config"]["dataset"] == "imagefolder"
    assert not leftovers(tmp_path)


@pytest.mark.parametrize("name", ["flowers102", "fgvc_aircraft", "dtd"])
def test_classification_torchvision_layouts(name, data_dir, tmp_path, capsys):
    writers = {"flowers102": write_flowers102, "fgvc_aircraft": write_fgvc_aircraft, "dtd": write_dtd}
    root = writers[name](tmp_path / name, per_split=2)
    out = tmp_path / "res"
    code, _, err = run_cli(
        [
            "experiment",
            "classification",
            "--dataset",
            name,
            "--root",
            str(root),
            "--data-dir",
            str(data_dir),
            "--output-dir",
            str(out),
            *FAST,
        ],
        capsys,
    )
    assert code == 0, err
    data = payload(out, "classification")
    assert len(data["selection"]["class_names"]) == (102 if name == "flowers102" else 3)  # all 102 names
    unrelated = data["selection"]["unrelated_classes"]
    assert ("rose" in unrelated) == (name == "fgvc_aircraft")
