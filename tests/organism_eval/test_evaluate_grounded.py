"""Grounded validation, null baselines and faithfulness on the organism."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from sith.cli import main
from sith.factor import centering, head_vo, joint_targets, unit
from sith.load import load_clip, with_head_outputs
from sith.organism.model import asset_path
from sith.organism.world import FACTORS, sample
from sith.organism_eval.faithfulness import accuracies, back_map, replaced_head_outputs
from sith.organism_eval.grounded import Explained, WorldActivations, concept_factors, grounded_report, named
from sith.organism_eval.nulls import permutation, separates, untrained_vision

needs_organism = pytest.mark.skipif(
    not asset_path("organism-v1.json").exists(), reason="organism not shipped"
)
CONCEPTS = ["red", "crimson", "water", "table", "circle", "sand"]


def explained(rows: list[list[tuple[str, float]]]) -> Explained:
    """Flat explanations of len(rows) components of layer 0, head 0 (K = 3, -1 padded)."""
    scores = torch.zeros(len(rows), 3)
    indices = torch.full((len(rows), 3), -1)
    for r, pairs in enumerate(rows):
        for k, (c, w) in enumerate(pairs):
            scores[r, k], indices[r, k] = w, CONCEPTS.index(c)
    return Explained([(0, 0, r) for r in range(len(rows))], scores, indices)


def test_planted_component_whose_activation_is_the_label_has_auc_one():
    labels = sample(300, seed=[5, 5]).labels
    red = (labels["color"] == FACTORS["color"].index("red")).astype(float)
    water = (labels["background"] == FACTORS["background"].index("water")).astype(float)
    ex = explained([[("crimson", 1.0)], [("water", 1.0)], [("table", 0.6), ("sand", 0.4)]])
    acts = np.stack([red, -water, np.zeros(300)], axis=1)
    rep = grounded_report(ex, acts, labels, concept_factors(CONCEPTS))
    by = {(i["row"], i["rule"]): i for i in rep["items"]}
    assert by[(0, "top")]["value"] == "red" and by[(0, "top")]["auc"] == 1.0  # synonym counts
    assert by[(0, "top")]["precision"] == 1.0 and by[(0, "top")]["base_rate"] == pytest.approx(red.mean())
    assert by[(1, "top")]["auc"] == 0.0  # reversed activation: perfectly wrong
    assert (2, "top") not in by  # "table" names nothing; sand is not the top concept
    assert by[(2, "share")]["value"] == "sand" and by[(2, "share")]["auc"] == 0.5  # constant activation
    top = rep["summary"]["top"]
    assert top["count"] == 2 and top["mean_auc"] == 0.5 and top["share_auc_good"] == 0.5
    assert top["grounded_recall"] == pytest.approx(1 / 27)  # red of 8 + 10 + 3 + 6 learned values


def test_share_rule_threshold_and_explained_sign():
    ex = explained([[("table", 0.7), ("red", 0.2), ("sand", 0.1)], [("table", 0.5), ("red", 0.5)]])
    items = named(ex, concept_factors(CONCEPTS), share=0.25)
    assert [(i["row"], i["rule"], i["value"]) for i in items] == [(1, "share", "red")]
    acts = {0: torch.arange(6.0).reshape(3, 1, 2)}
    wa = WorldActivations(acts, {})
    out = wa.of([(0, 0, 1), (0, 0, 0)], torch.tensor([-1.0, 1.0]))
    assert out.tolist() == [[-1.0, 0.0], [-3.0, 2.0], [-5.0, 4.0]]


def test_shuffled_explanations_are_a_permutation():
    perm = permutation(12, seed=3)
    assert sorted(perm.tolist()) == list(range(12)) and perm.tolist() != list(range(12))
    assert torch.equal(permutation(12, seed=3), perm)


def test_separates_needs_the_margin_over_every_null():
    assert separates(0.8, {"a": 0.6, "b": 0.74})
    assert not separates(0.8, {"a": 0.6, "b": 0.76})
    assert not separates(float("nan"), {"a": 0.1})
    assert separates(0.8, {"a": float("nan")})


@needs_organism
def test_untrained_null_changes_vision_weights_only():
    clip = load_clip()
    null = untrained_vision(clip, seed=0)
    old, new = clip.model.state_dict(), null.model.state_dict()
    assert old.keys() == new.keys()
    vision = [k for k in old if k.startswith("visual.")]
    other = [k for k in old if not k.startswith("visual.")]
    assert vision and other
    assert all(torch.equal(old[k], new[k]) for k in other)  # text tower, logit scale: untouched
    changed = [k for k in vision if not torch.equal(old[k], new[k])]
    assert len(changed) >= 0.9 * len(vision)  # (LayerNorm gains re-initialise to ones: may match)
    assert null.info.pretrained == "v1+untrained-vision-0" and null.info.fingerprint != clip.info.fingerprint
    again = untrained_vision(clip, seed=0)
    assert all(torch.equal(new[k], again.model.state_dict()[k]) for k in vision)  # seeded
    assert torch.equal(clip.encode_text(["red"]), null.encode_text(["red"]))


@needs_organism
def test_faithfulness_exact_reconstruction_changes_nothing_and_back_map_inverts():
    clip = load_clip()
    w = clip.weights
    svd = head_vo(w, 5, fold_ln=True).svd
    keys = [(5, h, i) for h in range(w.n_heads) for i in range(w.d_head)]
    new = {k: svd.Vh[k[1], k[2]] for k in keys}
    W_O = replaced_head_outputs(w, new)
    assert torch.equal(W_O[5], w.layers[5].W_O)  # bit for bit
    edited = with_head_outputs(clip, W_O)
    assert accuracies(edited, n=40) == accuracies(clip, n=40)
    # a real replacement moves the head's folded matrix exactly by s·u·(v' − v)ᵀ
    v2 = unit(centering(torch.randn(w.d_model, generator=torch.Generator().manual_seed(0)).double()))
    W_O2 = replaced_head_outputs(w, {(5, 2, 0): v2})
    layers = (*w.layers[:5], dataclasses.replace(w.layers[5], W_O=W_O2[5]), *w.layers[6:])
    moved = head_vo(dataclasses.replace(w, layers=layers), 5, fold_ln=True).dense[2].double()
    want = head_vo(w, 5, fold_ln=True).dense[2].double() + svd.S[2, 0] * torch.outer(
        svd.U[2, :, 0].double(), v2 - svd.Vh[2, 0].double())
    assert torch.allclose(moved, want, atol=1e-5)
    # with βpost = 0 and no image mean the back map inverts docs/method.md §3 exactly (up to centring)
    w0 = dataclasses.replace(w, ln_post_bias=torch.zeros_like(w.ln_post_bias))
    v = svd.Vh[:, :4].reshape(-1, w.d_model).double()
    back = back_map(w0, joint_targets(w0, v, None).double(), None)
    assert ((back * unit(v)).sum(-1) > 0.9999).all()


@needs_organism
def test_organism_eval_grounded_end_to_end(tmp_path, capsys):
    out = tmp_path / "eval.json"
    args = ["-q", "organism", "eval", "--data-dir", str(tmp_path / "data"), "--no-twins", "--grounded",
            "--n-images", "200", "--output", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "untrained vision" in text and "shuffled explanations" in text and "random targets" in text
    assert "mean AUC" in text and "separate" in text
    v = json.loads(out.read_text())["validation"]
    top = v["grounded"]["rules"]["top"]["rows"]
    assert set(top) == {"trained", "untrained vision", "shuffled explanations", "random targets"}
    assert top["trained"]["count"] > 0 and 0 <= top["trained"]["mean_auc"] <= 1
    metrics = {"mean_auc", "share_auc_good", "precision_lift", "grounded_recall"}
    assert set(v["grounded"]["rules"]["top"]["separates"]) == metrics
    # the trained organism's explanations are grounded better than shuffled ones
    assert top["trained"]["mean_auc"] > top["shuffled explanations"]["mean_auc"] + 0.05


def test_eval_rejects_too_few_images(tmp_path, capsys):
    assert main(["-q", "organism", "eval", "--data-dir", str(tmp_path), "--n-images", "5"]) == 2
    assert "--n-images" in capsys.readouterr().err
