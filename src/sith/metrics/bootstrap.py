"""Seeded percentile-bootstrap confidence intervals (optionally stratified, e.g. by group)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from sith.errors import SithError


@dataclass(frozen=True)
class Interval:
    """A statistic on the full sample and its bootstrap interval ``[low, high]`` at ``level``."""

    estimate: float
    low: float
    high: float
    level: float
    n_boot: int

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


def resample(n: int, strata: Tensor | None, gen: torch.Generator) -> Tensor:
    """One bootstrap draw of ``n`` indices (within each stratum when ``strata`` is given)."""
    if strata is None:
        return torch.randint(0, n, (n,), generator=gen)
    parts = []
    for g in torch.unique(strata):
        members = torch.nonzero(strata == g).flatten()
        parts.append(members[torch.randint(0, len(members), (len(members),), generator=gen)])
    return torch.cat(parts)


def bootstrap_ci(
    statistic: Callable[[Tensor], float],
    n: int,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    strata: Tensor | None = None,
) -> Interval:
    """Percentile interval of ``statistic(indices)`` over ``n_boot`` resamples of ``range(n)``.

    ``statistic`` receives an index tensor and computes the metric on those samples; for a
    before/after difference compute both on the same indices (a paired bootstrap).
    ``strata`` ``(n,)`` resamples within each stratum, keeping group sizes fixed (use it for
    worst-group accuracy). Deterministic for a given ``seed``.
    """
    if n < 1 or n_boot < 1 or not 0 < level < 1:
        raise SithError("bootstrap needs n ≥ 1, n_boot ≥ 1 and 0 < level < 1")
    if strata is not None:
        strata = torch.as_tensor(strata).flatten()
        if strata.numel() != n:
            raise SithError(f"strata has {strata.numel()} entries for {n} samples")
    gen = torch.Generator().manual_seed(int(seed))
    stats = torch.tensor(
        [float(statistic(resample(n, strata, gen))) for _ in range(n_boot)], dtype=torch.float64
    )
    alpha = (1 - level) / 2
    low, high = torch.quantile(stats, torch.tensor([alpha, 1 - alpha], dtype=torch.float64)).tolist()
    return Interval(float(statistic(torch.arange(n))), low, high, level, n_boot)
