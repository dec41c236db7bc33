"""The decomposition record, typed (issue 23): ``LayerDecomposition.config`` is a
:class:`DecompositionConfig`; records of earlier versions and of the seed still read."""

from __future__ import annotations

import pytest
import torch

from sith.decompose import DecompositionConfig, decompose_layer
from sith.decompose.results import LayerDecomposition, ModelRef
from sith.errors import SithError
from tests.conftest import random_weights


def _dec():
    w = random_weights(n_layers=2, seed=3)
    atoms = torch.nn.functional.normalize(
        torch.randn(30, w.d_embed, generator=torch.Generator().manual_seed(0)), dim=-1
    )
    concepts = [f"c{i}" for i in range(30)]
    return w, decompose_layer(w, atoms, concepts, 1, sparsity=3, fold_ln=False, sv_type="left")


def test_typed_config_round_trip(tmp_path):
    w, dec = _dec()
    back = LayerDecomposition.load(dec.save(tmp_path / "d.pt"))
    for d in (dec, back):
        assert isinstance(d.config, DecompositionConfig)
        assert d.layer == 1 and d.config.fold_ln is False and d.config.sv_type == "left"
        assert d.config.method == "comp-0.3" and d.config.sparsity == 3 and d.config.layers == (1,)
        assert d.model == ModelRef(w.info.model_name, w.info.pretrained, w.info.fingerprint)
        assert d.made_by_seed is None and d.origin == {}
        assert d.config.options() == {"image_mean": False}  # no image mean was given: an option
    assert back.config == dec.config
    assert ModelRef.from_record({"model_name": "m", "pretrained": "t", "fingerprint": None}).fingerprint == ""


def test_earlier_records_read_and_damaged_ones_are_refused(tmp_path):
    _, dec = _dec()
    d = dec.to_dict()
    # a record as sith 0.1 wrote it from decompose_layer alone: the model only under "model"
    old = {k: v for k, v in d["config"].items() if k not in ("model_name", "pretrained", "fingerprint")}
    torch.save({**d, "config": {**old, "n_concepts": 30}}, tmp_path / "old.pt")
    assert LayerDecomposition.load(tmp_path / "old.pt").config == dec.config
    torch.save({**d, "config": {**d["config"], "sparsity": "five"}}, tmp_path / "bad.pt")
    with pytest.raises(SithError, match="damaged sith decomposition file") as err:
        LayerDecomposition.load(tmp_path / "bad.pt")
    assert "\n" not in str(err.value)
    no_layer = {k: v for k, v in d["config"].items() if k != "layer"}
    torch.save({**d, "config": no_layer}, tmp_path / "nolayer.pt")
    with pytest.raises(SithError, match="damaged"):
        LayerDecomposition.load(tmp_path / "nolayer.pt")
