"""The twin test: counterfactual twins, whole-explanation scoring, nulls, the default eval."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sith.cli import main
from sith.organism.model import asset_path
from sith.organism.world import sample
from sith.organism_eval.grounded import WorldActivations, grounded_scores
from sith.organism_eval.twins import (
    TWIN_FACTORS,
    parse_concept,
    parse_pool,
    score_explanations,
    summarise,
    twin_pairs,
    twin_table,
)
from sith.organism_eval.twintest import NULLS, head_derangement, world_pool

needs_organism = pytest.mark.skipif(
    not asset_path("organism-v1.json").exists(), reason="organism not shipped"
)


def test_parse_concept_phrases_synonyms_and_nothing():
    assert parse_concept("pink hexagon") == [("color", "pink"), ("shape", "hexagon")]
    assert parse_concept("duck on land") == [("bird", "duck"), ("habitat", "land")]
    assert parse_concept("three hearts") == [("count", "three"), ("shape", "heart")]
    assert parse_concept("crimson") == [("color", "red")]
    assert parse_concept("skull symbol") == [("unsafe", "skull")]
    assert parse_concept("water") == [("background", "water")]
    assert parse_concept("family") == [] and parse_concept("table") == []


@pytest.mark.parametrize("factor", list(TWIN_FACTORS))
def test_twins_differ_only_in_their_factor(factor):
    p = twin_pairs(factor, 12, seed=3)
    assert (p.a != p.b).all() and p.images.shape == (24, 3, 64, 64)
    changed = (np.abs(p.images[:12] - p.images[12:]) > 1e-6).any(1).mean((1, 2))  # share of pixels
    if factor in ("background", "habitat"):
        assert changed.min() > 0.5  # the whole background is redrawn
    else:  # the rest of the image is bit-identical: only the object (or skull) changes
        assert changed.max() < 0.5 and changed.min() > 0
    again = twin_pairs(factor, 12, seed=3)
    assert np.array_equal(again.images, p.images)


def test_twin_statistic_separates_a_planted_right_explanation_from_a_wrong_one():
    """A "component" that reads redness from the pixels: twins say *red* is right, *blue* wrong."""
    concepts = ["red", "blue square", "table", "grass", "pink hexagon"]
    parsed = parse_pool(concepts)

    def redness(img: np.ndarray) -> np.ndarray:  # (m, 3, S, S) -> (m,)
        return (img[:, 0] - 0.5 * (img[:, 1] + img[:, 2])).clip(0.5).mean((1, 2))

    tables = {}
    for f in TWIN_FACTORS:
        p = twin_pairs(f, 40, seed=11)
        act = redness(p.images)
        diff = np.stack([act[40:] - act[:40]] * 4, axis=1)  # four components, same activation
        tables[f] = twin_table(diff, p)
    # component 0: "red"; 1: "blue square" (wrong); 2: "table" (names nothing); 3: red + table
    scores = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.5, 0.5]])
    indices = torch.tensor([[0, -1], [1, -1], [2, -1], [0, 2]])
    res = score_explanations(tables, parsed, scores, indices)
    assert res["score"][0] > 0.9  # switching red on raises redness
    assert res["score"][1] < 0.6  # blue does not, a square neither
    assert np.isnan(res["score"][2]) and res["coverage"][2] == 0  # names nothing: counted, not scored
    assert res["score"][3] == pytest.approx(res["score"][0]) and res["coverage"][3] == pytest.approx(0.5)
    s = summarise(res)
    assert s["components"] == 4 and s["named"] == 3 and s["names_nothing"] == 1
    assert s["per_factor"]["color"]["components"] == 3 and s["per_factor"]["shape"]["components"] == 1


def test_nulls_helpers():
    keys = [(0, h, i) for h in range(3) for i in range(5)]
    perm = head_derangement(keys, seed=1)
    assert all(perm[j] != j and keys[perm[j]][:2] == keys[j][:2] for j in range(len(keys)))
    assert sorted(perm.tolist()) == list(range(len(keys)))
    pool = world_pool(["red", "table", "red circle"])
    assert pool[:2] == ["red", "red circle"] and "star in the forest" in pool and "three hearts" in pool
    assert all(parse_concept(c) for c in pool)  # every world-pool concept names world values


def test_grounded_scores_on_string_explanations():
    labels = sample(200, seed=[5, 5]).labels
    red = torch.tensor(labels["color"] == 0, dtype=torch.float32)
    acts = {0: torch.stack([red, -red, torch.zeros(200)], 1)[:, None, :]}  # (n, 1 head, 3)
    world = WorldActivations(acts, labels)
    expl = [[("crimson", 1.0)], [("table", 0.9), ("red", 0.1)], [("red", 1.0)]]
    auc, share = grounded_scores(world, [(0, 0, 0), (0, 0, 1), (0, 0, 2)], expl)
    assert share == pytest.approx(2 / 3) and auc == pytest.approx(0.75)  # (1.0 + 0.5) / 2


@needs_organism
def test_default_eval_prints_twin_scores_for_every_component_with_each_null(tmp_path, capsys):
    out = tmp_path / "eval.json"
    args = ["-q", "organism", "eval", "--data-dir", str(tmp_path / "data"), "--layers", "5",
            "--twin-pairs", "10", "--output", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "twin test" in text and "legend" in text and "coverage" in text
    assert all(name in text for name in ("trained", *NULLS))
    assert "recall" not in text and "purity" not in text  # the retired metrics are gone
    # the per-factor headline: trained, both strength-matched nulls, naming share, ceiling
    head = next(line for line in text.splitlines() if line.startswith("factor"))
    for column in ("trained", "null: other heads", "null: same head", "naming share", "ceiling"):
        assert column in head, column
    assert "cannot pass it by design" in text and "no assignment recorded" in text
    res = json.loads(out.read_text())["twins"]
    (draw,) = res["draws"]
    for pool in ("default_pool", "world_pool"):
        rows = draw[pool]["rows"]
        assert set(rows) == {"trained", *NULLS}
        for r in rows.values():  # every analysed component is accounted for (8 heads x 16)
            assert r["components"] == 128 and r["named"] + r["names_nothing"] == 128
            assert 0 <= r["weight_coverage"] <= 1
        assert f"{rows['trained']['named']}/128" in text
        assert draw[pool]["verdict"]["overall"] in ("separates", "does not separate")
    assert len(draw["default_pool"]["trained_components"]["rows"]) == 128
    per = draw["default_pool"]["per_factor"]
    bg = per["background"]
    keys = {"trained", "null_other_heads", "null_same_head", "ceiling", "naming_share",
            "naming_share_other_heads",
            "heads", "margin_share", "names_component", "basis_privileged"}
    assert keys <= set(bg)
    assert bg["ceiling"] is None or 0 <= bg["ceiling"] <= 1
    assert len(bg["heads"]) == 2 and all(h[0] == 5 for h in bg["heads"])
    assert set(res["names_component_on_every_seed"]) == set(TWIN_FACTORS)
