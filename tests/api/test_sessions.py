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


def test_decompose_search_judge_ground_share_one_loaded_model(organism_copy, monkeypatch):
    tmp_path = organism_copy
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


def test_grounding_refuses_a_read_only_workspace(tmp_path):
    ws = sith.workspace(data_dir=tmp_path, progress=False)
    with pytest.raises(SithError, match="read-only"):
        ws.read_only().ground(ImageSource(world=4), layers=[5], grids=False)
    assert not any(tmp_path.rglob("grounding"))


def test_sessions_are_least_recently_used_and_progress_is_per_call(tmp_path, monkeypatch):
    """Three data dirs, two sessions kept: the one used least recently goes first; each call's
    ``progress`` is its own (the session's shared workspace is never changed)."""
    sith.close()
    loads = []
    monkeypatch.setattr(sessions, "load_model", lambda *a, **k: loads.append(a) or object.__new__(_Fake))
    a, b, c = (str(tmp_path / n) for n in "abc")
    quiet = sith.workspace(data_dir=a, progress=False)
    loud = sith.workspace(data_dir=a, progress=True)
    assert quiet.progress is False and loud.progress is True and quiet.clip is loud.clip
    assert quiet.caches is loud.caches and quiet.store is loud.store
    sith.workspace(data_dir=b)
    sith.workspace(data_dir=a)  # a used last: b is the least recently used
    sith.workspace(data_dir=c)
    assert [k[2] for k in sessions.SESSIONS] == [a, c] and len(loads) == 3
    sith.workspace(data_dir=a)
    assert len(loads) == 3  # still open
    sith.close()


class _Fake:
    """A stand-in model: the session code reads only ``info``."""

    class info:  # noqa: N801 - mimics ModelInfo's attribute access
        model_name, pretrained, fingerprint = "fake", "", ""


def test_unknown_judge_name_is_one_line(organism_data):
    (path,) = sith.decompose(layers=[5], data_dir=organism_data, progress=False)  # stored: reused
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
