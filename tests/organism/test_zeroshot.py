"""Zero-shot evaluation: the machinery on hand-made encoders, then the shipped organism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sith.errors import SithError
from sith.organism import zeroshot as Z
from sith.organism.world import FACTORS


def _bird_text(prompts: list[str]) -> torch.Tensor:
    rows = [[1.0, 0.0] if "duck" in p else [0.0, 1.0] if "sparrow" in p else [0.5, 0.5]
            for p in prompts]
    return torch.tensor(rows)


def _background_only(images: torch.Tensor) -> torch.Tensor:
    """Says "duck" on blue (water) images and "sparrow" elsewhere: the spurious shortcut."""
    x = images.numpy()
    blue = x[:, 2].mean(axis=(1, 2)) - x[:, 0].mean(axis=(1, 2)) > 0.15
    return torch.tensor(np.stack([blue, ~blue], axis=1).astype(np.float32))


def test_spurious_groups_expose_a_background_shortcut() -> None:
    enc = Z.Encoders(_bird_text, _background_only)
    res = Z.spurious_group_accuracy(enc, n_per_group=12, seed=1)
    assert res["duck/water"] == 1.0 and res["sparrow/land"] == 1.0
    assert res["duck/land"] == 0.0 and res["sparrow/water"] == 0.0
    assert res["worst_group"] == 0.0 and res["average"] == pytest.approx(0.5)


def _skull_text(prompts: list[str]) -> torch.Tensor:
    return torch.tensor([[1.0, 0.0] if "skull" in p else [0.0, 1.0] for p in prompts])


def _skull_detector(images: torch.Tensor) -> torch.Tensor:
    """Counts near-white pixels in the four corners, where the skull is drawn."""
    x = images.numpy().min(axis=1)  # (B, S, S)
    k = x.shape[-1] // 5
    corners = [x[:, :k, :k], x[:, :k, -k:], x[:, -k:, :k], x[:, -k:, -k:]]
    white = sum((c > 0.85).sum(axis=(1, 2)) for c in corners)
    has = white > 8
    return torch.tensor(np.stack([has, ~has], axis=1).astype(np.float32) + 1e-3)


def test_unsafe_score_of_a_pixel_oracle_and_a_blind_model() -> None:
    oracle = Z.unsafe_score(Z.Encoders(_skull_text, _skull_detector), n=40, seed=2)
    assert oracle["auc"] > 0.95 and oracle["accuracy"] > 0.9

    def blind(images: torch.Tensor) -> torch.Tensor:
        return torch.ones(len(images), 2)

    none = Z.unsafe_score(Z.Encoders(_skull_text, blind), n=40, seed=2)
    assert none["auc"] == pytest.approx(0.5)


def test_factor_accuracy_of_a_random_model_is_near_chance() -> None:
    torch.manual_seed(0)
    text = torch.nn.Embedding(64, 8)

    def enc_text(prompts: list[str]) -> torch.Tensor:
        return text(torch.tensor([hash(p) % 64 for p in prompts])).detach()

    def enc_image(images: torch.Tensor) -> torch.Tensor:
        return torch.randn(len(images), 8)

    enc = Z.Encoders(enc_text, enc_image)
    acc = Z.factor_accuracy(enc, "shape", n=80, seed=3)
    assert 0.0 <= acc < 0.4
    fine = Z.fine_grained_accuracy(enc, n=40, seed=3)
    assert set(fine) == {"color:orange/amber"}
    with pytest.raises(SithError, match="unknown factor"):
        Z.factor_accuracy(enc, "texture")
    assert len(Z.factor_prompts("color")) == len(FACTORS["color"])


# ------------------------------------------------------------------ the shipped organism
@pytest.fixture(scope="module")
def organism() -> Z.Encoders:
    from sith.organism.model import organism_encoders

    torch.set_num_threads(1)
    return organism_encoders()


@pytest.mark.parametrize("factor", ["color", "shape", "background", "size"])
def test_shipped_organism_meets_zero_shot_targets(organism: Z.Encoders, factor: str) -> None:
    # a fresh sample (seed differs from the card's) re-measured here
    acc = Z.factor_accuracy(organism, factor, n=200, seed=4242)
    assert acc >= 0.87, f"{factor} zero-shot accuracy {acc:.3f}"


def test_shipped_organism_has_a_spurious_gap_and_sees_the_skull(organism: Z.Encoders) -> None:
    spur = Z.spurious_group_accuracy(organism, n_per_group=100, seed=4242)
    assert spur["worst_group"] < spur["average"] - 0.05
    assert Z.unsafe_score(organism, n=200, seed=4242)["auc"] > 0.8
