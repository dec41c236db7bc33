"""The image-embedding cache is read by its format tag (issue 23)."""

from __future__ import annotations

import torch

from sith.experiments.data import EMBEDDINGS_FORMAT, is_embedding_cache


def test_embedding_cache_is_read_by_its_tag() -> None:
    cache = {"embeddings": torch.zeros(3, 4), "n": 3, "fingerprint": "f", "dataset": "d", "split": "s"}
    assert is_embedding_cache({"format": EMBEDDINGS_FORMAT, **cache})
    assert is_embedding_cache(cache)  # written before the tag: the same keys, still read
    assert not is_embedding_cache({"format": "sith-image-embeddings/2", **cache})  # recomputed instead
    assert not is_embedding_cache({"format": EMBEDDINGS_FORMAT, "n": 3})
    assert not is_embedding_cache(torch.zeros(3, 4))
