"""Optional inputs: edit log (strict), blur words, grounding and compare (tolerant)."""

from __future__ import annotations

import json
import logging

import pytest
from PIL import Image

from sith.errors import SithError
from sith.explore.extras import (
    parse_queries,
    read_blur_words,
    read_compare,
    read_edit_log,
    read_grounding,
    read_judge,
)
from tests.explore.synthetic import MODEL


def edit_log(model: dict, edits: list[tuple[int, int, int, float]]) -> dict:
    return {
        "format": "sith-edit-log/1",
        "model": model,
        "fold_ln": True,
        "edits": [
            {"layer": lay, "head": h, "index": i, "alpha": a, "reason": "suppress water", "update": {}}
            for lay, h, i, a in edits
        ],
    }


def test_edit_log_for_this_model_only(tmp_path):
    good = tmp_path / "good.edit-log.json"
    good.write_text(json.dumps(edit_log(MODEL, [(1, 0, 3, 0.0)])))
    assert read_edit_log(good, MODEL)["edits"] == [
        {"layer": 1, "head": 0, "index": 3, "alpha": 0.0, "reason": "suppress water"}
    ]
    other = tmp_path / "other.edit-log.json"
    other.write_text(
        json.dumps(edit_log(dict(MODEL, model_name="ViT-B-32", fingerprint="beef"), [(1, 0, 3, 0.0)]))
    )
    with pytest.raises(SithError, match="edit log for another model .ViT-B-32"):
        read_edit_log(other, MODEL)
    (tmp_path / "x.json").write_text('{"edits": []}')
    with pytest.raises(SithError, match="not a sith edit log"):
        read_edit_log(tmp_path / "x.json", MODEL)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SithError, match="not valid JSON"):
        read_edit_log(tmp_path / "bad.json", MODEL)


def test_blur_words_and_queries(tmp_path):
    f = tmp_path / "blur.txt"
    f.write_text("Skull\n\n# comment\npoison  # inline\nskull\n")
    assert read_blur_words(f) == ["poison", "skull"]
    with pytest.raises(SithError, match="blur-words file not found"):
        read_blur_words(tmp_path / "none.txt")
    assert parse_queries("water, red,,") == ["water", "red"]
    assert parse_queries(None) == []


def test_grounding_reader_is_tolerant(tmp_path, caplog):
    Image.new("RGB", (200, 100), (255, 0, 0)).save(tmp_path / "a.png")
    doc = {
        "components": [
            {
                "layer": 1,
                "head": 0,
                "index": 2,
                "top": [{"image": "a.png", "score": 0.5, "heatmap": [[0, 1], [1, 0]]}],
                "bottom": ["a.png", "missing.png"],
            },
            {"layer": 1, "head": 1, "images": []},  # no index, no images: skipped
        ]
    }
    (tmp_path / "g.json").write_text(json.dumps(doc))
    with caplog.at_level(logging.WARNING):
        got = read_grounding(tmp_path / "g.json")
    assert list(got) == ["1-0-2"]
    top, bottom = got["1-0-2"]  # the missing image is left out with a warning
    assert (
        top["src"].startswith("data:image/jpeg;base64,")
        and top["score"] == 0.5
        and top["heat"] == [[0, 1], [1, 0]]
    )
    assert bottom["sign"] == -1 and "missing.png" in caplog.text
    (tmp_path / "other.json").write_text(json.dumps({"something": "else"}))
    assert read_grounding(tmp_path / "other.json") == {}


def test_compare_reader(tmp_path):
    (tmp_path / "c.json").write_text(
        json.dumps(
            {
                "heads": [
                    {"layer": 1, "head": 0, "delta_s": [0.5, -0.5]},
                    {"layer": 1, "head": 1, "value": 0.2},
                    {"head": 3},
                ]
            }
        )
    )
    got = read_compare(tmp_path / "c.json")
    assert got == {"1-0": {"value": 0.5, "values": [0.5, -0.5]}, "1-1": {"value": 0.2, "values": None}}


def test_judge_reader(tmp_path):
    (tmp_path / "j.json").write_text(
        json.dumps([{"layer": 1, "head": 0, "index": 2, "score": 4}, {"layer": 1, "head": 0, "rating": 3}])
    )
    assert read_judge(tmp_path / "j.json") == {"1-0-2": 4.0}
