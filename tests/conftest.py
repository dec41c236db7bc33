"""Shared fixtures: small random weight views (no model download, no training)."""

from __future__ import annotations

import os

import pytest
import torch

import sith.organism.plugin  # noqa: F401 - the built-in organism, registered as `sith` and sith.api do
from sith.load.weights import LayerWeights, ModelInfo, VisionWeights, weights_fingerprint

torch.set_num_threads(max(1, int(os.environ.get("SITH_TEST_THREADS", "1"))))


def random_weights(
    *, n_layers: int = 2, d: int = 32, n_heads: int = 4, e: int = 16, seed: int = 0
) -> VisionWeights:
    """A random VisionWeights with non-trivial LayerNorm gains (for pure-math tests)."""
    g = torch.Generator().manual_seed(seed)
    dh = d // n_heads

    def r(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    layers = tuple(
        LayerWeights(
            W_V=r(n_heads, d, dh, scale=d**-0.5),
            W_O=r(n_heads, dh, d, scale=dh**-0.5),
            b_V=r(n_heads, dh, scale=0.1),
            b_O=r(d, scale=0.1),
            ln1_weight=1.0 + r(d, scale=0.3),
            ln1_bias=r(d, scale=0.1),
        )
        for _ in range(n_layers)
    )
    proj = r(d, e, scale=d**-0.5)
    ln_post_weight, ln_post_bias = 1.0 + r(d, scale=0.3), r(d, scale=0.1)
    tensors = {"ln_post.weight": ln_post_weight, "ln_post.bias": ln_post_bias, "proj": proj}
    for i, lw in enumerate(layers):
        for name in ("W_V", "W_O", "b_V", "b_O", "ln1_weight", "ln1_bias"):
            tensors[f"layers.{i}.{name}"] = getattr(lw, name)
    info = ModelInfo("random", f"seed{seed}", "test", weights_fingerprint(tensors))
    return VisionWeights(layers, ln_post_weight, ln_post_bias, proj, info)


@pytest.fixture
def weights() -> VisionWeights:
    return random_weights()
