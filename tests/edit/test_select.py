"""Choosing components by concept, and the refusals of plan_edits."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from sith.decompose import decompose_layer
from sith.edit import (
    EditRequest,
    Evidence,
    concept_indices,
    plan_edits,
    select_by_alignment,
    select_by_weight,
)
from sith.errors import SithError
from sith.factor import singular_targets
from tests.conftest import random_weights


def setup(seed=0):
    w = random_weights(n_layers=2, seed=seed)
    g = torch.Generator().manual_seed(seed)
    atoms = torch.nn.functional.normalize(torch.randn(60, w.d_embed, generator=g), dim=-1)
    t = singular_targets(w, 1, rank=w.d_head)
    atoms[0] = t.vectors[1, 2]  # "water" is exactly vector (1, 1, 2)
    atoms[1] = -t.vectors[3, 0]  # "ocean" is exactly minus vector (1, 3, 0)
    concepts = ["water", "ocean"] + [f"w{i}" for i in range(2, 60)]
    decs = [
        decompose_layer(w, atoms, concepts, layer, method="comp-0.3", sparsity=3, polarity="both")
        for layer in (0, 1)
    ]
    return w, atoms, concepts, decs


def test_weight_rule_finds_planted_components_both_polarities():
    w, atoms, concepts, decs = setup()
    edits = select_by_weight(decs, concept_indices(["Water", "ocean"], concepts), alpha=0.0, threshold=0.5)
    keys = {(e.layer, e.head, e.index) for e in edits}
    assert {(1, 1, 2), (1, 3, 0)} <= keys
    assert all(e.alpha == 0.0 for e in edits)
    capped = select_by_weight(
        decs, concept_indices(["water", "ocean"], concepts), alpha=0.0, threshold=0.5, max_per_layer=1
    )
    assert len([e for e in capped if e.layer == 1]) == 1


def test_alignment_rule():
    w, atoms, concepts, _ = setup()
    edits = select_by_alignment(w, atoms[:2], layers=[1], alpha=0.0, threshold=0.99)
    assert {(e.layer, e.head, e.index) for e in edits} == {(1, 1, 2), (1, 3, 0)}


def test_unknown_concept_lists_nearest():
    with pytest.raises(SithError, match="nearest: water"):
        concept_indices(["watr"], ["water", "grass"])


def test_plan_refuses_mismatched_decompositions():
    w, atoms, concepts, decs = setup()
    clip = SimpleNamespace(weights=w, info=w.info)
    with pytest.raises(SithError, match="made with fold_ln=True"):
        plan_edits(
            clip, EditRequest(suppress=["water"], rule="weight"),
            Evidence(decs, concepts=concepts, fold_ln=False),
        )
    other = random_weights(n_layers=2, seed=9)
    with pytest.raises(SithError, match="another model"):
        plan_edits(
            SimpleNamespace(weights=other, info=other.info),
            EditRequest(suppress=["water"], rule="weight"),
            Evidence(decs, concepts=concepts),
        )
    with pytest.raises(SithError, match="both suppressed and amplified"):
        plan_edits(
            clip,
            EditRequest(suppress=["water"], amplify=["water"], threshold=0.5, rule="weight"),
            Evidence(decs, concepts=concepts),
        )
    plan = plan_edits(
        clip, EditRequest(suppress=["water"], threshold=0.5, rule="weight"), Evidence(decs, concepts=concepts)
    )
    row = next(r for r in plan.rows() if (r["layer"], r["head"], r["index"]) == (1, 1, 2))
    assert row["explanation"][0][0] == "water" and row["singular_value"] > 0
    # the alignment rule needs the atoms, and then finds exactly the planted vector
    with pytest.raises(SithError, match="atoms"):
        plan_edits(clip, EditRequest(suppress=["water"], rule="alignment"), Evidence(decs, concepts=concepts))
    plan = plan_edits(
        clip, EditRequest(suppress=["water"], threshold=0.99, rule="alignment"),
        Evidence(decs, concepts=concepts, atoms=atoms),
    )
    assert [(e.layer, e.head, e.index) for e in plan.edits] == [(1, 1, 2)]
