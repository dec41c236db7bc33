"""Edits judged by what they remove: margins, threshold accuracy, drops over seeds."""

from __future__ import annotations

import numpy as np
import pytest

from sith.errors import SithError
from sith.experiments.removal import (
    FactorMargins,
    format_removal,
    images_of,
    margins,
    removal_table,
    request_values,
)
from sith.experiments.results import from_seeds
from sith.organism.model import asset_path

needs_organism = pytest.mark.skipif(not asset_path("organism-v1.json").exists(),
                                    reason="organism not shipped")


def test_request_values_name_one_factor():
    assert request_values(("skull",)) == ("unsafe", [1])
    assert request_values(("water", "ocean")) == ("background", [0, 1])
    assert request_values(("crimson",)) == ("color", [0])
    with pytest.raises(SithError, match="one world factor"):
        request_values(("red", "water"))
    with pytest.raises(SithError, match="one world factor"):
        request_values(("table",))


def test_margins_are_true_minus_best_other():
    class Enc:  # cosines are the image rows themselves (unit text and images)
        def encode_text(self, prompts):
            import torch
            return torch.eye(3)[: len(prompts)]

        def encode_image(self, images):
            return images.reshape(len(images), -1)[:, :3]

    img = np.array([[0.8, 0.6, 0.0], [0.6, 0.8, 0.0]], dtype=np.float32)
    m = margins(Enc(), img, np.array([0, 0]), ["a", "b", "c"])
    assert m == pytest.approx([0.2, -0.2], abs=1e-6)


def test_removal_table_drops_per_seed():
    rows = [{"condition": "original", "metrics": {"margin:request": from_seeds([0.2, 0.1]),
                                                  "acc:color": from_seeds([0.9, 0.8]),
                                                  "margin:color": from_seeds([0.4, 0.4])}},
            {"condition": "judged", "metrics": {"margin:request": from_seeds([0.05, 0.05]),
                                                "acc:color": from_seeds([0.9, 0.7]),
                                                "margin:color": from_seeds([0.3, 0.2])}}]
    t = removal_table(rows, "color")["judged"]
    assert t["factor_removed_share"] == pytest.approx({"mean": 0.375, "min": 0.25, "max": 0.5})
    assert t["margin:request"] == pytest.approx({"mean": 0.1, "min": 0.05, "max": 0.15})
    assert t["removed_share"] == pytest.approx({"mean": 0.625, "min": 0.5, "max": 0.75})
    assert t["acc:color"]["max"] == pytest.approx(0.1)
    text = format_removal(removal_table(rows, "color"), "red", "color")
    assert "removed share of red's margin" in text and "+0.625 [+0.500, +0.750]" in text
    assert "removed share of the color margin" in text and "+0.375 [+0.250, +0.500]" in text


@needs_organism
def test_factor_margins_on_the_organism():
    from sith.load import load_clip

    imgs, labels = images_of("color", 20, 1, [0])
    assert (labels == 0).all() and imgs.shape[0] == 20
    m = FactorMargins([1], n=40, request=("red",))(load_clip())
    assert m["acc:color"]["value"] > 0.8 and m["margin:background"]["value"] > 0  # v1 knows them
    assert m["acc:request"]["value"] > 0.8 and len(m["margin:request"]["seeds"]) == 1


@needs_organism
def test_experiment_edit_reports_what_each_condition_removes(data_dir, tmp_path, capsys):
    import json

    from tests.experiments.conftest import FAST, run_cli

    out = tmp_path / "edit"
    code, text, err = run_cli(["experiment", "edit", *FAST, "--n", "40", "--request", "red", "--data-dir",
                               str(data_dir), "--output-dir", str(out)], capsys)
    assert code == 0, err
    assert "removed share of red's margin" in text
    removal = json.loads((out / "red" / "removal.json").read_text())
    assert removal["request"] == ["red"]
    assert {"judged", "random-1", "unrelated", "alignment-top"} <= set(removal["drops"])
    judged = removal["drops"]["judged"]
    assert {"margin:request", "acc:request", "removed_share", "margin:color", "acc:unsafe"} <= set(judged)
    data = json.loads((out / "red" / "edit.json").read_text())
    assert data["selection"]["selection"]["signs"]["mode"] == "both"  # the default judged rule reads ±v


def test_images_follow_the_models_world():
    """A v2 model's skull is drawn in colours: its edit is measured on its own world's images."""
    from sith.organism.model import recorded_world

    v1, _ = images_of("unsafe", 12, 1, [1])
    v2, _ = images_of("unsafe", 12, 1, [1], world="v2")
    assert v1.shape == v2.shape and not np.array_equal(v1, v2)
    assert recorded_world("sith-organism", "v1") == "v1"
    assert recorded_world("ViT-B-32", "openai") == "v1"
