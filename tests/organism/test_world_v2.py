"""The v2 world: v1 draws unchanged, coloured skulls, distractor words, exact twins of every factor."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from sith.errors import SithError
from sith.organism import world as W
from sith.organism.batches import render_pairs, twin_labels, v2_batch
from sith.organism.captions import positives
from sith.organism.train import make_batch
from sith.organism.trainconfig import V2_TWINS, TrainConfig
from sith.organism.vocab import DISTRACTOR_WORDS, SKULL_COLORS


def _digest(captions: list[str], *tables: dict[str, np.ndarray]) -> str:
    m = hashlib.sha256("|".join(captions).encode())
    for table in tables:
        for k in sorted(table):
            m.update(k.encode())
            m.update(np.asarray(table[k]).astype("<i8").tobytes())
    return m.hexdigest()[:16]


def test_v1_draws_are_those_of_the_shipped_generator() -> None:
    # digests of the generator before the v2 world existed (captions, labels, mentions exact;
    # images to a tolerance that survives another CPU's float rounding)
    b = W.sample(6, seed=5)
    assert _digest(b.captions, b.labels, b.mentions) == "27e21de225ea0d1b"
    np.testing.assert_allclose(b.images.reshape(6, -1).sum(1),
                               [5223.408, 4995.383, 4127.777, 6326.299, 3792.494, 4015.158], atol=0.05)
    assert "skull_color" not in b.labels
    images, captions, pos = make_batch(TrainConfig(image_size=32, batch_size=16), 3)
    m = hashlib.sha256("|".join(captions).encode())
    m.update(pos.tobytes())
    assert m.hexdigest()[:16] == "8960ae27265e4106"
    assert abs(float(images[0].sum()) - 1797.58) < 0.05


def test_v2_skull_is_coloured_and_labelled() -> None:
    b = W.sample(40, seed=1, world="v2", unsafe=1, skull_color=SKULL_COLORS.index("red"))
    assert (b.labels["skull_color"] == SKULL_COLORS.index("red")).all()
    img = b.images.transpose(0, 2, 3, 1)
    red = (np.abs(img - np.array([0.90, 0.10, 0.10])).max(-1) < 0.08)  # the skull's face
    corners = red[:, :8, :8].sum((1, 2)) + red[:, :8, -8:].sum((1, 2)) + red[:, -8:, :8].sum((1, 2)) \
        + red[:, -8:, -8:].sum((1, 2))
    assert (corners > 5).mean() > 0.9
    with pytest.raises(SithError, match="unknown override"):
        W.sample(2, seed=0, skull_color=1)  # v1 has no skull colours
    with pytest.raises(SithError, match="unknown world"):
        W.sample(2, seed=0, world="v9")


def test_v2_captions_carry_distractor_words_that_state_nothing() -> None:
    b = W.sample(200, seed=2, world="v2")
    last = [c.rsplit(", ", 1)[-1] if ", " in c else "" for c in b.captions]
    share = np.mean([w in DISTRACTOR_WORDS for w in last])
    assert 0.35 < share < 0.65
    assert len(set(last) & set(DISTRACTOR_WORDS)) > 40
    v1 = W.sample(200, seed=2)
    assert not any(", " in c for c in v1.captions)
    assert positives(b.labels, b.mentions).diagonal().all()  # a distractor contradicts nothing


def _pairs(h: int = 200):
    rng = np.random.default_rng(0)
    base = W.sample_labels(h + 20, rng, world="v2")
    twin, which = twin_labels(base, h, V2_TWINS, rng)
    return {k: v[:h] for k, v in base.items()}, twin, which


def test_v2_twins_differ_only_in_the_named_factor() -> None:
    base, twin, which = _pairs()
    assert set(which) == set(V2_TWINS)
    keys = ("shape", "color", "size", "position", "background", "count", "bird", "unsafe", "skull_color")
    for i, f in enumerate(which):
        changed = {k for k in keys if base[k][i] != twin[k][i]}
        assert changed == {f}, (f, changed)
    birds = which == "bird"
    assert (base["bird"][birds] >= 0).all() and (base["background"][birds] == twin["background"][birds]).all()
    shapes = which == "shape"
    assert (base["bird"][shapes] < 0).all()


def test_v2_twins_render_exactly_apart_from_the_factor() -> None:
    base, twin, which = _pairs(60)
    a, b = render_pairs(base, twin, np.random.default_rng(1), 32)
    same, again = render_pairs(base, {k: v.copy() for k, v in base.items()}, np.random.default_rng(1), 32)
    np.testing.assert_array_equal(same, again)  # a twin that switches nothing is the same image
    diff = np.abs(a - b).max(1) > 1e-6  # (h, S, S) pixels that changed
    moved = which == "background"
    assert diff[moved].mean() > 0.5  # the whole background changes
    assert diff[~moved].mean() < 0.15  # only the object or the skull changes
    assert diff[~moved].any((1, 2)).all()


def test_v2_batch_is_deterministic_and_names_its_pairs() -> None:
    c = TrainConfig(image_size=32, batch_size=32, world="v2", twin_factors=V2_TWINS)
    one, two = v2_batch(c, 4), v2_batch(c, 4)
    np.testing.assert_array_equal(one.images, two.images)
    assert one.captions == two.captions and (one.pair == two.pair).all()
    h = 12
    assert (one.pair[:h] == one.pair[-h:]).all() and (one.pair[h:-h] == "").all()
    assert one.pos.diagonal().all() and one.images.shape == (32, 3, 32, 32)


def test_v2_pool_asset_is_the_v1_pool_plus_the_learned_distractors():
    """``pool-v2.txt`` = ``v2_pool(pool.txt)`` (regenerate: write ``v2_pool`` of pool.txt's lines)."""
    from sith.organism.model import ASSET_DIR
    from sith.organism.vocab import DISTRACTOR_WORDS, v2_pool

    v1 = (ASSET_DIR / "pool.txt").read_text().splitlines()
    v2 = (ASSET_DIR / "pool-v2.txt").read_text().splitlines()
    assert v2 == v2_pool(v1)
    assert set(DISTRACTOR_WORDS) <= set(v2) and v2[: len(v1)] == v1
