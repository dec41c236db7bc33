"""Grounded AUC and top-k precision on planted data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sith.errors import SithError
from sith.ground.scoring import average_ranks, grounded_auc, top_precision


def test_perfect_reversed_and_tied():
    a = np.arange(10.0)
    y = a >= 6
    assert grounded_auc(a, y) == 1.0
    assert grounded_auc(-a, y) == 0.0
    assert grounded_auc(np.zeros(10), y) == 0.5  # all tied: chance
    assert top_precision(a, y, k=4) == 1.0
    assert top_precision(-a, y, k=4) == 0.0
    assert top_precision(torch.tensor(a), torch.tensor(y), k=8) == 0.5


def test_matches_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 60).astype(float)  # many ties
    y = rng.random(60) < 0.4
    pos, neg = a[y], a[~y]
    want = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (
        pos.size * neg.size
    )
    assert grounded_auc(a, y) == pytest.approx(want, abs=1e-12)
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_random_is_chance_over_many_seeds():
    aucs, precs = [], []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        a = rng.normal(size=400)
        y = rng.random(400) < 0.3
        aucs.append(grounded_auc(a, y))
        precs.append(top_precision(a, y, k=20))
    assert abs(np.mean(aucs) - 0.5) < 0.01
    assert abs(np.mean(precs) - 0.3) < 0.02
    assert 0.4 < min(aucs) and max(aucs) < 0.6


def test_planted_signal_is_found():
    rng = np.random.default_rng(1)
    y = rng.random(500) < 0.5
    a = rng.normal(size=500) + 2.0 * y
    assert grounded_auc(a, y) > 0.85


def test_bad_input():
    with pytest.raises(SithError, match="with and without"):
        grounded_auc(np.arange(4.0), np.ones(4, bool))
    with pytest.raises(SithError, match="differ in length"):
        grounded_auc(np.arange(4.0), np.ones(3, bool))
    with pytest.raises(SithError, match="NaN"):
        grounded_auc(np.array([0.0, np.nan]), np.array([True, False]))
    with pytest.raises(SithError, match="k=0"):
        top_precision(np.arange(4.0), np.ones(4, bool), k=0)
