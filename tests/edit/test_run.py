"""plan_edits validates exactly what apply_plan needs; edit logs are read with every key checked."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from sith.edit import ComponentEdit, EditRequest, edit_log, edited_model, plan_edits
from sith.edit.run import log_path_for, read_log
from sith.errors import SithError
from tests.conftest import random_weights


def _clip():
    w = random_weights(n_layers=2, seed=0)
    return SimpleNamespace(weights=w, info=w.info)


@pytest.mark.parametrize(
    "edit,needle",
    [
        (ComponentEdit(9, 0, 0, 0.0), "layer 9"),
        (ComponentEdit(1, 99, 0, 0.0), "head 99"),
        (ComponentEdit(1, 0, 999, 0.0), "component index 999"),
        (ComponentEdit(1, 0, 0, float("nan")), "alpha nan"),
        (ComponentEdit(1, 0, 0, -1.0), "alpha -1"),
    ],
)
def test_plan_refuses_what_a_real_run_refuses(edit, needle):
    with pytest.raises(SithError, match=needle):
        plan_edits(_clip(), EditRequest(components=[edit]))


def test_plan_refuses_negative_threshold_and_an_empty_plan():
    with pytest.raises(SithError, match="threshold -5"):
        plan_edits(_clip(), EditRequest(components=[ComponentEdit(1, 0, 0, 0.0)], threshold=-5))
    with pytest.raises(SithError, match="no component matches"):
        plan_edits(_clip(), EditRequest(components=[]))


def test_plan_rows_carry_singular_value_and_score():
    edits = [ComponentEdit(1, 0, 0, 0.0), ComponentEdit(-1, 1, 2, 2.0, score=0.7)]
    plan = plan_edits(_clip(), EditRequest(components=edits))
    rows = {(r["layer"], r["head"], r["index"]): r for r in plan.rows()}
    assert set(rows) == {(1, 0, 0), (1, 1, 2)}  # -1 is the last layer
    assert rows[(1, 1, 2)]["score"] == 0.7 and rows[(1, 0, 0)]["score"] is None
    assert all(r["singular_value"] > 0 for r in rows.values())


def test_log_names_never_collide():
    names = {log_path_for(Path(p)).name for p in ("clean.v1.safetensors", "clean.v2.safetensors", "clean")}
    assert names == {"clean.v1.edit-log.json", "clean.v2.edit-log.json", "clean.edit-log.json"}


def test_read_log_names_the_bad_key(tmp_path):
    w = random_weights(n_layers=2, seed=0)
    record = edit_log(w, [ComponentEdit(1, 0, 0, 0.0)], fold_ln=True)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(record))
    assert read_log(good)["edits"][0]["head"] == 0
    for change, needle in (
        (lambda r: r["edits"][0].update(alpha="abc"), r"edits\[0\].alpha is 'abc'"),
        (lambda r: r["edits"][0].pop("head"), r"edits\[0\].head"),
        (lambda r: r.update(model="ViT-B-32"), "'model' is 'ViT-B-32'"),
        (lambda r: r["edits"][0]["update"].update(x=["a"]), r"edits\[0\].update.x"),
        (lambda r: r.update(format="other"), "'format'"),
    ):
        bad = json.loads(json.dumps(record))
        change(bad)
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(SithError, match=needle):
            read_log(path)


def test_a_plan_is_applied_only_to_the_weights_it_was_planned_on():
    plan = plan_edits(_clip(), EditRequest(components=[(1, 0, 0)]))
    assert plan.fingerprint == _clip().info.fingerprint and plan.request.components[0].reason == "by index"
    other = random_weights(n_layers=2, seed=5)
    with pytest.raises(SithError, match="made for other weights"):
        edited_model(SimpleNamespace(weights=other, info=other.info), plan)
