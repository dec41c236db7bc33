"""Streaming top-k of both signs equals the top-k over all images at once."""

from __future__ import annotations

import torch

from sith.ground.topk import LayerTracker


def test_streaming_matches_batch():
    g = torch.Generator().manual_seed(0)
    acts = torch.randn(103, 3, 5, generator=g)
    patches = torch.randn(103, 3, 5, 4, generator=g)
    tr = LayerTracker(3, 5, 4, k=7, keep_all=True)
    for start in range(0, 103, 10):
        tr.update(acts[start : start + 10], patches[start : start + 10], start)
    a = acts.permute(1, 2, 0)
    top = a.topk(7, dim=-1)
    bottom = (-a).topk(7, dim=-1)
    torch.testing.assert_close(tr.values[0], top.values)
    torch.testing.assert_close(tr.index[0], top.indices)
    torch.testing.assert_close(tr.values[1], -bottom.values)
    torch.testing.assert_close(tr.index[1], bottom.indices)
    want = patches.permute(1, 2, 0, 3).gather(2, top.indices[..., None].expand(3, 5, 7, 4))
    torch.testing.assert_close(tr.patches[0].float(), want, atol=1e-2, rtol=1e-2)
    st = tr.stats()
    torch.testing.assert_close(st["mean"], acts.mean(0), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(st["std"], acts.std(0, unbiased=False), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(st["max"], acts.max(0).values)
    assert torch.cat(tr.all_values).shape == (103, 3, 5)


def test_fewer_images_than_k_leaves_empty_slots():
    tr = LayerTracker(1, 1, 2, k=5)
    tr.update(torch.tensor([[[1.0]], [[3.0]]]), torch.zeros(2, 1, 1, 2), 0)
    assert tr.index[0, 0, 0].tolist() == [1, 0, -1, -1, -1]
    assert tr.index[1, 0, 0].tolist() == [0, 1, -1, -1, -1]
    assert torch.isnan(tr.values[0, 0, 0, 2:]).all()
