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
    assert dset.model.fingerprint == MODEL["fingerprint"]
    assert dset.config.method == "comp-0.3" and dset.others == {}
    assert find_decompositions(_dir(tmp_path), layers=[3]).layers == [3]


def test_refuses_missing_and_mixed_models(tmp_path):
    with pytest.raises(SithError, match="no decompositions found"):
        find_decompositions(_dir(tmp_path))
    write_set(tmp_path, [2])
    with pytest.raises(SithError, match="no decomposition of layer 7"):
        find_decompositions(_dir(tmp_path), layers=[2, 7])
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
    d = synthetic_decomposition(2, rank=4, head_width=8)
    assert d.config.options() == {"rank": 4}
    d.save(_dir(tmp_path) / d.config.file_name(2))
    dset = find_decompositions(_dir(tmp_path))
    assert dset.config.rank == 8 and dset.config.is_seed
    assert dset.layers == [2] and dset.others == {2: [d.config.describe()]}


def test_one_page_over_layers_decomposed_in_two_runs(tmp_path):
    """The issue's bar: ``sith decompose --layers 4 5`` then ``--layers 0 … 5`` leaves files whose
    records name different runs' layers; they are one configuration and one page."""
    for run in [(4, 5), (0, 1, 2, 3, 4, 5)]:
        for layer in run:
            d = synthetic_decomposition(layer, layers=run)
            if not (_dir(tmp_path) / d.config.file_name(layer)).exists():  # a finished layer is kept
                d.save(_dir(tmp_path) / d.config.file_name(layer))
    dset = find_decompositions(_dir(tmp_path))
    assert dset.layers == [0, 1, 2, 3, 4, 5] and dset.others == {}
    assert len(dset.layer_groups()) == 1
    assert page_data(dset)[0]["meta"]["config"]["layers"] == [0, 1, 2, 3, 4, 5]


def test_configurations_are_chosen_per_layer_and_stated(tmp_path):
    """Layer 3 decomposed with OMP only, layer 2 with COMP only, then layer 3 also with COMP:
    each layer shows one configuration (the one covering most layers wins a tie of seed recipes);
    what is left out is listed per layer, and the page's data says so."""
    write_set(tmp_path, [2])
    write_set(tmp_path, [3], method="omp")
    dset = find_decompositions(_dir(tmp_path))
    assert dset.layers == [2, 3]
    assert (dset.configs[2].method, dset.configs[3].method) == ("comp-0.3", "omp")
    assert [layers for _, layers in dset.layer_groups()] == [[2], [3]]
    write_set(tmp_path, [3])
    dset = find_decompositions(_dir(tmp_path))
    assert {layer: c.method for layer, c in dset.configs.items()} == {2: "comp-0.3", 3: "comp-0.3"}
    assert dset.others == {3: ["omp K=5 synthetic foldln"]}
    main, _ = page_data(dset)
    assert main["meta"]["layer_configs"]["3"] == {
        "config": "comp-0.3 K=5 synthetic foldln",
        "seed_recipe": True,
        "others": ["omp K=5 synthetic foldln"],
    }
    assert find_decompositions(_dir(tmp_path), method="omp").layers == [3]
