"""Shared fixtures: small random weight views (no model download, no training) and the
built-in organism decomposed once per session (copied by the tests that write)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits

from sith.load.weights import LayerWeights, ModelInfo, VisionWeights, weights_fingerprint

#: Threads per test process (torch and numpy's BLAS alike; ``SITH_TEST_THREADS``, default 1).
THREADS = max(1, int(os.environ.get("SITH_TEST_THREADS", "1")))
torch.set_num_threads(THREADS)
# numpy's OpenBLAS otherwise starts a thread per core and, on a busy 2-core CI machine, spins:
# the seed reference's dense SVDs (tests/decompose/seed_reference.py) took 4x the CPU time.
threadpool_limits(THREADS)

#: Tests marked ``slow`` (registered in pyproject.toml): the browser tests and those that run the
#: full organism end to end (its evaluation, its zero-shot targets, grounding on its world).
#: CI runs them all; ``pytest -m "not slow"`` leaves them out while developing. Listed here, by
#: node id prefix, so that one place says which tests are slow.
SLOW = (
    "tests/explore/test_browser.py",
    "tests/explore/test_browser_seed.py",
    "tests/explore/test_browser_synthetic.py",
    "tests/explore/test_grounding.py::test_browser",
    "tests/organism_eval/test_evaluate_grounded.py::test_organism_eval_grounded_end_to_end",
    "tests/organism_eval/test_twin_test.py::test_default_eval_prints_twin_scores",
    "tests/organism/test_zeroshot.py::test_shipped_organism",
    "tests/ground/test_cli.py::test_world_on_the_organism",
)


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001 - pytest's hook
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)


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


@pytest.fixture(scope="session")
def organism_data(tmp_path_factory) -> Path:
    """A data dir with the built-in organism decomposed once per test session, the seed recipe
    (its last 4 layers; the image mean and the encoded pool included). Shared: a test that
    writes into a data dir takes :func:`organism_copy` (or :func:`copy_data` in a wider scope)."""
    import sith.api as api

    d = tmp_path_factory.mktemp("organism") / "data"
    api.decompose(data_dir=d, progress=False)
    return d


def copy_data(src: Path, dst: Path) -> Path:
    """A copy of the data dir ``src`` at ``dst`` (returned)."""
    shutil.copytree(src, dst)
    return dst


@pytest.fixture
def organism_copy(organism_data, tmp_path) -> Path:
    """This test's own copy of :func:`organism_data`."""
    return copy_data(organism_data, tmp_path / "data")
