"""decompose_layer, results save/load, reports and reverse search on pure weights."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch

from sith.decompose import DecompositionConfig, LayerDecomposition, decompose_layer, rank_heads
from sith.decompose.report import explanation_rows, format_table, to_csv, to_json
from sith.errors import SithError
from sith.factor import singular_targets
from sith.paths import decomposition_filename
from tests.conftest import random_weights


def planted(weights, n_random=200, seed=0):
    """Random unit atoms plus, planted, the NEGATED joint-space vector (layer 1, head 2, index 0)."""
    g = torch.Generator().manual_seed(seed)
    atoms = torch.nn.functional.normalize(torch.randn(n_random, weights.d_embed, generator=g), dim=-1)
    p = singular_targets(weights, 1, rank=4).vectors[2, 0]
    atoms = torch.cat([atoms, -p[None]])
    concepts = [f"c{i}" for i in range(n_random)] + ["planted"]
    return atoms, concepts


@pytest.mark.parametrize("method,k", [("topk", 1), ("omp", 3), ("comp-0.3", 3), ("mp", 2), ("lasso", 3)])
def test_decompose_layer_shapes_and_polarity(weights, method, k):
    atoms, concepts = planted(weights)
    dec = decompose_layer(weights, atoms, concepts, 1, rank=4, method=method, sparsity=k, polarity="best")
    H = weights.n_heads
    assert dec.scores.shape == (H, 4, k) and dec.indices.shape == (H, 4, k)
    assert dec.singular_values.shape == dec.fidelity.shape == dec.polarity.shape == (H, 4)
    assert set(dec.polarity.unique().tolist()) <= {-1, 1}
    # the planted atom is exactly -p: best polarity is "-", explained by it with fidelity 1
    assert int(dec.polarity[2, 0]) == -1
    assert dec.explanation(2, 0)[0][0] == "planted"
    assert float(dec.fidelity[2, 0]) > 0.999
    seed = decompose_layer(weights, atoms, concepts, 1, rank=4, method=method, sparsity=k)  # the seed's
    assert (dec.fidelity >= seed.fidelity - 1e-6).all()
    assert (seed.polarity == 1).all()
    assert "planted" not in [c for c, _ in seed.explanation(2, 0)]  # the seed explains +p only


def test_signed_omp_explains_either_polarity(weights):
    atoms, concepts = planted(weights)
    dec = decompose_layer(weights, atoms, concepts, 1, rank=4, method="somp", sparsity=3, polarity="best")
    (name, w), *_ = dec.explanation(2, 0)
    assert name == "planted" and w * int(dec.polarity[2, 0]) < 0
    assert float(dec.fidelity[2, 0]) > 0.999


def test_both_polarities_and_round_trip(weights, tmp_path):
    atoms, concepts = planted(weights)
    dec = decompose_layer(
        weights,
        atoms,
        concepts,
        -1,
        rank=4,
        sparsity=2,
        polarity="both",
        config=DecompositionConfig("", "", dictionary="toy", dictionary_hash="abc"),
    )
    assert dec.alt["scores"].shape == dec.scores.shape
    assert (dec.fidelity >= dec.alt["fidelity"]).all()
    name = decomposition_filename(1, "right", True, "toy", "comp-0.3", 2)
    assert name == "layer-01_right_foldln_toy_comp-0.3_sparsity-2.pt"  # zero-padded (docs/method.md §6)
    assert decomposition_filename(1, "right", True, "toy", "comp-0.3", 2, "polarity-both") == (
        "layer-01_right_foldln_toy_comp-0.3_sparsity-2_sith-polarity-both.pt"
    )
    path = dec.save(tmp_path / name)
    raw = torch.load(path, weights_only=True)
    assert raw["scores"].shape == (weights.n_heads, 4, 2) and raw["indices"].dtype == torch.int64
    back = LayerDecomposition.load(
        path, expect_fingerprint=weights.info.fingerprint, expect_dictionary_hash="abc"
    )
    for k in ("scores", "indices", "singular_values", "fidelity", "polarity", "tied"):
        assert torch.equal(getattr(back, k), getattr(dec, k))
    assert back.explanation(2, 0) == dec.explanation(2, 0)
    assert back.config == dec.config and back.layer == dec.layer
    assert back.config.fingerprint == weights.info.fingerprint and back.config.dictionary == "toy"
    with pytest.raises(SithError, match="another model"):
        LayerDecomposition.load(path, expect_fingerprint="0" * 16)
    with pytest.raises(SithError, match="another version"):
        LayerDecomposition.load(path, expect_dictionary_hash="zzz")
    torch.save({"scores": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(SithError, match="not a sith decomposition"):
        LayerDecomposition.load(tmp_path / "foreign.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a torch file")
    with pytest.raises(SithError, match="cannot read"):
        LayerDecomposition.load(tmp_path / "corrupt.pt")


def test_reports(weights):
    atoms, concepts = planted(weights)
    dec = decompose_layer(
        weights,
        atoms,
        concepts,
        1,
        rank=4,
        sparsity=2,
        polarity="best",
        config=DecompositionConfig("", "", dictionary="toy", dictionary_hash="abc"),
    )
    rows = explanation_rows(dec, heads=[2])
    assert len(rows) == 4 and all(r["head"] == 2 for r in rows)
    assert rows[0]["concepts"][0][0] == "planted" and rows[0]["polarity"] == "-"
    assert "planted" in format_table(rows)
    assert json.loads(to_json(rows))[0]["index"] == 0
    table = list(csv.reader(io.StringIO(to_csv(rows))))
    assert table[0][:3] == ["layer", "head", "index"] and table[1][7] == "planted"


def test_bad_inputs(weights):
    atoms, concepts = planted(weights)
    with pytest.raises(SithError, match="^sparsity"):
        decompose_layer(weights, atoms, concepts, 1, sparsity=0)
    with pytest.raises(SithError, match="^sparsity"):
        decompose_layer(weights, atoms, concepts, 1, sparsity=len(concepts) + 1)
    with pytest.raises(SithError):
        decompose_layer(weights, atoms, concepts, 1, method="ncomp-1.5")
    with pytest.raises(SithError):
        decompose_layer(weights, atoms, concepts, 1, method="magic")
    with pytest.raises(SithError, match="width"):
        decompose_layer(weights, atoms[:, :5], concepts, 1)
    with pytest.raises(SithError, match="polarity"):
        decompose_layer(weights, atoms, concepts, 1, polarity="positive")


def test_search_finds_the_aligned_vector():
    w = random_weights(n_layers=3, seed=5)
    p = singular_targets(w, 2, rank=w.d_head).vectors[1, 3]
    hits = rank_heads(w, -p, top=5)
    assert (hits[0].layer, hits[0].head, hits[0].index, hits[0].polarity) == (2, 1, 3, -1)
    assert hits[0].cosine == pytest.approx(1.0, abs=1e-5)
    assert all(a.cosine >= b.cosine for a, b in zip(hits, hits[1:]))
