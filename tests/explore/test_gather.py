"""Finding, checking and summarising decompositions for the explorer (no browser)."""

from __future__ import annotations

import json

import pytest
import torch

from sith.errors import SithError
from sith.explore import find_decompositions, head_theme, render
from sith.explore.data import page_data
from sith.explore.gather import decomposition_dir
from tests.explore.synthetic import MODEL, synthetic_decomposition, write_set


def _dir(tmp_path):
    return decomposition_dir(tmp_path, MODEL["model_name"], MODEL["pretrained"])


def test_finds_one_configuration_of_one_model(tmp_path):
    write_set(tmp_path, [2, 3])
    write_set(tmp_path, [3], sv_type="left")
    dset = find_decompositions(_dir(tmp_path))
    assert dset.layers == [2, 3]
    assert dset.sv_types == ["right", "left"]
    assert dset.model["fingerprint"] == MODEL["fingerprint"]
    assert dset.config["method"] == "comp-0.3"
    assert find_decompositions(_dir(tmp_path), layers=[3]).layers == [3]


def test_refuses_missing_mixed_ambiguous(tmp_path):
    with pytest.raises(SithError, match="no decompositions found"):
        find_decompositions(_dir(tmp_path))
    write_set(tmp_path, [2])
    with pytest.raises(SithError, match="no decomposition of layer 7"):
        find_decompositions(_dir(tmp_path), layers=[2, 7])
    write_set(tmp_path, [3], method="omp")
    with pytest.raises(SithError, match="2 configurations.*differ in method.*--method"):
        find_decompositions(_dir(tmp_path))
    assert find_decompositions(_dir(tmp_path), method="omp").layers == [3]
    other = dict(MODEL, model_name="ViT-B-32", fingerprint="beef")
    d = synthetic_decomposition(4, model=other)
    d.save(_dir(tmp_path) / "layer-4_right_foldln_synthetic_comp-0.3_sparsity-5.pt")
    with pytest.raises(SithError, match="different models are mixed") as err:
        find_decompositions(_dir(tmp_path))
    assert "\n" not in str(err.value)


def test_head_theme_is_the_heaviest_frequent_concept():
    d = synthetic_decomposition(
        0, n_heads=1, rank=6, k=3, concepts=["water", "red", "dog", "cat", "sun", "box"]
    )
    d.indices[0, :, 0] = 0  # "water" first in every component ...
    d.scores[0, :, 0] = 0.9  # ... with the largest weight
    d.indices[0, :, 1:] = torch.tensor([1, 2])
    d.scores[0, :, 1:] = torch.tensor([0.2, 0.1])
    d.concepts.update({0: "water", 1: "red", 2: "dog"})
    theme = head_theme(d, 0)
    assert [c for c, _ in theme] == ["water", "red", "dog"]
    assert theme[0][1] == pytest.approx(0.9 / 1.2)


def test_page_data_round_trips_explanations(tmp_path):
    write_set(tmp_path, [1], n_heads=2, rank=4)
    dset = find_decompositions(_dir(tmp_path))
    main, layers = page_data(dset)
    d = dset.files[(1, "right")]
    flat = layers[1]["right"]["C"][1][2]
    got = [(main["concepts"][flat[j]], flat[j + 1]) for j in range(0, len(flat), 2)]
    assert [c for c, _ in got] == [c for c, _ in d.explanation(1, 2)]
    assert [w for _, w in got] == pytest.approx([w for _, w in d.explanation(1, 2)], abs=1e-3)
    assert layers[1]["right"]["T"][0][2:4] == [1, 1]
    assert "P" not in layers[1]["right"]  # every explanation is of +v: no polarity column


def test_render_keeps_markup_in_data_inert(tmp_path):
    write_set(tmp_path, [1], concepts=["</script><script>alert(1)</script>"] + [f"c{i}" for i in range(60)])
    main, layers = page_data(find_decompositions(_dir(tmp_path)))
    page = render(main, layers)
    assert page.count("<script") == page.count("</script>") == 3  # data, one layer, the code
    assert "alert(1)" in page and "\\u003c/script>" in page
    assert json.loads(page.split('id="sith-data">')[1].split("</script>")[0])["meta"]["layers"] == [1]


def test_seed_recipe_is_shown_beside_an_option_run(tmp_path):
    """``sith decompose`` then ``--rank 4`` (a recorded option, its own file): explore shows
    the seed recipe's files instead of refusing; two seed configurations stay ambiguous."""
    write_set(tmp_path, [2])
    d = synthetic_decomposition(2, rank=4)
    d.config["options"] = {"rank": 4}
    d.save(_dir(tmp_path) / "layer-02_right_foldln_synthetic_comp-0.3_sparsity-5_sith-rank-4.pt")
    dset = find_decompositions(_dir(tmp_path))
    assert dset.config["rank"] == 8 and not dset.config.get("options")
    assert find_decompositions(_dir(tmp_path)).layers == [2]
