"""The judged rule sees both signs of a component for a suppress request (zeroing removes ±v)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from sith.decompose import decompose_layer
from sith.edit import EditRequest, Evidence, plan_edits
from sith.edit.judges import WordJudge
from sith.edit.select import Task, judge_signs, negated_explanations
from sith.errors import SithError
from sith.factor import head_vo, joint_targets, singular_targets
from tests.conftest import random_weights


def planted_minus(seed: int = 0):
    """Layer 1's vector (1, 2) written with the *negative* sign is "skull symbol": atom 0 is
    the target of −v (negated before LN_post, docs/method.md §3), not −t."""
    w = random_weights(n_layers=2, seed=seed)
    g = torch.Generator().manual_seed(seed)
    atoms = torch.nn.functional.normalize(torch.randn(80, w.d_embed, generator=g), dim=-1)
    v = head_vo(w, 1, fold_ln=True).svd.Vh[1, 2]
    atoms[0] = joint_targets(w, -v[None].double(), None)[0]
    concepts = ["skull symbol", "skullcap"] + [f"w{i}" for i in range(2, 80)]
    decs = [decompose_layer(w, atoms, concepts, layer, method="comp-0.3", sparsity=3) for layer in (0, 1)]
    return SimpleNamespace(weights=w, info=w.info), decs, atoms, concepts


def test_the_negated_target_is_not_minus_t():
    w = random_weights(n_layers=2, seed=0)
    v = head_vo(w, 1, fold_ln=True).svd.Vh[1, 2][None].double()
    t = singular_targets(w, 1, rank=w.d_head).vectors[1, 2].double()
    cos = float(joint_targets(w, -v, None)[0].double() @ -t)
    assert cos < 0.999  # βpost makes LN_post(−x)·P differ from −(LN_post(x)·P)


def test_suppress_judges_minus_v_and_says_which_sign_matched():
    clip, decs, atoms, concepts = planted_minus()
    judge = lambda names: WordJudge(names)  # noqa: E731
    minus = negated_explanations(clip.weights, decs, atoms, concepts, image_mean=None)
    row = decs[0].num_heads * decs[0].rank + 1 * decs[1].rank + 2  # (1, 1, 2) in components_of order
    assert minus[row][0][0] == "skull symbol"
    assert decs[1].explanation(1, 2)[0][0] != "skull symbol"  # +v's explanation cannot name it
    try:  # the seed's rule (+v only) misses it
        seed_rule = EditRequest(suppress=["skull"], signs="seed")
        seed = plan_edits(clip, seed_rule, Evidence(tuple(decs), judge_for=judge))
        assert (1, 1, 2) not in {(r["layer"], r["head"], r["index"]) for r in seed.rows()}
        assert "signs" in seed.selection and seed.selection["signs"]["mode"] == "seed"
    except SithError as err:
        assert "no component matches" in str(err)
    plan = plan_edits(clip, EditRequest(suppress=["skull"], signs="both", allow_large=True),
                      Evidence(tuple(decs), judge_for=judge, atoms=atoms, concepts=concepts))
    rows = {(r["layer"], r["head"], r["index"]): r for r in plan.rows()}
    assert (1, 1, 2) in rows and rows[(1, 1, 2)]["reason"].endswith("[-v]")
    assert rows[(1, 1, 2)]["explanation"][0][0] == "skull symbol"  # the plan shows −v's explanation
    signs = plan.selection["signs"]
    assert signs["mode"] == "both" and signs["matched"]["1.1.2"] == "-"
    try:  # amplification stays +v only
        amp = plan_edits(clip, EditRequest(amplify=["skull"], signs="both", allow_large=True),
                         Evidence(tuple(decs), judge_for=judge, atoms=atoms, concepts=concepts))
        assert (1, 1, 2) not in {(r["layer"], r["head"], r["index"]) for r in amp.rows()}
    except SithError as err:
        assert "no component matches" in str(err)
    with pytest.raises(SithError, match="unknown signs"):
        EditRequest(suppress=["skull"], signs="minus")


def test_judge_signs_takes_the_higher_score_per_component():
    plus = [[("skull", 1.0)], [("red", 1.0)], [("red", 1.0)]]
    minus = [[("red", 1.0)], [("skull", 1.0)], [("blue", 1.0)]]
    judged, matched = judge_signs(WordJudge(["skull"]), plus, minus, Task("suppress", "skull", ("skull",)))
    assert matched == ["+", "-", ""]
    assert judged.scores[0] >= 3 and judged.scores[1] >= 3 and judged.scores[2] < 3
    judged, matched = judge_signs(WordJudge(["skull"]), plus, None, Task("suppress", "skull", ("skull",)))
    assert matched == ["+", "", ""]
