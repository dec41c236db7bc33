"""Cross-modal retrieval recall@K (text→image and image→text) for paired data."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from sith.errors import SithError

DEFAULT_KS = (1, 5, 10)


def unit(x: Tensor) -> Tensor:
    x = torch.as_tensor(x).float()
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def correct_ranks(sim: Tensor, correct: Tensor) -> Tensor:
    """``(q,)`` 0-based rank of each query's correct item in ``sim`` ``(q, n)``; ties count
    against the query (rank = items scoring ≥ the correct one, minus itself)."""
    sim = torch.as_tensor(sim).float()
    correct = torch.as_tensor(correct).long()
    if correct.numel() != sim.shape[0] or int(correct.max()) >= sim.shape[1] or int(correct.min()) < 0:
        raise SithError("each query needs one correct item index within the gallery")
    target = sim.gather(1, correct[:, None])
    return (sim >= target).sum(dim=1) - 1


def recall_at_k(sim: Tensor, correct: Tensor, ks: Sequence[int] = DEFAULT_KS) -> dict[int, float]:
    """Fraction of queries whose correct item ranks in the top ``k``, for each ``k``."""
    ranks = correct_ranks(sim, correct)
    return {int(k): int((ranks < k).sum()) / len(ranks) for k in ks}


def retrieval_recalls(
    text_emb: Tensor, image_emb: Tensor, ks: Sequence[int] = DEFAULT_KS
) -> dict[str, dict[int, float]]:
    """Paired data (text ``i`` ↔ image ``i``): ``{"text_to_image": {k: R@k}, "image_to_text": {...}}``.

    Args:
        text_emb: ``(n, e)``; image_emb: ``(n, e)``; cosine similarity after L2 normalisation."""
    t, i = unit(text_emb), unit(image_emb)
    if t.shape != i.shape:
        raise SithError(f"paired retrieval needs as many texts as images; got {t.shape[0]} and {i.shape[0]}")
    sim = t @ i.T
    idx = torch.arange(sim.shape[0])
    return {"text_to_image": recall_at_k(sim, idx, ks), "image_to_text": recall_at_k(sim.T, idx, ks)}
