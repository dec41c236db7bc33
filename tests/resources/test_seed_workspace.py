"""Downloaded seed files are used by ``search`` and ``edit`` as stored, never recomputed (issue 26).

The built-in organism stands in for a published model: its decomposition, encoded
dictionary and image mean are turned into the seed's bare formats, served by the fake
Drive, downloaded, and the commands must give the same answers as on our own files while
writing nothing into the downloaded folder.
"""

from __future__ import annotations

import json

import pytest

from sith import api
from sith.cli import main
from sith.decompose import LayerDecomposition
from sith.encode import read_pool
from sith.organism import ORGANISM_NAME, ORGANISM_TAG
from sith.resources.seed import SEED_MODEL_DATA, SeedModelData
from tests.resources.test_seed_data import pt_bytes

FOLDER = "organismfolder01"
LAYER = 5


def run(capsys, *argv: str) -> str:
    code = main(["-q", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def snapshot(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.fixture
def downloaded(drive, tmp_path, monkeypatch, capsys):
    ours = tmp_path / "ours"
    [path] = api.decompose(layers=[LAYER], data_dir=ours, progress=False)
    dec = LayerDecomposition.load(path)
    h, r, k = dec.scores.shape
    bare = {"scores": dec.scores.reshape(h * r, k).clone(),  # what the seed's decompose.py saves
            "indices": dec.indices.clamp_min(0).reshape(h * r, k).clone()}
    mdir = ours / "models" / ORGANISM_NAME / ORGANISM_TAG
    drive.state.add_folder(FOLDER, {
        "image_mean.pt": (mdir / "image_mean.pt").read_bytes(),
        "dictionaries/organism.pt": (mdir / "dictionaries" / "organism.pt").read_bytes(),
        f"decompositions/{path.name}": pt_bytes(bare),
    })
    monkeypatch.setitem(SEED_MODEL_DATA, (ORGANISM_NAME, ORGANISM_TAG), SeedModelData(FOLDER, h, 8))
    data = tmp_path / "data"
    run(capsys, "download-model-data", "--model-name", ORGANISM_NAME, "--pretrained", ORGANISM_TAG,
        "--data-dir", str(data))
    (data / "dictionaries").mkdir()
    (data / "dictionaries" / "organism.txt").write_text("\n".join(read_pool("organism").concepts) + "\n",
                                                        encoding="utf-8")
    return {"ours": ours, "data": data, "dec": dec, "file": path.name}


def test_show_search_and_edit_read_the_downloaded_files(downloaded, capsys):
    ours, data, dec = downloaded["ours"], downloaded["data"], downloaded["dec"]
    seed_file = data / "models" / ORGANISM_NAME / ORGANISM_TAG / "decompositions" / downloaded["file"]
    rows = json.loads(run(capsys, "show", str(seed_file), "--json"))["rows"]
    for row in rows:  # the same explanations, read back from the bare seed format
        assert row["concepts"] == [[c, round(w, 4)] for c, w in dec.explanation(row["head"], row["index"])]
    before = snapshot(data)
    search = ["search", "water", "--layers", str(LAYER), "--json", "--data-dir"]
    assert run(capsys, *search, str(data)) == run(capsys, *search, str(ours))
    concept = dec.explanation(0, 0)[0][0]
    edit = ["edit", "--suppress", concept, "--rule", "weight", "--layers", str(LAYER), "--dry-run",
            "--json", "--data-dir"]
    plan = json.loads(run(capsys, *edit, str(data)))
    assert plan["components"] == json.loads(run(capsys, *edit, str(ours)))["components"]
    assert concept in json.dumps(plan["components"])
    assert "seed download" in json.dumps(plan["selection"]["seed_decompositions"])  # shown in the plan
    assert snapshot(data) == before  # nothing recomputed or rewritten
    out = downloaded["ours"].parent / "edited" / "model.pt"
    run(capsys, *edit[:-3], "--output", str(out), "--data-dir", str(data))
    log = json.loads(out.with_name("model.edit-log.json").read_text())
    assert "seed download" in json.dumps(log)  # the edit log names where its explanations came from
    assert snapshot(data) == before


def test_a_request_the_seed_file_cannot_answer_is_refused_not_overwritten(downloaded, capsys):
    data = downloaded["data"]
    before = snapshot(data)
    code = main(["-q", "edit", "--suppress", "water", "--rule", "weight", "--layers", str(LAYER),
                 "--rank", "2", "--data-dir", str(data)])
    capsys.readouterr()
    # a rank other than the seed's is a recorded option with a file name of its own (_sith-rank-2):
    # computed beside the authors' file, which is never rewritten
    assert code in (0, 2)
    after = snapshot(data)
    assert {k: v for k, v in after.items() if k in before and k.is_file()} == {
        k: v for k, v in before.items() if k.is_file()
    }
    new = {str(k) for k in set(after) - set(before)}
    assert all("_sith-rank-2" in k or "/edits" in k for k in new), new
