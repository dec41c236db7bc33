import pytest
import torch
from sklearn.metrics import roc_auc_score

from sith.errors import SithError
from sith.metrics import (
    best_threshold_accuracy,
    bootstrap_ci,
    correct_ranks,
    group_accuracy,
    rank_auc,
    recall_at_k,
    retrieval_recalls,
)


def test_retrieval_perfect_and_planted_ranks():
    emb = torch.eye(12)
    r = retrieval_recalls(emb, emb * 3)
    assert r == {"text_to_image": {1: 1.0, 5: 1.0, 10: 1.0}, "image_to_text": {1: 1.0, 5: 1.0, 10: 1.0}}
    # planted: query q's correct item is ranked exactly q-th (0-based) among 12
    sim = torch.zeros(12, 12)
    for q in range(12):
        order = [x for x in range(12) if x != q]
        for pos, item in enumerate(order[:q] + [q] + order[q:]):
            sim[q, item] = 100.0 - pos
    assert correct_ranks(sim, torch.arange(12)).tolist() == list(range(12))
    assert recall_at_k(sim, torch.arange(12)) == {1: 1 / 12, 5: 5 / 12, 10: 10 / 12}


def test_retrieval_ties_count_against_and_directions_differ():
    sim = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    assert correct_ranks(sim, torch.tensor([0, 1])).tolist() == [1, 0]
    t = torch.tensor([[1.0, 0.0], [1.0, 0.1]])
    i = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    r = retrieval_recalls(t, i, ks=(1,))
    # text 1 is closer to image 0 (cos .995) than to its own image 1 (.0995); both images find their text
    assert r == {"text_to_image": {1: 0.5}, "image_to_text": {1: 1.0}}
    with pytest.raises(SithError):
        retrieval_recalls(t, i[:1])


def test_rank_auc_matches_sklearn_with_ties():
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        y = torch.rand(200, generator=g) < 0.3
        s = torch.round(torch.randn(200, generator=g) + y.float(), decimals=1)  # many ties
        assert rank_auc(s, y) == pytest.approx(roc_auc_score(y.numpy(), s.numpy()), abs=1e-12)
    y = torch.tensor([0, 0, 1, 1])
    assert rank_auc(torch.tensor([0.1, 0.2, 0.8, 0.9]), y) == 1.0
    assert rank_auc(torch.tensor([0.9, 0.8, 0.2, 0.1]), y) == 0.0
    assert rank_auc(torch.ones(4), y) == 0.5
    with pytest.raises(SithError, match="both"):
        rank_auc(torch.ones(3), torch.ones(3))


def brute_best(s, y):
    best = float((~y).sum()) / len(s)
    for t in torch.unique(s):
        best = max(best, float(((s >= t) == y).float().mean()))
    return best


def test_best_threshold_accuracy_matches_brute_force():
    g = torch.Generator().manual_seed(1)
    for _ in range(10):
        y = torch.rand(60, generator=g) < 0.4
        s = torch.round(torch.randn(60, generator=g) * 2 + y.float(), decimals=0)
        acc, thr = best_threshold_accuracy(s, y)
        assert acc == pytest.approx(brute_best(s, y))
        assert float(((s >= thr) == y).float().mean()) == pytest.approx(acc)
    # AUC 1 → best-threshold accuracy 1, although a fixed cut-off at 0.5 would give 0.5
    s, y = torch.tensor([0.90, 0.91, 0.95, 0.96]), torch.tensor([0, 0, 1, 1]).bool()
    assert best_threshold_accuracy(s, y) == (1.0, pytest.approx(0.95))
    assert float(((s >= 0.5) == y).float().mean()) == 0.5


def test_bootstrap_seeded_and_calibrated():
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(400, generator=g) < 0.7).float()
    ci = bootstrap_ci(lambda idx: float(x[idx].mean()), 400, n_boot=500, seed=3)
    assert ci == bootstrap_ci(lambda idx: float(x[idx].mean()), 400, n_boot=500, seed=3)
    assert ci.low < ci.estimate < ci.high
    se = (ci.estimate * (1 - ci.estimate) / 400) ** 0.5
    assert ci.high - ci.low == pytest.approx(2 * 1.96 * se, rel=0.2)
    other = bootstrap_ci(lambda idx: float(x[idx].mean()), 400, n_boot=500, seed=4)
    assert other != ci
    assert "[" in str(ci)


def test_bootstrap_strata_keep_group_sizes():
    groups = torch.tensor([0] * 5 + [1] * 50)
    seen = []

    def stat(idx):
        seen.append(torch.bincount(groups[idx], minlength=2).tolist())
        return 0.0

    bootstrap_ci(stat, 55, n_boot=20, strata=groups)
    assert all(c == [5, 50] for c in seen)
    pred = torch.zeros(55, dtype=torch.long)
    labels = torch.cat([torch.zeros(5), torch.ones(50)]).long()
    pred[5:30] = 1
    ci = bootstrap_ci(
        lambda i: group_accuracy(pred[i], labels[i], groups[i], 2).worst, 55, n_boot=200, strata=groups
    )
    assert ci.estimate == 0.5 and ci.low < 0.5 < ci.high
    with pytest.raises(SithError):
        bootstrap_ci(stat, 55, strata=groups[:3])
