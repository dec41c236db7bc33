"""The paper's alpha rules and the control selections of the one selection family."""

from __future__ import annotations

import torch

from sith.edit import ComponentEdit
from sith.edit.select import nsfw_rule, random_draws, relevance_alphas, top_ranked, zero_rule

COMPS = [(layer, h, i) for layer in (4, 5) for h in range(2) for i in range(3)]


def test_seed_rules():
    s = torch.tensor([1, 2, 3, 4, 5])
    assert nsfw_rule(s) == [1.0, 1.0, -1.0, 0.0, 0.0]
    assert zero_rule(3)(s) == [1.0, 1.0, 0.0, 0.0, 0.0]


def test_random_draws_keep_per_layer_counts_and_alphas():
    chosen = (ComponentEdit(4, 0, 1, 0.0), ComponentEdit(5, 1, 2, -1.0), ComponentEdit(5, 0, 0, 0.0))
    draws = random_draws(COMPS, chosen, draws=6, seed=1)
    assert len(draws) == 6 and len(set(draws)) > 1  # draws differ
    for d in draws:
        assert sorted(e.layer for e in d) == [4, 5, 5]
        assert sorted(e.alpha for e in d) == [-1.0, 0.0, 0.0]
        assert len({(e.layer, e.head, e.index) for e in d}) == 3
    assert random_draws(COMPS, chosen, draws=2, seed=1)[0] == draws[0]  # seeded


def test_top_ranked_gives_strongest_alpha_to_highest_key():
    key = torch.arange(len(COMPS), dtype=torch.float64)
    chosen = (ComponentEdit(4, 0, 0, 0.5), ComponentEdit(4, 0, 1, -1.0))
    got = top_ranked(COMPS, key, chosen, "x")
    assert [(e.layer, e.head, e.index, e.alpha) for e in got] == [(5, 1, 2, -1.0), (5, 1, 1, 0.5)]


def test_relevance_alphas_floor_and_shift():
    assert relevance_alphas(torch.tensor([0.0, 0.5, 1.0])) == [0.8, 0.8, 1.3]
