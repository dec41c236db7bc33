"""The built-in organism through the generic loader (skipped until its assets are shipped)."""

from __future__ import annotations

import pytest

from sith.errors import SithError
from sith.load import DEFAULT_MODEL, DEFAULT_PRETRAINED, load_clip, verify


@pytest.fixture(scope="module")
def organism():
    pytest.importorskip("sith.organism.model", reason="sith.organism.model not written yet")
    try:
        return load_clip()
    except SithError as exc:
        pytest.skip(f"organism assets not available yet: {exc}")


def test_defaults() -> None:
    assert (DEFAULT_MODEL, DEFAULT_PRETRAINED) == ("sith-organism", "v1")


def test_unknown_organism_tag() -> None:
    with pytest.raises(SithError, match="valid tags: v1"):
        load_clip("sith-organism", "v9")


def test_organism_loads_and_verifies(organism) -> None:
    from sith.organism.model import organism_config

    cfg = organism_config()["sith"]
    assert organism.info.model_name == "sith-organism" and organism.info.pretrained == "v1"
    assert organism.image_size == cfg["image_size"]
    assert organism.image_mean == tuple(float(m) for m in cfg["image_mean"])
    assert max(verify(organism)) < 1e-4
    emb = organism.encode_text(["a red circle", "a blue square"])
    assert emb.shape == (2, organism.weights.d_embed)


def test_organism_random_weights_differ(organism) -> None:
    random = load_clip("sith-organism", "none")
    assert random.info.fingerprint != organism.info.fingerprint
    assert random.weights.d_model == organism.weights.d_model
