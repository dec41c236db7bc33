"""Group accuracies for spurious-correlation benchmarks (Waterbirds: groups = (y, place))."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sith.errors import SithError


@dataclass(frozen=True)
class GroupAccuracy:
    """Per-group accuracy and its summaries.

    Attributes:
        per_group: accuracy of each group index ``0..G-1`` (NaN for an empty group).
        counts: samples per group.
        worst: the minimum over non-empty groups.
        mean: the unweighted mean over non-empty groups ("average group accuracy").
        overall: accuracy over all samples (weighted by group size).
    """

    per_group: tuple[float, ...]
    counts: tuple[int, ...]
    worst: float
    mean: float
    overall: float


def group_accuracy(
    pred: Tensor, labels: Tensor, groups: Tensor, n_groups: int | None = None
) -> GroupAccuracy:
    """Accuracy per group of ``(n,)`` predictions against ``(n,)`` labels.

    ``groups`` ``(n,)`` holds indices ``0..G-1`` (``G`` = ``n_groups`` or the largest index + 1)."""
    pred, labels, groups = (torch.as_tensor(x).long().flatten() for x in (pred, labels, groups))
    if not (pred.numel() == labels.numel() == groups.numel()) or pred.numel() == 0:
        raise SithError("group_accuracy needs predictions, labels and groups of the same non-zero length")
    if int(groups.min()) < 0:
        raise SithError("group indices must be ≥ 0")
    G = int(groups.max()) + 1 if n_groups is None else int(n_groups)
    correct = (pred == labels).double()
    counts = torch.bincount(groups, minlength=G)[:G]
    hits = torch.bincount(groups, weights=correct, minlength=G)[:G]
    acc = torch.where(counts > 0, hits / counts.clamp_min(1), torch.full_like(hits, float("nan")))
    present = acc[counts > 0]
    return GroupAccuracy(
        per_group=tuple(float(a) for a in acc),
        counts=tuple(int(c) for c in counts),
        worst=float(present.min()),
        mean=float(present.mean()),
        overall=float(correct.mean()),
    )
