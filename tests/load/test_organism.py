"""The built-in organism through the generic loader (skipped until its assets are shipped)."""

from __future__ import annotations

import pytest
import torch

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
    torch.manual_seed(123)  # issue 26: seed 0 whatever the global RNG state, and it is left alone
    state = torch.random.get_rng_state()
    again = load_clip("sith-organism", "none")
    assert again.info.fingerprint == random.info.fingerprint  # reproducible, as README says
    assert torch.equal(torch.random.get_rng_state(), state)


def test_organism_dispatch_with_stand_in(monkeypatch, tmp_path) -> None:
    """The organism path (tag, config mean/std, tokenizer, checkpoints) on a tiny model."""
    model_mod = pytest.importorskip("sith.organism.model")
    from tests.load.tiny import tiny_open_clip

    calls = []

    def build(pretrained: bool = True, tag: str = "v1"):
        calls.append(pretrained)
        return tiny_open_clip(seed=1 if pretrained else 2)

    cfg = {
        "sith": {"image_size": 32, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]}
    }
    monkeypatch.setattr(model_mod, "build_organism", build)
    monkeypatch.setattr(model_mod, "organism_config", lambda tag="v1": cfg)
    clip = load_clip()
    assert calls == [True] and clip.info.pretrained == "v1" and clip.info.source == "open_clip"
    assert clip.image_mean == (0.5, 0.5, 0.5) and clip.image_std == (0.25, 0.25, 0.25)
    assert clip.encode_text(["a red circle"]).shape == (1, 32)
    assert max(verify(clip)) < 1e-5
    random = load_clip("sith-organism", "")
    assert calls[-1] is False and random.info.fingerprint != clip.info.fingerprint
    from sith.load import save_model

    path = save_model(clip, tmp_path / "organism-edit.safetensors")
    again = load_clip("sith-organism", str(path))
    assert calls[-1] is False and again.info.fingerprint == clip.info.fingerprint


def test_exported_organism_is_built_from_its_own_config(organism, tmp_path) -> None:
    """The head count is invisible in a state dict: an exported organism's json decides it,
    while a bare checkpoint of the same weights gets the shipped architecture."""
    import json
    import shutil

    from sith.organism.model import asset_path, config_file, organism_config, weights_file

    cfg = organism_config()
    cfg["vision_cfg"]["head_width"] = cfg["vision_cfg"]["width"] // 16  # 16 heads, same shapes
    exported = tmp_path / weights_file("v9")
    shutil.copy(asset_path(weights_file()), exported)
    exported.with_suffix(".json").write_text(json.dumps(cfg))
    assert load_clip("sith-organism", str(exported)).weights.n_heads == 16
    bare = tmp_path / "bare.safetensors"
    shutil.copy(asset_path(weights_file()), bare)
    assert load_clip("sith-organism", str(bare)).weights.n_heads == organism.weights.n_heads == 8
    assert config_file("v9") == exported.with_suffix(".json").name
