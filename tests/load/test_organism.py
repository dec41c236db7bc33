"""The built-in organism through the generic loader, found as a model plugin
(:data:`sith.organism.plugin.ENTRY`, :mod:`sith.plugins`) without importing it first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sith.errors import SithError
from sith.load import default_model, load_clip, verify

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def organism():
    pytest.importorskip("sith.organism.model", reason="sith.organism.model not written yet")
    try:
        return load_clip()
    except SithError as exc:
        pytest.skip(f"organism assets not available yet: {exc}")


def test_defaults() -> None:
    assert default_model() == ("sith-organism", "v1")


def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def test_the_core_works_without_the_plugin_and_names_the_fix() -> None:
    """Without model plugins the core knows no organism: no default model, no organism pool
    (one-line SithErrors), and loading a named model never imports the organism."""
    out = _python(
        "import sys\n"
        "import sith.plugins\n"
        "sith.plugins.use([])\n"
        "from sith.errors import SithError\n"
        "from sith.load import load_clip\n"
        "from sith.encode.pools import read_pool\n"
        "for f in (lambda: load_clip(), lambda: read_pool('organism'), lambda: load_clip('sith-organism')):\n"
        "    try:\n"
        "        f()\n"
        "    except SithError as e:\n"
        "        print('ERR', e)\n"
        "print('ORG', any(m.startswith('sith.organism') for m in sys.modules))\n"
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("ERR no model named and no default model registered")
    assert lines[1].startswith("ERR dictionary 'organism' is neither a pool name")
    assert lines[2].startswith("ERR unknown model 'sith-organism'")
    assert lines[-1] == "ORG False"


def test_a_fresh_interpreter_finds_the_organism_without_importing_it() -> None:
    """No import order matters: the plugin is found (entry point or sith's own declaration)
    by the registry asked first: ``load_clip()`` without a name loads it; its pool, world and
    image-mean source come from the same entry (tests/test_plugins.py asks each registry
    first)."""
    out = _python(
        "from sith.load import load_clip\n"
        "print(load_clip().info.model_name)\n"
        "from sith.load.clip import default_names\n"
        "from sith.pipeline.workspace import model_default_dictionary\n"
        "from sith.ground.registry import image_source\n"
        "from sith.plugins import model_entry\n"
        "print(default_names(None, None), default_names('ViT-B-32', None), "
        "default_names('sith-organism', None), default_names('sith-organism', 'none'))\n"
        "print(model_default_dictionary('sith-organism'), model_default_dictionary('ViT-B-32'))\n"
        "images, labels = image_source().sample(3, [0, 0], 'train')\n"
        "print(images.shape[0], sorted(labels)[:3])\n"
        "print(model_entry('sith-organism').image_mean is not None, model_entry('ViT-B-32'))\n"
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "sith-organism"
    assert lines[1] == ("('sith-organism', 'v1') ('ViT-B-32', '') ('sith-organism', 'v1') "
                        "('sith-organism', 'none')")
    assert lines[2] == "organism conceptnet"
    assert lines[3].startswith("3 [")
    assert lines[4] == "True None"


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
