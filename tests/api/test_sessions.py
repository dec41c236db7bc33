"""``sith.api`` runs every command on one session per model: decompose, search, judge and
ground load the organism once (issue 23), and the public names are all exported."""

from __future__ import annotations

import inspect

import pytest

import sith.api as sith
from sith.api import sessions
from sith.decompose import LayerDecomposition
from sith.errors import SithError
from sith.ground import ImageSource


def test_decompose_search_judge_ground_share_one_loaded_model(tmp_path, monkeypatch):
    sith.close()
    loads = []
    real = sessions.load_model
    monkeypatch.setattr(sessions, "load_model", lambda *a, **k: loads.append(a) or real(*a, **k))
    (path,) = sith.decompose(layers=[5], data_dir=tmp_path, progress=False)
    assert len(sith.search("red", layers=[5], top=3, data_dir=tmp_path, progress=False)) == 3
    rows = sith.judge(path, "is it red?", task_concepts=["red"], data_dir=tmp_path)
    dec = LayerDecomposition.load(path)
    assert len(rows) == dec.num_heads * dec.rank and {r.layer for r in rows} == {5}
    assert max(r.score for r in rows) > min(r.score for r in rows)  # the judge tells components apart
    out = tmp_path / "ground"
    written = sith.ground(world=8, layers=[5], rank=2, k=2, grids=False, data_dir=tmp_path,
                          output_dir=out, progress=False)
    assert (out / "layer-05.pt") in written and (out / "summary.json") in written
    assert len(loads) == 1, loads  # one model load for the four commands
    sith.close()
    sith.search("red", layers=[5], top=1, data_dir=tmp_path, progress=False)
    assert len(loads) == 2  # close() drops the session


def test_grounding_refuses_a_read_only_block(tmp_path):
    ws = sith.workspace(data_dir=tmp_path, progress=False)
    with ws.read_only(), pytest.raises(SithError, match="read-only"):
        ws.ground(ImageSource(world=4), layers=[5], grids=False)
    assert not any(tmp_path.rglob("grounding"))


def test_unknown_judge_name_is_one_line(tmp_path):
    (path,) = sith.decompose(layers=[5], data_dir=tmp_path, progress=False)
    with pytest.raises(SithError, match="unknown judge 'gpt'") as err:
        sith.judge(path, "t", judge="gpt")
    assert "\n" not in str(err.value)


def test_api_all_is_complete():
    public = {
        n
        for n, f in vars(sith).items()
        if inspect.isfunction(f) and f.__module__.startswith("sith.api") and not n.startswith("_")
    }
    assert public <= set(sith.__all__), public - set(sith.__all__)
    assert {"ground", "judge", "workspace", "close", "format_hits"} <= public
