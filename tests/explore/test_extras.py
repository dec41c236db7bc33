"""Optional inputs: edit log (strict), blur words; judge, compare and grounding read by format tag."""

from __future__ import annotations

import json
import logging

import pytest
from PIL import Image

from sith.compare.run import FORMAT as COMPARE_FORMAT
from sith.decompose.results import LayerDecomposition, ModelRef
from sith.errors import SithError
from sith.explore.extras import (
    parse_queries,
    read_blur_words,
    read_compare,
    read_edit_log,
    read_judge,
)
from sith.explore.grounded import load_groundings
from sith.judge.run import FORMAT as JUDGE_FORMAT
from sith.judge.run import JudgedComponent, format_judged
from tests.explore.synthetic import MODEL, write_grounding, write_set

REF = ModelRef.from_record(MODEL)  # the page's model, typed as find_decompositions gives it


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
    assert read_edit_log(good, REF)["edits"] == [
        {"layer": 1, "head": 0, "index": 3, "alpha": 0.0, "reason": "suppress water"}
    ]
    other = tmp_path / "other.edit-log.json"
    other.write_text(
        json.dumps(edit_log(dict(MODEL, model_name="ViT-B-32", fingerprint="beef"), [(1, 0, 3, 0.0)]))
    )
    with pytest.raises(SithError, match="edit log for another model .ViT-B-32"):
        read_edit_log(other, REF)
    (tmp_path / "x.json").write_text('{"edits": []}')
    with pytest.raises(SithError, match="not a sith edit log"):
        read_edit_log(tmp_path / "x.json", REF)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SithError, match="not valid JSON"):
        read_edit_log(tmp_path / "bad.json", REF)


def test_blur_words_and_queries(tmp_path):
    f = tmp_path / "blur.txt"
    f.write_text("Skull\n\n# comment\npoison  # inline\nskull\n")
    assert read_blur_words(f) == ["poison", "skull"]
    with pytest.raises(SithError, match="blur-words file not found"):
        read_blur_words(tmp_path / "none.txt")
    assert parse_queries("water, red,,") == ["water", "red"]
    assert parse_queries(None) == []


def judged(layer: int | None) -> list[JudgedComponent]:
    return [JudgedComponent(layer, 0, 2, 4, 0.5, "water 0.600"), JudgedComponent(layer, 1, 0, 1, 0.1, "")]


def test_judge_output_is_read_by_its_tag(tmp_path, caplog):
    """``sith judge --json`` output round-trips; an older bare list or a foreign file is left
    out with one warning naming the command to re-run; a damaged tagged file is an error."""
    f = tmp_path / "j.json"
    f.write_text(format_judged(judged(1), "json", {"task": "water?"}))
    assert json.loads(f.read_text())["format"] == JUDGE_FORMAT == "sith-judge/1"
    assert read_judge(f) == {"1-0-2": 4.0, "1-1-0": 1.0}
    f.write_text(format_judged(judged(None), "json"))  # a file without layers places nothing
    with caplog.at_level(logging.WARNING):
        assert read_judge(f) == {}
    assert "no component of a known layer" in caplog.text
    old = [{"layer": 1, "head": 0, "index": 2, "score": 4}]  # `sith judge --json` before the tag
    for doc, why in ((old, "no format tag"), ({"format": "sith-judge/9", "components": []}, "sith-judge/9"),
                     ({"results": old}, "no format tag")):
        f.write_text(json.dumps(doc))
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert read_judge(f) == {}
        (line,) = caplog.messages
        assert why in line and "left out" in line and "sith judge" in line and "--json" in line
    f.write_text(json.dumps({"format": JUDGE_FORMAT, "components": [{"layer": 1, "head": 0}]}))
    with pytest.raises(SithError, match="damaged sith-judge/1 file.*re-run `sith judge"):
        read_judge(f)


def compare_doc(values: bool = True) -> dict:
    def head(lay: int, h: int) -> dict:
        row = {"head": h, "sv_change": 0.1 * (lay + h), "delta_singular_values": [1.0]}
        return dict(row, singular_value_change=[0.5, -0.5]) if values else row

    return {"format": COMPARE_FORMAT, "config": {"rank": 2},
            "layers": [{"layer": lay, "heads": [head(lay, h) for h in range(2)]} for lay in (1, 2)]}


def test_compare_output_is_read_by_its_tag(tmp_path, caplog):
    """The per-head ``sv_change`` and the per-component ``singular_value_change`` of
    ``compare.json`` (the writer's round trip: tests/compare/test_cli.py)."""
    f = tmp_path / "compare.json"
    f.write_text(json.dumps(compare_doc()))
    got = read_compare(f)
    assert sorted(got) == ["1-0", "1-1", "2-0", "2-1"]
    assert got["2-1"] == {"value": 0.3, "values": [0.5, -0.5]}
    f.write_text(json.dumps(compare_doc(values=False)))  # written before the per-component key
    assert read_compare(f)["1-0"] == {"value": 0.1, "values": None}
    f.write_text(json.dumps({"heads": [{"layer": 1, "head": 0, "delta_s": [0.5]}]}))  # the old guessed shape
    with caplog.at_level(logging.WARNING):
        assert read_compare(f) == {}
    (line,) = caplog.messages
    assert "no format tag" in line and "sith compare" in line and "left out" in line
    f.write_text(json.dumps({"format": COMPARE_FORMAT, "layers": [{"layer": 1}]}))
    with pytest.raises(SithError, match="damaged sith-compare/1"):
        read_compare(f)
    f.write_text("[")
    with pytest.raises(SithError, match="not valid JSON"):
        read_compare(f)


def test_grounding_is_sith_ground_output_only(tmp_path, caplog):
    """A ``sith ground`` folder gives thumbnails; a JSON file that is not its summary (the
    hand-made format an older explorer guessed keys of) is left out with one warning,
    given by name or lying in the default grounding folder."""
    (dec_path,) = write_set(tmp_path / "data", [1])
    dec = LayerDecomposition.load(dec_path)
    Image.new("RGB", (40, 30), (255, 0, 0)).save(tmp_path / "a.png")
    root = tmp_path / "grounding"
    write_grounding(root / "synthetic", dec, tmp_path / "a.png", (2, 5))
    args = ({1: dec}, REF)
    entries, uris = load_groundings(root / "synthetic", tmp_path / "unused", *args)
    assert list(entries) == ["1-2-5"] and len(uris) == 1
    assert [e["sign"] for e in entries["1-2-5"]] == [1, 1, 1, -1]
    assert {e["heat"] for e in entries["1-2-5"]} == {"0cnz"}  # 35 · (0, 1, 2, 3) / 3, base 36
    hand_made = {"components": [{"layer": 1, "head": 2, "index": 5, "top": ["a.png"]}]}
    (root / "old.json").write_text(json.dumps(hand_made))
    with caplog.at_level(logging.WARNING):
        assert load_groundings(root / "old.json", tmp_path / "unused", *args) == ({}, [])
    (line,) = caplog.messages
    assert "old.json is not sith ground output" in line and "run `sith ground`" in line
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        entries, _ = load_groundings(None, root, *args)  # the default folder: the JSON is skipped
    assert list(entries) == ["1-2-5"] and "old.json is not sith ground output" in caplog.text
