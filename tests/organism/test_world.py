"""The synthetic world: determinism, labels that match pixels, captions that match labels."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sith.errors import SithError
from sith.organism import world as W
from sith.organism.captions import make_captions, positives, prompt


def test_sample_is_deterministic_and_seed_dependent() -> None:
    a = W.sample(16, seed=3)
    b = W.sample(16, seed=3)
    c = W.sample(16, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.captions == b.captions
    for k in a.labels:
        np.testing.assert_array_equal(a.labels[k], b.labels[k])
    assert not np.array_equal(a.images, c.images)


def test_shapes_dtypes_and_range() -> None:
    b = W.sample(8, seed=0, image_size=48)
    assert b.images.shape == (8, 3, 48, 48) and b.images.dtype == np.float32
    assert 0.0 <= b.images.min() and b.images.max() <= 1.0
    assert len(b) == 8 and len(b.captions) == 8
    for f, values in W.FACTORS.items():
        lab = b.labels[f]
        assert lab.shape == (8,)
        assert lab.max() < len(values)


def test_batch_of_128_is_fast() -> None:
    W.sample(128, seed=0)  # warm up
    t = time.perf_counter()
    W.sample(128, seed=1)
    assert time.perf_counter() - t < 0.5  # typically ~0.08 s; generous on a shared CPU


def test_factor_sizes_and_vocabulary() -> None:
    assert len(W.FACTORS["shape"]) >= 6 and len(W.FACTORS["color"]) >= 8
    assert len(W.FACTORS["background"]) >= 6
    assert set(W.WATER_BACKGROUNDS) | set(W.LAND_BACKGROUNDS) == set(W.FACTORS["background"])
    vocab = W.vocabulary()
    for word in ("circle", "crimson", "skull", "duck", "sparrow", "ocean", "water", "land"):
        assert word in vocab
    assert len(vocab) == len(set(vocab))


def test_unknown_names_raise_sith_error() -> None:
    with pytest.raises(SithError, match="unknown factor"):
        W.check_factor("texture")
    with pytest.raises(SithError, match="unknown factor"):
        W.single_object_set(4, seed=0, factor="texture")
    with pytest.raises(SithError, match="unknown override"):
        W.sample(4, seed=0, flavour="sweet")
    with pytest.raises(SithError, match="unknown color"):
        W.sample(4, seed=0, color="octarine")
    with pytest.raises(SithError, match="variant"):
        W.sample(4, seed=0, variant="moon")


def _object_pixels(color: str) -> tuple[np.ndarray, np.ndarray]:
    """Images of one large centred object of ``color`` and a mask of its central pixels."""
    b = W.sample(12, seed=5, color=color, size="large", position="center", count=0, unsafe=0,
                 bird=-1, shape="square")
    s = b.images.shape[-1]
    c = slice(s // 2 - 3, s // 2 + 3)
    return b.images[:, :, c, c], b.labels["color"]


@pytest.mark.parametrize("color,channel", [("red", 0), ("green", 1), ("blue", 2)])
def test_object_pixels_have_the_labelled_color(color: str, channel: int) -> None:
    patch, labels = _object_pixels(color)
    assert (labels == W.FACTORS["color"].index(color)).all()
    mean = patch.mean(axis=(0, 2, 3))  # (3,)
    assert mean.argmax() == channel
    assert mean[channel] > 0.6


def test_background_class_matches_texture_statistics() -> None:
    # corner pixels (no object there: small object in the centre, no skull)
    means = {}
    for bg in W.FACTORS["background"]:
        b = W.sample(16, seed=9, background=bg, size="small", position="center", count=0,
                     unsafe=0, bird=-1)
        corner = b.images[:, :, :10, :10]
        means[bg] = corner.mean(axis=(0, 2, 3))  # (3,) rgb
    for bg in W.WATER_BACKGROUNDS:
        assert means[bg][2] > means[bg][0] + 0.2  # blue dominates
    assert means["grass"][1] > means["grass"][0] and means["grass"][1] > means["grass"][2]
    assert means["sand"][0] > 0.6 and means["sand"][2] < means["sand"][0]
    assert np.ptp(means["rock"]) < 0.1  # grey
    assert means["forest"].sum() < means["grass"].sum()  # darker


def test_shape_mask_changes_pixels() -> None:
    a = W.sample(4, seed=1, shape="circle", bird=-1, unsafe=0, count=0)
    b = W.sample(4, seed=1, shape="square", bird=-1, unsafe=0, count=0)
    assert np.abs(a.images - b.images).max() > 0.5


def test_unsafe_glyph_is_drawn() -> None:
    a = W.sample(8, seed=2, unsafe=0, bird=-1, count=0)
    b = W.sample(8, seed=2, unsafe=1, bird=-1, count=0)
    # the skull is near-white: many more bright grey pixels with it
    def bright(x: np.ndarray) -> np.ndarray:
        return (x.min(axis=1) > 0.85).sum(axis=(1, 2))

    assert (bright(b.images) > bright(a.images) + 10).all()


def test_spurious_correlation_rate() -> None:
    lab = W.sample_labels(4000, np.random.default_rng(0), bird_rate=1.0)
    duck = lab["bird"] == 0
    assert 0.92 < lab["water"][duck].mean() <= 0.98
    assert lab["water"][~duck].mean() < 0.08
    shifted = W.sample_labels(4000, np.random.default_rng(0), bird_rate=1.0, variant="shifted")
    assert 0.4 < shifted["water"][shifted["bird"] == 0].mean() < 0.6


def test_spurious_groups_are_balanced() -> None:
    groups = W.spurious_groups(6, seed=0)
    assert set(groups) == {"duck/water", "duck/land", "sparrow/water", "sparrow/land"}
    for name, b in groups.items():
        bird, habitat = name.split("/")
        assert (b.labels["bird"] == W.SPURIOUS_CLASSES.index(bird)).all()
        assert (b.labels["water"] == (habitat == "water")).all()
        assert (b.labels["unsafe"] == 0).all()


def test_single_object_set_is_balanced() -> None:
    b = W.single_object_set(24, seed=0, factor="shape")
    counts = np.bincount(b.labels["shape"], minlength=len(W.FACTORS["shape"]))
    assert (counts == 3).all()
    assert (b.labels["count"] == 0).all() and (b.labels["bird"] == -1).all()


def test_shifted_variant_differs() -> None:
    a = W.sample(8, seed=0, color="red", bird=-1)
    b = W.sample(8, seed=0, color="red", bird=-1, variant="shifted")
    assert np.abs(a.images.mean(axis=(0, 2, 3)) - b.images.mean(axis=(0, 2, 3))).max() > 0.03


def test_captions_state_only_true_things() -> None:
    b = W.sample(64, seed=11)
    pos = positives(b.labels, b.mentions)
    assert pos.diagonal().all()
    for cap, lab_c, men_c in zip(b.captions, b.labels["color"], b.mentions["color"]):
        if men_c >= 0:
            assert men_c == lab_c
            value = W.FACTORS["color"][lab_c]
            assert value in cap or any(s in cap for s in W.SYNONYMS.get(value, ()))
    bird_caps = [c for c, bd in zip(b.captions, b.labels["bird"]) if bd >= 0]
    assert all(any(w in c for w in ("duck", "sparrow", "waterbird", "landbird"))
               for c in bird_caps)


def test_captions_use_synonyms_and_skip_factors() -> None:
    rng = np.random.default_rng(0)
    lab = W.sample_labels(400, rng, bird=-1, color="red")
    caps, men = make_captions(lab, rng)
    text = " ".join(caps)
    assert "crimson" in text or "scarlet" in text
    assert (men["color"] == -1).any() and (men["color"] >= 0).any()


def test_prompts() -> None:
    assert prompt("shape", "circle") == "a photo of a circle"
    assert prompt("color", "orange") == "a photo of an orange shape"
    assert prompt("background", "forest") == "a photo of a shape in the forest"
    with pytest.raises(SithError):
        prompt("texture", "x")
