"""Model plugins as data (:mod:`sith.plugins`): found by entry points or sith's own declaration,
asked for by every registry that serves a part of an entry, whatever is asked first."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

import sith
from sith import plugins
from sith.encode.pools import builtin_pools, model_pool, read_pool
from sith.errors import SithError
from sith.ground.registry import image_source
from sith.load.clip import default_names
from sith.load.registry import loaders


@pytest.fixture
def fresh_plugins():
    """Discovery forgotten before and after the test (the next use finds the real ones)."""
    plugins.reset()
    yield
    plugins.reset()


def toy_entry(name: str = "toy-model", **kw) -> plugins.ModelEntry:
    return plugins.ModelEntry(name=name, pretrained="t1", load=lambda *a: ("loaded", *a), **kw)


@pytest.fixture
def installed_toy(tmp_path, monkeypatch, fresh_plugins):
    """A package ``toyplug`` installed with an entry point of group ``sith.models`` (a
    ``.dist-info`` directory on ``sys.path``, as pip would leave it)."""
    (tmp_path / "toyplug.py").write_text(textwrap.dedent('''
        from pathlib import Path
        from sith.plugins import ModelEntry
        POOL = Path(__file__).with_name("toy-pool.txt")
        ENTRY = ModelEntry(name="toy-model", pretrained="t1", load=lambda *a: ("toy", *a),
                           pools={"toy-pool": lambda: POOL}, default_pool="toy-pool",
                           image_sources={"toy-world": "toy images"}, order=5)
    '''))
    (tmp_path / "toy-pool.txt").write_text("alpha\nbeta\ngamma\n")
    info = tmp_path / "toyplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[sith.models]\ntoy = toyplug:ENTRY\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("toyplug", None)


def test_an_installed_entry_point_is_found_by_every_registry(installed_toy, tmp_path):
    assert "toyplug:ENTRY" in plugins.declared()
    assert model_pool("toy-model") == "toy-pool"  # the pool registry asked first
    assert image_source("toy-world") == "toy images"
    assert read_pool("toy-pool", data_dir=tmp_path).concepts == ["alpha", "beta", "gamma"]
    (toy,) = [lo for lo in loaders() if lo.claims("toy-model")]
    assert toy.load("toy-model", "t1", "cpu") == ("toy", "toy-model", "t1", "cpu")
    assert default_names(None, None) == ("sith-organism", "v1")  # sith's own, still found


def test_sith_declares_its_organism_as_its_pyproject_does():
    """The fallback list and the pyproject's entry points are one declaration."""
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    text = pyproject.read_text()
    section = text.split('[project.entry-points."sith.models"]', 1)[1].split("\n[", 1)[0]
    values = [line.split("=", 1)[1].strip().strip('"') for line in section.splitlines() if "=" in line]
    assert sorted(values) == sorted(sith.BUILTIN_MODELS)


@pytest.mark.parametrize("first", ["pool", "world", "default", "mean"])
def test_no_import_order_matters(fresh_plugins, first):
    """Whichever registry is asked first finds the organism's entry."""
    ask = {
        "pool": lambda: model_pool("sith-organism") == "organism",
        "world": lambda: image_source("world").caption({"color": 0}) != "",
        "default": lambda: default_names(None, None) == ("sith-organism", "v1"),
        "mean": lambda: plugins.model_entry("sith-organism").image_mean is not None,
    }
    assert ask[first]()
    assert all(f() for f in ask.values())


def test_a_broken_plugin_is_skipped_with_a_warning(fresh_plugins, monkeypatch, caplog):
    monkeypatch.setattr(sith, "BUILTIN_MODELS", (*sith.BUILTIN_MODELS, "no_such_module:ENTRY"))
    assert plugins.model_entry("sith-organism") is not None
    assert "ignoring the model plugin no_such_module:ENTRY" in caplog.text


def test_registered_and_used_entries(fresh_plugins, tmp_path):
    plugins.use([toy_entry(default=True, pools={"p": lambda: tmp_path / "p.txt"})])
    assert default_names(None, None) == ("toy-model", "t1")
    assert "p" in builtin_pools() and model_pool("sith-organism") is None
    plugins.register(toy_entry("other"))
    assert {e.name for e in plugins.model_entries()} == {"toy-model", "other"}
    with pytest.raises(SithError, match="not a sith.plugins.ModelEntry"):
        plugins.resolve("sith:__version__")
