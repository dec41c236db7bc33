"""Grounded scores of a component against image labels (issue 11, item 2).

* :func:`grounded_auc` — the ROC AUC of ``activations`` for telling images with a label
  (positives) from images without it: the probability that a random positive scores
  higher than a random negative, ties counting one half (Mann–Whitney ``U / (n₊ n₋)``,
  from average ranks). 1.0 = perfect separation, 0.5 = chance, 0.0 = perfectly reversed.
* :func:`top_precision` — the share of positives among the ``k`` highest activations.
"""

from __future__ import annotations

import numpy as np
import torch

from sith.errors import SithError


def _arrays(activations: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    a = activations.detach().cpu().numpy() if isinstance(activations, torch.Tensor) else activations
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else labels
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(y).reshape(-1)
    if a.shape != y.shape:
        raise SithError(
            f"activations ({a.size}) and labels ({y.size}) differ in length; pass one label per image"
        )
    if not np.isfinite(a).all():
        raise SithError("activations contain NaN or infinite values; check the grounding run")
    return a, y.astype(bool)


def average_ranks(a: np.ndarray) -> np.ndarray:
    """1-based ranks of ``a`` with ties given their average rank."""
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_a)) + 1]
    ends = np.r_[starts[1:], a.size]
    avg = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    ranks = np.empty(a.size)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def grounded_auc(activations: object, labels: object) -> float:
    """ROC AUC of ``activations (n,)`` for boolean ``labels (n,)``, ties handled (module doc).

    Raises:
        SithError: different lengths, non-finite values, or no positives / no negatives.
    """
    a, y = _arrays(activations, labels)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise SithError(
            f"AUC needs images with and without the label ({n_pos} with, {n_neg} without); "
            "use more or other images"
        )
    ranks = average_ranks(a)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def top_precision(activations: object, labels: object, k: int = 20) -> float:
    """Share of positives among the ``k`` images of highest activation (ties: stable order)."""
    a, y = _arrays(activations, labels)
    if not 1 <= k <= a.size:
        raise SithError(f"k={k} is invalid for {a.size} images; pass 1 <= k <= the number of images")
    top = np.argsort(-a, kind="mergesort")[:k]
    return float(y[top].mean())
