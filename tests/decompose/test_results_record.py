"""The decomposition record read through typed accessors (issue 23: readers index no raw keys)."""

from __future__ import annotations

import torch

from sith.decompose import decompose_layer
from sith.decompose.results import LayerDecomposition, ModelRef
from tests.conftest import random_weights


def test_typed_accessors_round_trip(tmp_path):
    w = random_weights(n_layers=2, seed=3)
    atoms = torch.nn.functional.normalize(
        torch.randn(30, w.d_embed, generator=torch.Generator().manual_seed(0)), dim=-1
    )
    dec = decompose_layer(
        w, atoms, [f"c{i}" for i in range(30)], 1, sparsity=3, fold_ln=False, sv_type="left"
    )
    back = LayerDecomposition.load(dec.save(tmp_path / "d.pt"))
    for d in (dec, back):
        assert d.layer == 1 and d.fold_ln is False and d.sv_type == "left" and d.method == "comp-0.3"
        assert d.model == ModelRef(w.info.model_name, w.info.pretrained, w.info.fingerprint)
        assert d.made_by_seed is None and isinstance(d.options, dict)
    assert ModelRef.from_record({"model_name": "m", "pretrained": "t", "fingerprint": None}).fingerprint == ""
