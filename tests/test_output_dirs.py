"""Commands write under the data dir (or --output-dir), never into the repository's tracked
files or the installed package, with folders that follow the umask; plots are optional."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import sith.organism.model as organism_model
from sith.cli import build_parser, main
from sith.cli.experiment import default_output_dir
from sith.experiments.results import bar_plot, write_results


@pytest.mark.parametrize("name", ["spurious", "fidelity"])
def test_experiment_output_defaults_to_the_data_dir(tmp_path: Path, name: str) -> None:
    args = build_parser().parse_args(["experiment", name, "--data-dir", str(tmp_path / "d")])
    out = default_output_dir(args)
    assert out == tmp_path / "d" / "models" / "sith-organism" / "v1" / "experiments" / name
    args = build_parser().parse_args(["experiment", name, "--model-name", "ViT-B-32",
                                      "--data-dir", str(tmp_path)])
    assert default_output_dir(args) == tmp_path / "models" / "ViT-B-32" / "none" / "experiments" / name


def _rows() -> list[dict]:
    metric = {"worst": {"value": 0.7}}
    return [{"kind": "original", "condition": "original", "n_components": 0, "metrics": metric},
            {"kind": "random", "condition": "random", "n_components": 3, "metrics": metric}]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_results_folders_follow_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        out = write_results(tmp_path / "new" / "spurious", "spurious", {"x": 1}, csv_body="a\n",
                            markdown="# t\n", plot=None)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((out / "spurious.json").stat().st_mode) == 0o666 & ~umask


def test_results_draw_the_png(tmp_path) -> None:
    """matplotlib is a base dependency: the PNG is always drawn."""
    out = write_results(tmp_path / "r", "spurious", {"x": 1}, csv_body="a\n", markdown="# t\n",
                        plot=lambda p: bar_plot(_rows(), ["worst"], "t", p))
    assert (out / "spurious.png").stat().st_size > 0


def test_organism_export_defaults_to_the_data_dir(tmp_path, monkeypatch, capsys) -> None:
    seen = {}

    def fake_export(checkpoint, *, out_dir, tag, measured_by):  # noqa: ANN001, ANN202
        seen.update(out_dir=Path(out_dir), tag=tag)
        return Path(out_dir) / f"organism-{tag}.json"

    monkeypatch.setattr(organism_model, "export_organism", fake_export)
    assert main(["organism", "export", str(tmp_path / "ck.pt"), "--data-dir", str(tmp_path / "d")]) == 0
    assert seen == {"out_dir": tmp_path / "d" / "organisms", "tag": "v1"}
    assert not str(seen["out_dir"]).startswith(str(organism_model.ASSET_DIR))
    assert main(["organism", "export", str(tmp_path / "ck.pt"), "--output-dir", str(tmp_path / "o")]) == 0
    assert seen["out_dir"] == tmp_path / "o"


def test_export_organism_needs_an_output_folder() -> None:
    with pytest.raises(TypeError, match="out_dir"):
        organism_model.export_organism("ck.pt")  # type: ignore[call-arg]
