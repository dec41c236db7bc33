"""Length-sorted text batches: the same encodings as pool-order batches, rows in pool order."""

from __future__ import annotations

from pathlib import Path

import torch

from sith.encode.dictfiles import encode_batch
from sith.encode.pools import Pool
from sith.encode.text import encode_pool, length_order
from sith.io import sha256_text
from sith.load import load_clip

WORDS = ["a dog", "cat", "a very long description of a red car parked by the sea at dusk", "tree",
         "ocean waves", "snow", "bread and butter on a wooden table", "lamp", "zebra", "é", "🙂 smile",
         "the quick brown fox jumps over the lazy dog", "x"]


def test_length_order_is_stable_and_by_bytes() -> None:
    order = length_order(["bbb", "a", "cc", "é", "d"])
    assert order == [1, 4, 2, 3, 0]  # "é" is 2 bytes, ties keep pool order


def test_sorted_batches_give_the_pool_order_encodings(tmp_path: Path) -> None:
    clip = load_clip()  # the organism: a causal text tower cut to each batch's longest text
    concepts = WORDS * 3
    pool = Pool("mixed", concepts, sha256_text(concepts), Path("mixed.txt"))
    new = encode_pool(clip, pool, data_dir=None, batch_size=4, progress=False).embeddings
    old = torch.cat([encode_batch(clip, concepts[i:i + 4], precision="fp32")
                     for i in range(0, len(concepts), 4)])
    assert new.shape == old.shape
    scale = float(old.abs().max())
    assert float((new - old).abs().max()) <= 1e-5 * scale
    assert torch.equal(new[:len(WORDS)], new[len(WORDS):2 * len(WORDS)])  # same string, same row
