"""The default selection (judged explanations), the plan's totals, its cap and its notes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from sith.decompose import decompose_layer
from sith.edit import EditRequest, Evidence, plan_edits
from sith.edit.judges import ShareJudge, WordJudge
from sith.errors import SithError
from sith.factor import singular_targets
from tests.conftest import random_weights


def planted(seed: int = 0):
    """Layer 1's vector (1, 2) is explained by "skull symbol" alone; the rest by random atoms."""
    w = random_weights(n_layers=2, seed=seed)
    g = torch.Generator().manual_seed(seed)
    atoms = torch.nn.functional.normalize(torch.randn(80, w.d_embed, generator=g), dim=-1)
    t = singular_targets(w, 1, rank=w.d_head)
    atoms[0] = t.vectors[1, 2]
    concepts = ["skull symbol", "skullcap"] + [f"w{i}" for i in range(2, 80)]
    decs = [decompose_layer(w, atoms, concepts, layer, method="comp-0.3", sparsity=3) for layer in (0, 1)]
    return SimpleNamespace(weights=w, info=w.info), decs


def test_judged_rule_selects_the_explanation_about_the_request():
    clip, decs = planted()
    request = EditRequest(signs="seed", suppress=["skull"])
    plan = plan_edits(clip, request, Evidence(decs, judge_for=lambda n: WordJudge(n)))
    rows = {(r["layer"], r["head"], r["index"]): r for r in plan.rows()}
    assert (1, 1, 2) in rows and rows[(1, 1, 2)]["explanation"][0][0] == "skull symbol"
    for r in rows.values():  # every pick names the skull with at least an even share ("skullcap" never)
        named = sum(w for c, w in r["explanation"] if c == "skull symbol")
        assert r["judged"] >= 3 and r["alpha"] == 0.0 and named >= 0.3 * sum(w for _, w in r["explanation"])
    totals = plan.totals()
    assert totals["components"] == len(rows) and totals["pool"] == sum(d.num_heads * d.rank for d in decs)
    share = float(totals["energy_share"]["1"])
    assert 0 < share < 1
    assert plan.selection["rule"] == "judged"


def test_share_judge_bins_by_an_even_share_of_k():
    judge = ShareJudge({"skull", "skull symbol"}, k=5)
    expl = [
        [("pink hexagon", 0.69), ("skull symbol", 0.58), ("cyan cross", 0.47), ("stone", 0.22)],  # 0.30
        [("red", 0.9), ("skull", 0.1)],  # 0.1: named, less than an even share
        [("red", 1.0)],
        [("skull", 1.0), ("zero", 0.0)],
    ]
    rel = judge.relevance(expl)
    assert rel.scores == [3, 2, 1, 5]
    assert rel.mean[0] == pytest.approx(0.58 / 1.96)
    assert rel.lead == [0.0, 0.0, 0.0, 1.0]
    with pytest.raises(SithError, match="K >= 1"):
        ShareJudge({"a"}, k=0)


def test_plan_refuses_large_edits_unless_allowed_and_names_empty_requests():
    clip, decs = planted()
    everything = lambda names: ShareJudge({f"w{i}" for i in range(2, 80)}, 3)  # noqa: E731
    with pytest.raises(SithError, match="above the 10% cap; narrow the request or pass allow_large=True"):
        plan_edits(clip, EditRequest(signs="seed", suppress=["w"]), Evidence(decs, judge_for=everything))
    large = EditRequest(signs="seed", suppress=["w"], allow_large=True)
    plan = plan_edits(clip, large, Evidence(decs, judge_for=everything))
    assert len(plan.edits) > 0.1 * plan.pool
    nothing = lambda names: ShareJudge(set(), 3)  # noqa: E731
    with pytest.raises(SithError, match="nothing in the dictionary matches 'car'"):
        plan_edits(
            clip, EditRequest(signs="seed", suppress=["car"]),
            Evidence(decs, judge_for=nothing, notes=("nothing in the dictionary matches 'car'.",)),
        )


def test_plan_validates_rule_and_min_score():
    clip, decs = planted()
    with pytest.raises(SithError, match="unknown selection rule"):
        plan_edits(clip, EditRequest(signs="seed", suppress=["skull"], rule="magic"), Evidence(decs))
    with pytest.raises(SithError, match="min_score must be 1..5"):
        plan_edits(clip, EditRequest(signs="seed", suppress=["skull"], min_score=7), Evidence(decs))
    with pytest.raises(SithError, match="needs a judge"):
        plan_edits(clip, EditRequest(signs="seed", suppress=["skull"]), Evidence(decs))
    with pytest.raises(SithError, match="no decomposition"):
        plan_edits(clip, EditRequest(suppress=["skull"]), Evidence(judge_for=lambda n: WordJudge(n)))


def test_max_per_layer_keeps_the_best_judged():
    clip, decs = planted()
    judge = lambda names: ShareJudge({f"w{i}" for i in range(2, 10)}, 3)  # noqa: E731
    plan = plan_edits(clip, EditRequest(signs="seed", suppress=["w"], max_per_layer=1, allow_large=True),
                      Evidence(decs, judge_for=judge))
    per_layer = {}
    for e in plan.edits:
        per_layer[e.layer] = per_layer.get(e.layer, 0) + 1
    assert per_layer and max(per_layer.values()) == 1
