"""Streaming per-component statistics and top-k images of both signs (memory bounded by k).

For one layer, every batch brings activations ``(B, H, r)`` and per-patch terms
``(B, H, r, P)``; :class:`LayerTracker` keeps, per component, the ``k`` images with the
largest activation (sign ``+``) and the ``k`` with the smallest (sign ``−``), with their
patch maps, and running count / mean / std / min / max. Memory: ``2·H·r·k·(P + 2)``
numbers, whatever the number of images.
"""

from __future__ import annotations

import torch
from torch import Tensor

SIGNS = ("positive", "negative")


class LayerTracker:
    """Top-k and running statistics of one layer's components.

    Attributes (after :meth:`update`):
        values: ``(2, H, r, k)`` activations of the kept images, sign 0 = largest first,
            sign 1 = most negative first; ``nan`` where fewer than k images were seen.
        index: ``(2, H, r, k)`` int64 global image numbers (−1 where empty).
        patches: ``(2, H, r, k, P)`` per-patch terms of the kept images (float16).
        count: images seen; ``total``, ``total_sq`` float64 ``(H, r)``; ``min``, ``max``.
        all_values: list of ``(B, H, r)`` batches when ``keep_all`` (not memory-bounded).
    """

    def __init__(self, n_heads: int, rank: int, n_patches: int, k: int, *, keep_all: bool = False):
        self.k = k
        shape = (2, n_heads, rank, k)
        self.values = torch.full(shape, float("nan"))
        self.index = torch.full(shape, -1, dtype=torch.int64)
        self.patches = torch.zeros(*shape, n_patches, dtype=torch.float16)
        self.count = 0
        self.total = torch.zeros(n_heads, rank, dtype=torch.float64)
        self.total_sq = torch.zeros(n_heads, rank, dtype=torch.float64)
        self.min = torch.full((n_heads, rank), float("inf"))
        self.max = torch.full((n_heads, rank), float("-inf"))
        self.keep_all = keep_all
        self.all_values: list[Tensor] = []

    def update(self, acts: Tensor, patches: Tensor, first_index: int) -> None:
        """Add a batch: ``acts (B, H, r)``, ``patches (B, H, r, P)``, images numbered from
        ``first_index``."""
        acts = acts.detach().float().cpu()
        patches = patches.detach().cpu().to(torch.float16)
        B = acts.shape[0]
        a64 = acts.double()
        self.count += B
        self.total += a64.sum(0)
        self.total_sq += (a64**2).sum(0)
        self.min = torch.minimum(self.min, acts.min(0).values)
        self.max = torch.maximum(self.max, acts.max(0).values)
        if self.keep_all:
            self.all_values.append(acts.clone())
        new_vals = acts.permute(1, 2, 0)  # (H, r, B)
        new_idx = torch.arange(first_index, first_index + B).expand_as(new_vals)
        new_pat = patches.permute(1, 2, 0, 3)  # (H, r, B, P)
        for s, sign in enumerate((1.0, -1.0)):
            vals = torch.cat([self.values[s], new_vals], dim=-1)
            idx = torch.cat([self.index[s], new_idx], dim=-1)
            pat = torch.cat([self.patches[s], new_pat], dim=-2)
            key = torch.nan_to_num(sign * vals, nan=float("-inf"))
            top = key.topk(min(self.k, key.shape[-1]), dim=-1).indices
            k = top.shape[-1]
            self.values[s, ..., :k] = vals.gather(-1, top)
            self.index[s, ..., :k] = idx.gather(-1, top)
            gidx = top[..., None].expand(*top.shape, pat.shape[-1])
            self.patches[s, ..., :k, :] = pat.gather(-2, gidx)

    def stats(self) -> dict[str, Tensor]:
        """``mean``, ``std`` (population), ``min``, ``max``, each ``(H, r)`` float32."""
        n = max(self.count, 1)
        mean = self.total / n
        var = (self.total_sq / n - mean**2).clamp_min(0.0)
        return {"mean": mean.float(), "std": var.sqrt().float(), "min": self.min, "max": self.max}

    def used_images(self) -> Tensor:
        """Sorted unique global image numbers currently kept by any component."""
        idx = self.index[self.index >= 0]
        return torch.unique(idx)
