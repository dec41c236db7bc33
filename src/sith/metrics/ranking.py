"""Threshold-free detection metrics: rank AUC, and the best-threshold accuracy."""

from __future__ import annotations

import torch
from torch import Tensor

from sith.errors import SithError
from sith.ground.scoring import grounded_auc


def check_binary(scores: Tensor, positive: Tensor) -> tuple[Tensor, Tensor]:
    s = torch.as_tensor(scores, dtype=torch.float64).flatten()
    y = torch.as_tensor(positive).flatten().bool()
    if s.numel() != y.numel():
        raise SithError(f"scores ({s.numel()}) and labels ({y.numel()}) differ in length")
    if not bool(y.any()) or bool(y.all()):
        raise SithError("AUC needs both positive and negative examples")
    return s, y


def rank_auc(scores: Tensor, positive: Tensor) -> float:
    """P(score of a random positive > score of a random negative), ties counted 1/2
    (Mann–Whitney U / (n₊ n₋), from mid-ranks): the one implementation,
    :func:`sith.ground.scoring.grounded_auc`, after this module's label checks."""
    s, y = check_binary(scores, positive)
    return grounded_auc(s, y)


def best_threshold_accuracy(scores: Tensor, positive: Tensor) -> tuple[float, float]:
    """``(accuracy, threshold)`` of the best rule "positive iff score ≥ threshold" over every
    threshold (all distinct scores, and +inf = call everything negative). An oracle choice:
    an upper bound on what any fixed cut-off achieves, reported beside the AUC."""
    s, y = check_binary(scores, positive)
    order = torch.argsort(s, descending=True, stable=True)
    ss, yy = s[order], y[order].double()
    n, n_neg = len(s), float((~y).sum())
    # calling the top j positive: correct = TP(j) + (negatives outside the top j)
    tp = torch.cumsum(yy, 0)
    fp = torch.cumsum(1 - yy, 0)
    correct = tp + (n_neg - fp)
    # only cut between distinct scores
    last_of_run = torch.ones(n, dtype=torch.bool)
    last_of_run[:-1] = ss[:-1] != ss[1:]
    correct = torch.where(last_of_run, correct, torch.full_like(correct, -1.0))
    j = int(torch.argmax(correct))
    best, thr = float(correct[j]), float(ss[j])
    if n_neg > best:
        best, thr = n_neg, float("inf")
    return best / n, thr
