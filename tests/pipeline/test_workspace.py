"""The configuration object and the Workspace on the organism: file names, stale files,
resuming, options never overwriting seed files, and edits that follow the configuration."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import sith.api as sith
from sith.decompose import LayerDecomposition
from sith.errors import SithError
from sith.factor import singular_targets
from sith.pipeline import DecompositionConfig
from tests.conftest import copy_data


@pytest.fixture(scope="module")
def data(tmp_path_factory, organism_data):
    """This module's copy of the session's organism data dir (image mean, encoded pool and the
    seed recipe's decompositions, tests/conftest.py)."""
    return copy_data(organism_data, tmp_path_factory.mktemp("ws") / "data")


def ws_for(data):
    return sith.workspace(data_dir=data, progress=False)


def test_seed_name_and_record(data):
    ws = ws_for(data)
    (path,) = ws.decompose(ws.request(layers=[5]))
    assert path.name == "layer-05_right_foldln_organism_comp-0.3_sparsity-5.pt"
    raw = torch.load(path, weights_only=True)  # the seed's keys and shapes, plain torch.load
    dh = ws.weights.d_head  # the seed's rank: min(64, dh)
    assert raw["scores"].shape == raw["indices"].shape == (ws.weights.n_heads, min(64, dh), 5)
    cfg = raw["config"]
    assert cfg["options"] == {} and cfg["rank"] == min(64, dh) and cfg["image_mean"] is True
    assert ws.decompose(ws.request(layers=[5], rank=min(64, dh))) == [path]  # asked for
    assert len(cfg["image_mean_hash"]) == 16 and cfg["fingerprint"] == ws.clip.info.fingerprint
    assert (data / "models" / "sith-organism" / "v1" / "image_mean.json").is_file()
    assert isinstance(
        torch.load(data / "models" / "sith-organism" / "v1" / "image_mean.pt", weights_only=True),
        torch.Tensor,
    )


def test_options_never_overwrite_the_seed_file(data):
    ws = ws_for(data)
    (seed,) = ws.decompose(ws.request(layers=[4]))
    before = seed.read_bytes()
    for opts, tag in (
        ({"rank": 4}, "_sith-rank-4.pt"),  # a rank other than the seed's min(64, dh)
        ({"polarity": "best", "rank": 4}, "_sith-polarity-best+rank-4.pt"),
        ({"polarity": "best"}, "_sith-polarity-best.pt"),
        ({"atoms": "raw"}, "_sith-atoms-raw.pt"),
        ({"image_mean": False}, "_sith-no-image-mean.pt"),
        ({"template": "a photo of {}"}, "_sith-template-"),
    ):
        (path,) = ws.decompose(ws.request(layers=[4], **opts))
        assert path != seed and tag in path.name, path.name
        assert LayerDecomposition.load(path).config.options() == {k: v for k, v in opts.items()}
    assert seed.read_bytes() == before
    (ncomp,) = ws.decompose(ws.request(layers=[4], rank=4, method="ncomp-0.3"))
    assert "ncomp-0.3" in ncomp.name and seed.read_bytes() == before
    assert "rank=4" in sith.show(ncomp) and "seed recipe" not in sith.show(ncomp)
    assert "seed recipe" in sith.show(seed) and f"rank={ws.weights.d_head}" in sith.show(seed)


def test_a_changed_seed_layout_dictionary_is_detected_and_recomputed(data, caplog):
    """The seed's ``data/dictionaries/NAME.txt`` keeps its plain name; new content under the
    same name is a new hash, so the seed-named file is recomputed, never silently reused."""
    ws = ws_for(data)
    pool = data / "dictionaries" / "mine.txt"
    pool.parent.mkdir(exist_ok=True)
    pool.write_text("water\nland\nred\nblue\nsky\n")
    (p1,) = ws.decompose(ws.request(layers=[3], rank=4, dictionary="mine"))
    assert "_mine_" in p1.name
    pool.write_text("water\nland\nred\nblue\ngrass\n")
    (p2,) = ws_for(data).decompose(ws.request(layers=[3], rank=4, dictionary=str(pool)))
    assert p1 == p2 and "dictionary_hash" in caplog.text  # same seed-layout name, by name or path
    assert LayerDecomposition.load(p2).config.dictionary_name == "mine"


def test_finished_layers_are_kept_and_force_recomputes(data, monkeypatch):
    ws = ws_for(data)
    request = ws.request(layers=[2, 3], rank=4, sparsity=3)
    ws.decompose(request)
    calls = []
    real = ws.decompose_one
    monkeypatch.setattr(ws, "decompose_one", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    ws.decompose(request)
    assert calls == []  # a rerun (an interrupted run resumed) recomputes nothing
    ws.decompose(request, force=True)
    assert sorted(set(calls)) == [2, 3]


def test_an_interrupted_layer_resumes(data, monkeypatch):
    ws = ws_for(data)
    request = ws.request(layers=[1], rank=4, sparsity=3)
    (clean,) = ws.decompose(request)
    expect = LayerDecomposition.load(clean)
    clean.unlink()
    real = ws.decompose_one
    calls = []

    def flaky(*a, **k):
        if len(calls) == 1:
            raise KeyboardInterrupt
        calls.append(k["heads"])
        return real(*a, **k)

    monkeypatch.setattr(ws, "decompose_one", flaky)
    with pytest.raises(KeyboardInterrupt):
        ws.decompose(request)
    partial = clean.with_name(clean.stem + ".partial.pt")
    assert partial.exists() and not clean.exists()
    assert torch.load(partial, weights_only=True)["format"] == "sith-decomposition-partial/1"
    resumed = []
    monkeypatch.setattr(ws, "decompose_one", lambda *a, **k: resumed.append(k["heads"]) or real(*a, **k))
    ws.decompose(request)
    assert resumed and resumed[0].start == calls[0].stop  # only the heads not yet done
    got = LayerDecomposition.load(clean)
    assert torch.equal(got.indices, expect.indices) and torch.equal(got.scores, expect.scores)
    assert not partial.exists()


def test_edit_uses_only_a_matching_decomposition(data):
    """Regression: edit reused a decomposition made with another --rank/--atoms."""
    kw = dict(
        suppress=["large circle"], rule="weight", threshold=0.1, dry_run=True, data_dir=data, progress=False
    )
    small, _, _ = sith.edit(layers=[5], rank=4, **kw)
    full, _, _ = sith.edit(layers=[5], rank=16, **kw)  # the rank-4 file exists under the same name
    fresh_dir = data.parent / "fresh"
    shutil.copytree(data, fresh_dir, ignore=shutil.ignore_patterns("decompositions"))
    fresh, _, _ = sith.edit(layers=[5], rank=16, **{**kw, "data_dir": fresh_dir})
    key = lambda plan: sorted((e.layer, e.head, e.index) for e in plan.edits)  # noqa: E731
    assert key(full) == key(fresh)
    assert max(e.index for e in full.edits) >= 4  # components the rank-4 file could not hold
    assert all(e.index < 4 for e in small.edits)


def test_edit_follows_sv_type(data):
    """Regression: sv_type never reached the selection (the left plan equalled the right one)."""
    kw = dict(suppress=["water"], threshold=0.3, dry_run=True, data_dir=data, progress=False, layers=[4, 5],
              rule="alignment")
    right, _, _ = sith.edit(sv_type="right", **kw)
    left, _, _ = sith.edit(sv_type="left", **kw)
    ws = ws_for(data)
    config = ws.resolve(ws.request(layers=[4, 5], sv_type="left"))
    atom = ws.atoms(config)[ws.encoded().concepts.index("water")]
    expect = set()
    for layer in (4, 5):
        t = singular_targets(
            ws.weights, layer, sv_type="left", rank=config.rank, image_mean=ws.image_mean()
        )
        for h, i in ((t.vectors @ atom).abs() >= 0.3).nonzero().tolist():
            expect.add((layer, h, i))
    assert {(e.layer, e.head, e.index) for e in left.edits} == expect
    assert {(e.layer, e.head, e.index) for e in left.edits} != {
        (e.layer, e.head, e.index) for e in right.edits
    }


def test_edit_log_records_the_decomposition_configuration(data, tmp_path):
    plan, ckpt, log = sith.edit(
        suppress=["water"],
        layers=[5],
        rank=8,
        rule="alignment",
        allow_large=True,  # the alignment rule picks 8 of these 64 components (12%)
        output=tmp_path / "clean.v1.safetensors",
        data_dir=data,
        progress=False,
    )
    assert log.name == "clean.v1.edit-log.json"  # only the last suffix is replaced
    record = json.loads(log.read_text())
    dec = record["selection"]["decomposition"]
    assert dec["rank"] == 8 and dec["dictionary_name"] == "organism" and dec["atoms"] == "center"
    assert dec["image_mean"] is True and len(dec["dictionary_hash"]) == 16
    assert record["selection"]["rule"] == "alignment" and record["selection"]["totals"]["pool"] == 8 * 8


def test_config_validation_and_unresolved_use():
    with pytest.raises(SithError, match="polarity"):
        DecompositionConfig("m", "t", polarity="positive")
    with pytest.raises(SithError, match="^sparsity must"):
        DecompositionConfig("m", "t", sparsity=0)
    with pytest.raises(SithError, match="valid forms"):
        DecompositionConfig("m", "t", method="nnomp")
    with pytest.raises(SithError, match="resolved"):
        DecompositionConfig("m", "t").file_name(3)
    assert DecompositionConfig("m", "t").is_seed
    assert not DecompositionConfig("m", "t", method="lasso").is_seed


def test_same_basename_in_two_folders_never_shares_a_name(data, tmp_path):
    """Issue 26: two different ``words.txt`` get two names everywhere (encoded dictionary,
    decomposition file, record) and never overwrite each other; the same content twice (any
    folder) gets the same name; the seed's layout keeps its plain name."""
    ws = ws_for(data)
    files = {}
    texts = {"a": "water\nland\nred\n", "b": "blue\nsky\ngrass\n", "c": "Water\nland\nred\n"}
    for folder, text in texts.items():
        (tmp_path / folder).mkdir()
        files[folder] = tmp_path / folder / "words.txt"
        files[folder].write_text(text)
    made = {k: ws.decompose(ws.request(layers=[5], rank=4, sparsity=2, dictionary=str(f)))[0]
            for k, f in files.items()}
    first = made["a"].read_bytes()
    name = {k: LayerDecomposition.load(p).config.dictionary_name for k, p in made.items()}
    assert made["a"] != made["b"] and name["a"] != name["b"]
    assert name["a"].startswith("words-") and name["a"] in made["a"].name
    assert made["c"] == made["a"] and name["c"] == name["a"]  # same concepts after cleaning
    assert made["a"].read_bytes() == first  # b did not overwrite a
    encoded = data / "models" / "sith-organism" / "v1" / "dictionaries"
    assert (encoded / f"{name['a']}.pt").is_file() and (encoded / f"{name['b']}.pt").is_file()
    assert not (encoded / "words.pt").exists()
    assert {v for k, v in LayerDecomposition.load(made["b"]).concepts.items()} <= {"blue", "sky", "grass"}
