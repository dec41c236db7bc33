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


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A data dir with the organism's image mean and encoded pool (made once)."""
    d = tmp_path_factory.mktemp("ws")
    ws = sith.workspace(data_dir=d, progress=False)
    ws.image_mean()
    ws.encoded()
    return d


def ws_for(data):
    return sith.workspace(data_dir=data, progress=False)


def test_seed_name_and_record(data):
    ws = ws_for(data)
    (path,) = ws.decompose(ws.request(layers=[5], rank=4))
    assert path.name == "layer-05_right_foldln_organism_comp-0.3_sparsity-5.pt"
    raw = torch.load(path, weights_only=True)  # the seed's keys and shapes, plain torch.load
    assert raw["scores"].shape == raw["indices"].shape == (ws.weights.n_heads, 4, 5)
    cfg = raw["config"]
    assert cfg["options"] == {} and cfg["rank"] == 4 and cfg["image_mean"] is True
    assert len(cfg["image_mean_hash"]) == 16 and cfg["fingerprint"] == ws.clip.info.fingerprint
    assert (data / "models" / "sith-organism" / "v1" / "image_mean.json").is_file()
    assert isinstance(
        torch.load(data / "models" / "sith-organism" / "v1" / "image_mean.pt", weights_only=True),
        torch.Tensor,
    )


def test_options_never_overwrite_the_seed_file(data):
    ws = ws_for(data)
    (seed,) = ws.decompose(ws.request(layers=[4], rank=4))
    before = seed.read_bytes()
    for opts, tag in (
        ({"polarity": "best"}, "_sith-polarity-best.pt"),
        ({"atoms": "raw"}, "_sith-atoms-raw.pt"),
        ({"image_mean": False}, "_sith-no-image-mean.pt"),
        ({"template": "a photo of {}"}, "_sith-template-"),
    ):
        (path,) = ws.decompose(ws.request(layers=[4], rank=4, **opts))
        assert path != seed and tag in path.name, path.name
        assert LayerDecomposition.load(path).config["options"] == {k: v for k, v in opts.items()}
    assert seed.read_bytes() == before
    (ncomp,) = ws.decompose(ws.request(layers=[4], rank=4, method="ncomp-0.3"))
    assert "ncomp-0.3" in ncomp.name and seed.read_bytes() == before


def test_a_changed_seed_flag_is_detected_and_recomputed(data, caplog):
    ws = ws_for(data)
    (p4,) = ws.decompose(ws.request(layers=[3], rank=4))
    (p8,) = ws.decompose(ws.request(layers=[3], rank=8))  # same seed file name
    assert p4 == p8 and "rank: 4 → 8" in caplog.text
    assert LayerDecomposition.load(p8).rank == 8


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
    with pytest.raises(SithError, match="--sparsity"):
        DecompositionConfig("m", "t", sparsity=0)
    with pytest.raises(SithError, match="valid forms"):
        DecompositionConfig("m", "t", method="nnomp")
    with pytest.raises(SithError, match="resolved"):
        DecompositionConfig("m", "t").file_name(3)
    assert DecompositionConfig("m", "t").is_seed
    assert not DecompositionConfig("m", "t", method="lasso").is_seed


def test_api_all_is_complete():
    import inspect

    public = {
        n
        for n, f in vars(sith).items()
        if inspect.isfunction(f) and f.__module__ == "sith.api" and not n.startswith("_")
    }
    assert public <= set(sith.__all__), public - set(sith.__all__)
