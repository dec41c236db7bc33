"""PNG grids need no matplotlib: the colour map is ColorBrewer's RdBu reversed, in numpy."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from sith.cli import main
from sith.ground.grids import colormap
from sith.organism.plugin import caption


def test_colormap_ends_middle_and_shape() -> None:
    out = colormap(np.array([[0.0, 0.5, 1.0]]))
    assert out.shape == (1, 3, 3)
    np.testing.assert_allclose(out[0, 0], np.array([0x05, 0x30, 0x61]) / 255)  # blue: lowers
    np.testing.assert_allclose(out[0, 1], np.array([0xF7, 0xF7, 0xF7]) / 255)  # white: nothing
    np.testing.assert_allclose(out[0, 2], np.array([0x67, 0x00, 0x1F]) / 255)  # red: raises
    assert np.array_equal(colormap(np.array([-3.0, 7.0])), colormap(np.array([0.0, 1.0])))


def test_colormap_matches_matplotlib_when_installed() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    x = np.linspace(0, 1, 513)
    ref = matplotlib.colormaps["RdBu_r"](x)[:, :3]
    assert np.abs(colormap(x) - ref).max() < 0.015  # matplotlib's 256-entry table


def test_sith_ground_draws_grids_without_matplotlib(tmp_path, capsys, monkeypatch) -> None:
    """matplotlib missing (a plain `pip install -e .`): grids are still drawn, with captions."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    with pytest.raises(ImportError):
        import matplotlib  # noqa: F401
    out = tmp_path / "g"
    code = main(["ground", "--world", "12", "--layers", "5", "--top-k", "3", "--grid-components", "1",
                 "--grid-images", "2", "--output-dir", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    pngs = sorted((out / "grids").glob("*.png"))
    assert len(pngs) == 8
    with Image.open(pngs[0]) as img:
        pixels = np.asarray(img.convert("RGB"))
    assert pixels.std() > 0  # images and heatmaps were drawn, not a blank canvas


def test_world_caption() -> None:
    from sith.organism.world import FACTORS

    words = caption({"color": 0, "shape": 0, "size": 0, "background": 0}).split()
    assert words == [FACTORS[k][0] for k in ("color", "shape", "size", "background")]  # in full
    bird = caption({"color": 0, "shape": -1, "bird": 0, "size": 1, "background": 0, "unsafe": 1})
    assert "duck" in bird and bird.endswith("skull")
