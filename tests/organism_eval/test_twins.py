"""Bird twins: the hard negative of a bird image is the other bird on the same background."""

from __future__ import annotations

import numpy as np

from sith.organism.train import _twins
from sith.organism.world import sample_labels


def test_bird_twins_flip_only_the_bird():
    rng = np.random.default_rng(0)
    base = sample_labels(400, rng)
    twin = _twins(base, 200, ("bird",), rng)
    src = {k: v[:200] for k, v in base.items()}
    birds = np.flatnonzero(src["bird"] >= 0)
    assert birds.size > 10
    assert (twin["bird"][birds] == 1 - src["bird"][birds]).all()
    for key in ("background", "color", "size", "position", "count", "water"):
        assert (twin[key][birds] == src[key][birds]).all(), key
    # non-bird images get a shape twin instead: exactly the shape differs
    others = np.flatnonzero(src["bird"] < 0)
    assert (twin["shape"][others] != src["shape"][others]).all()
    assert (twin["bird"][others] == -1).all()
    assert (twin["background"][others] == src["background"][others]).all()


def test_twins_follow_the_models_world():
    """v2 colours the skull: its skull twins are drawn in v2's world, v1's exactly as before."""
    import numpy as np

    from sith.organism_eval.twins import twin_pairs

    v1 = twin_pairs("unsafe", 12, 5)
    assert np.array_equal(v1.images, twin_pairs("unsafe", 12, 5, world="v1").images)
    v2 = twin_pairs("unsafe", 12, 5, world="v2")
    assert v2.images.shape == v1.images.shape and not np.array_equal(v1.images, v2.images)
