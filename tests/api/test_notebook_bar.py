"""The README's "In Python" block — organism, decomposition, head 3, an in-memory edit — runs as
shown, in at most four lines; request → plan → apply keeps the CLI's files (save, apply_log)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import sith
import sith.api
from sith.decompose.tables import HeadExplanations
from sith.errors import SithError
from sith.factor import layer_svd

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## In Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def organism_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # sith.open()'s default data dir is ./data
    sith.api.close()
    yield tmp_path
    sith.api.close()


def test_readme_notebook_block_runs_in_four_lines(organism_dir, capsys):
    code = readme_block()
    assert len(code.strip().splitlines()) <= 4
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)  # noqa: S102 - the README's own block
    shown = capsys.readouterr().out
    assert "layer 5 head 3" in shown and len(shown.splitlines()) >= 3
    ws, model = ns["ws"], ns["model"]
    before, after = layer_svd(ws.weights, 5, fold_ln=True), layer_svd(model.weights, 5, fold_ln=True)
    # component 0 is zeroed: the others keep their singular values, one becomes 0 (docs/method.md §6)
    assert torch.allclose(after.S[3, :-1], before.S[3, 1:], rtol=1e-4, atol=1e-6)
    assert float(after.S[3, -1]) < 1e-4 * float(before.S[3, 0])
    for h in range(ws.weights.n_heads):  # only head 3 of layer 5 changed
        same = torch.equal(model.weights.layers[5].W_O[h], ws.weights.layers[5].W_O[h])
        assert same == (h != 3)
    assert (organism_dir / "data").is_dir()


def test_plan_carries_request_config_and_by_index_explanations(organism_dir, tmp_path):
    ws = sith.open()
    dec = ws.decomposition(layer=5)
    table = dec.head(3)
    assert isinstance(table, HeadExplanations) and len(table) == dec.rank
    assert "<table>" in table._repr_html_() and "<table>" in dec._repr_html_()
    request = sith.EditRequest(components=[(5, 3, 0)])
    plan = ws.plan(request)
    assert plan.request is request and plan.config is not None and plan.config.method == dec.config.method
    assert plan.explanations[(5, 3, 0)] == dec.explanation(3, 0)  # by index, explained
    assert plan.record()["format"] == "sith-edit-plan/1" and "<table>" in plan._repr_html_()
    assert repr(plan).startswith("EditPlan(by index: 1 component(s))\n  5:3:0 alpha 0")
    assert repr(dec).startswith("LayerDecomposition(layer 5: ") and len(repr(dec)) < 200
    ckpt, log = ws.save(plan, tmp_path / "out" / "edited.safetensors")
    assert ckpt.is_file() and log.is_file()
    first, _ = ws.save(plan)  # without a path: a new file under the data dir, never an overwrite
    second, _ = ws.save(plan)
    assert first != second and first.parent.name == "edits" and first.name.startswith("edited")
    again, _, _ = sith.api.apply_log(log, tmp_path / "out" / "again.safetensors", dry_run=True)
    assert [(e.layer, e.head, e.index) for e in again.edits] == [(5, 3, 0)]


def test_edit_request_fails_before_any_model():
    with pytest.raises(SithError, match="alpha"):
        sith.EditRequest(components=[(5, 3, 0, -1.0)])
    with pytest.raises(SithError, match="unknown selection rule"):
        sith.EditRequest(suppress="skull", rule="magic")
    with pytest.raises(SithError, match="not \\(layer, head, index\\)"):
        sith.EditRequest(components=[(5, 3)])
    assert sith.EditRequest(suppress="skull").suppress == ("skull",)


def test_to_pandas_or_one_line_import_error(organism_dir, monkeypatch):
    import builtins

    table = HeadExplanations(({"layer": 5, "head": 3, "index": 0, "singular_value": 1.0, "fidelity": 0.5,
                               "tied": False, "explanation": [("red", 0.5)]},))
    real = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match=r"pip install 'sith\[notebook\]'") as err:
        table.to_pandas()
    assert "\n" not in str(err.value)
    monkeypatch.setattr(builtins, "__import__", real)
    pd = pytest.importorskip("pandas")
    frame = table.to_pandas()
    assert isinstance(frame, pd.DataFrame) and frame.loc[0, "explanation"] == "red (0.50)"
