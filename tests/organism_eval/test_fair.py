"""The fair twin test: strength-matched directions, the held-out ceiling, direct margins, naming."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sith.organism.model import asset_path
from sith.organism_eval.fair import along_band, band_coefs, band_of, held_out_best
from sith.organism_eval.margin import (
    DirectMargin,
    factor_naming,
    lead_components,
    lead_heads,
    naming_fraction,
)

needs_organism = pytest.mark.skipif(not asset_path("organism-v1.json").exists(),
                                    reason="organism not shipped")


@pytest.mark.parametrize("other", [True, False])
def test_band_directions_stay_in_their_band_and_head_rule(other):
    src, g = band_coefs(4, 16, seed=3, other_head=other)
    bands = band_of(16)
    assert torch.allclose(g.norm(dim=-1), torch.ones(4, 16, dtype=torch.float64))
    outside = bands[None, :, None] != bands[None, None, :]
    assert (g[outside.expand_as(g)] == 0).all()  # only the 4 neighbouring indices of band(j)
    own = torch.arange(4)[:, None].expand(4, 16)
    assert (src != own).all() if other else (src == own).all()
    again = band_coefs(4, 16, seed=3, other_head=other)
    assert torch.equal(again[0], src) and torch.equal(again[1], g)
    acts = torch.randn(5, 4, 16, dtype=torch.float64)
    out = along_band(acts, src, g)
    want = sum(g[2, 6, i] * acts[:, src[2, 6], i] for i in range(16))
    assert torch.allclose(out[:, 2, 6], want)
    with pytest.raises(ValueError, match="2 heads"):
        band_coefs(1, 4, seed=0, other_head=True)


def test_held_out_ceiling_finds_the_value_a_component_responds_to():
    rng = np.random.default_rng(0)
    n, k = 400, 4
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    resp = (b == 2).astype(float) - (a == 2).astype(float)  # switching value 2 on raises it
    diff = np.stack([resp + 0.1 * rng.standard_normal(n), rng.standard_normal(n)], 1)
    best = held_out_best(diff, a, b, k)
    assert best[0] > 0.95 and 0.35 < best[1] < 0.65  # noise: chosen on one half, ~0.5 on the other


def test_naming_share_counts_the_factors_weight():
    parsed = [[("color", 0)], [("color", 1), ("shape", 2)], [], [("background", 0)]]
    scores = torch.tensor([[0.5, 0.5], [1.0, 0.0], [1.0, 1.0]])
    indices = torch.tensor([[0, 2], [1, -1], [3, 1]])
    frac = naming_fraction(scores, indices, parsed, "color")
    assert frac == pytest.approx([0.5, 0.5, 0.25])
    # lead heads by direct margin, leading components by their own margin
    m = DirectMargin(10.0, {5: torch.tensor([[1.0, 4.0], [0.5, 0.1], [2.0, 0.0]])}, {5: torch.zeros(3)})
    assert lead_heads(m, 2) == [(5, 0), (5, 2)] and m.head_share(5, 0) == pytest.approx(0.5)
    assert lead_components(m, [(5, 0)], 1) == [(5, 0, 1)]
    keys = [(5, h, i) for h in range(3) for i in range(2)]
    scores = torch.ones(6, 1)
    indices = torch.tensor([[0], [0], [3], [3], [3], [0]])  # head 0 names colour, the rest background
    out = factor_naming(m, keys, scores, indices, parsed, "color")
    assert out["heads"] == [[5, 0], [5, 2]] and out["naming_share"] == pytest.approx(0.75)
    assert out["naming_share_other_heads"] == pytest.approx(0.0) and not out["assigned"]
    out = factor_naming(m, keys, scores, indices, parsed, "color", assigned=[(5, 1)])
    assert out["assigned"] and out["naming_share"] == 0.0


@needs_organism
def test_direct_margin_splits_the_head_outputs_exactly():
    """Each head's class-token write is Σ_i act_i v_i plus its value-bias term (to 1e-5), so the
    direct margins are the exact split of the residual's linear LN_post part."""
    from sith.factor import head_vo
    from sith.load import load_clip
    from sith.organism.zeroshot import normalize_images
    from sith.organism_eval.margin import direct_margins, final_residual, margin_prompts
    from sith.organism_eval.twins import twin_activations, twin_pairs

    clip = load_clip()
    p = twin_pairs("color", 12, seed=1)
    acts = twin_activations(clip, [5], 16, p.images)
    outs = {}
    handle = clip.model.visual.transformer.resblocks[5].attn.register_forward_hook(
        lambda m, a, o: outs.setdefault(5, o[0] if isinstance(o, tuple) else o))
    with torch.no_grad():
        clip.encode_images(normalize_images(torch.from_numpy(p.images), clip.image_mean, clip.image_std))
    handle.remove()
    cls = outs[5][:, 0].double()
    lw = clip.weights.layers[5]
    svd = head_vo(clip.weights, 5, fold_ln=True).svd
    rec = torch.einsum("nhr,hrd->nd", acts[5].double(), svd.Vh.double())
    vb = lw.ln1_bias.double() @ lw.W_V.double() + lw.b_V.double()
    bias = torch.einsum("hk,hkd->d", vb, lw.W_O.double()) + lw.b_O.double()
    centred = lambda x: x - x.mean(-1, keepdim=True)  # noqa: E731
    assert torch.allclose(centred(cls), rec + centred(bias), atol=1e-4)
    resid = final_residual(clip, p.images)
    text = clip.encode_text(margin_prompts("color")).float().cpu()
    labels = np.concatenate([p.a, p.b])
    m = direct_margins(clip.weights, {5: svd}, 16, acts, resid, labels, text)
    assert m.total > 0 and m.components[5].shape == (8, 16)
    shares = [m.head_share(5, h) for h in range(8)]
    assert all(np.isfinite(shares)) and abs(sum(shares)) < 2


def test_a_routed_organism_config_gives_the_assignment(monkeypatch):
    import sys
    import types

    from sith.organism import ORGANISM_NAME
    from sith.organism_eval.margin import recorded_assignment

    fake = types.ModuleType("sith.organism.trainconfig")
    fake.ASSIGNMENTS = {"v2": {"color": ((4, 1),), "shape": ((5, 0), (5, 1))}}
    monkeypatch.setitem(sys.modules, "sith.organism.trainconfig", fake)
    routed = {"sith": {"train_config": {"routing_weight": 0.1, "routing_assignment": "v2"}}}
    monkeypatch.setattr("sith.organism.model.exported_config", lambda path: routed)
    info = types.SimpleNamespace(model_name=ORGANISM_NAME, pretrained="x.safetensors")
    clip = types.SimpleNamespace(info=info)
    assert recorded_assignment(clip) == {"color": ((4, 1),), "shape": ((5, 0), (5, 1))}
    routed["sith"]["train_config"]["routing_weight"] = 0.0  # a control run routes nothing
    assert recorded_assignment(clip) is None
    other = types.SimpleNamespace(info=types.SimpleNamespace(model_name="ViT-B-32", pretrained="openai"))
    assert recorded_assignment(other) is None
