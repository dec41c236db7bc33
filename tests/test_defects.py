"""Regression cases from a newcomer's pass over every README command (besides the bad-input table)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sith.cli import join_negative_values, main
from sith.load.verify import VERIFY_TOL, failing_layers

LAYER5 = "models/sith-organism/v1/decompositions/layer-05_right_foldln_organism_comp-0.3_sparsity-5.pt"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["-q", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("defects") / "data"
    assert main(["-q", "decompose", "--data-dir", str(d)]) == 0
    return d


def test_bare_sith_lists_the_commands(capsys):
    code = main([])
    out, err = capsys.readouterr()
    assert code == 2 and "decompose" in out and "edit" in out and "judge" in out
    assert err.count("\n") == 1 and err.startswith("error: name a command")


def test_negative_numbers_are_values():
    assert join_negative_values(["edit", "--alpha", "-1e30", "-q"]) == ["edit", "--alpha=-1e30", "-q"]
    assert join_negative_values(["--alpha", "-inf", "--dry-run"]) == ["--alpha=-inf", "--dry-run"]
    assert join_negative_values(["-q", "-1"]) == ["-q", "-1"]  # after a short flag: left to argparse


def test_verify_fails_above_the_tolerance_or_on_nan(capsys, monkeypatch):
    import sith.api

    assert failing_layers([1e-7, VERIFY_TOL * 2, math.nan, math.inf]) == [1, 2, 3]
    monkeypatch.setattr(sith.api, "verify", lambda *a, **k: [9.5e-7, float("nan")])
    code, out, err = run(capsys, "verify")
    assert code == 2 and "layer   1: max abs error nan" in out
    assert err.startswith("error: layers 1 differ") and err.count("\n") == 1
    monkeypatch.setattr(sith.api, "verify", lambda *a, **k: [9.5e-7, 8e-7])
    assert run(capsys, "verify")[0] == 0


def test_gibberish_is_noise_like_and_selects_nothing(capsys, data):
    code, _, err = run(capsys, "edit", "--suppress", "xyzzyplugh", "--dry-run", "--data-dir", str(data))
    assert code == 2 and "no component matches" in err and "treats it like noise" in err
    code, out, _ = run(capsys, "search", "xyzzyplugh", "--json", "--data-dir", str(data))
    fam = json.loads(out)["familiarity"]
    assert code == 0 and fam["noise_like"] is True and fam["beats_random"] is False
    code, out, _ = run(capsys, "search", "skull", "--json", "--data-dir", str(data))
    fam = json.loads(out)["familiarity"]
    assert fam["noise_like"] is False and fam["nearest_known_cos"] > fam["random_nearest_known_max"]
    code, out, _ = run(capsys, "search", "skull", "--data-dir", str(data))
    assert "the query's" in out and ("beats them" in out or "does not beat them" in out)


def test_judge_prints_whether_the_model_knows_the_task(capsys, data):
    code, out, err = run(capsys, "judge", str(data / LAYER5), "--task", "water, ocean")
    assert code == 0, err
    assert "# task 'water': " in out and "# task 'ocean': " in out and "tells it from noise" in out
    code, out, err = run(capsys, "judge", str(data / LAYER5), "--task", "background or scene", "--json")
    assert code == 0 and "its scores rest on noise" in err
    [fam] = json.loads(out)["task_familiarity"]
    assert fam["query"] == "background or scene" and fam["noise_like"] is True


def test_output_replaces_only_what_sith_wrote(capsys, tmp_path, data):
    out = tmp_path / "e.safetensors"
    edit = ["edit", "--component", "5:0:0", "--data-dir", str(data), "--output", str(out)]
    assert run(capsys, *edit)[0] == 0
    first = out.read_bytes()
    assert run(capsys, *edit)[0] == 0 and out.read_bytes() == first  # its own log names it: replaced
    (tmp_path / "e.edit-log.json").unlink()
    code, _, err = run(capsys, *edit)
    assert code == 2 and "pass --force" in err and out.read_bytes() == first
    assert run(capsys, *edit, "--force")[0] == 0


def test_no_progress_bars_in_a_log_file(capsys, data):
    """stderr is not a terminal here (as in a log file): no bars, no cursor-up escapes."""
    code = main(["decompose", "--layers", "1", "--data-dir", str(data)])  # without -q: bars on a terminal
    err = capsys.readouterr().err
    assert code == 0 and "\x1b[A" not in err and "\r" not in err


def test_a_zeroed_component_shows_no_explanation(capsys, tmp_path, data):
    edited, d = tmp_path / "zeroed.safetensors", str(tmp_path / "d")
    code, _, err = run(capsys, "edit", "--component", "5:0:0", "--output", str(edited),
                       "--data-dir", str(data))
    assert code == 0, err
    code, _, err = run(capsys, "decompose", "--pretrained", str(edited), "--layers", "5", "--data-dir", d)
    assert code == 0, err
    [path] = Path(d).glob("models/*/*/decompositions/layer-05_*.pt")
    rows = json.loads(run(capsys, "show", str(path), "--head", "0", "--json")[1])["rows"]
    zeroed = [r for r in rows if r.get("zeroed")]
    assert len(zeroed) == 1 and zeroed[0]["concepts"] == [] and zeroed[0]["singular_value"] < 1e-5
    assert all(r["concepts"] for r in rows if not r.get("zeroed"))
    assert "(zeroed: sigma 0, writes nothing)" in run(capsys, "show", str(path), "--head", "0")[1]


def test_apply_log_keeps_the_source_selection_record(capsys, tmp_path, data):
    first, again = tmp_path / "c.safetensors", tmp_path / "again.safetensors"
    code, _, err = run(capsys, "edit", "--suppress", "skull", "--output", str(first), "--data-dir", str(data))
    assert code == 0, err
    source = json.loads((tmp_path / "c.edit-log.json").read_text())["selection"]
    log = str(tmp_path / "c.edit-log.json")
    code, _, err = run(capsys, "edit", "--apply-log", log, "--output", str(again), "--data-dir", str(data))
    assert code == 0, err
    kept = json.loads((tmp_path / "again.edit-log.json").read_text())["selection"]
    assert kept["rule"] == "from log" and kept["source_rule"] == source["rule"] == "judged"
    assert kept["requests"] == source["requests"] and kept["judge"] == source["judge"]
    assert again.read_bytes() == first.read_bytes()  # and still byte for byte


def test_an_option_method_writes_the_sith_suffix(capsys, tmp_path):
    d = tmp_path / "d"
    code, _, err = run(capsys, "decompose", "--method", "somp", "--layers", "5", "--data-dir", str(d))
    assert code == 0, err
    [path] = d.glob("models/*/*/decompositions/layer-05_*.pt")
    assert path.name.endswith("_somp_sparsity-5_sith-somp.pt")


def test_a_layer_file_records_only_its_layer(capsys, tmp_path):
    """decompose --layers 4 5 and --layers 5 write the same layer-5 bytes."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(capsys, "decompose", "--layers", "4", "5", "--data-dir", str(a))[0] == 0
    assert run(capsys, "decompose", "--layers", "5", "--data-dir", str(b))[0] == 0
    [fa] = a.glob(f"{LAYER5.rsplit('/', 1)[0]}/layer-05_*.pt")
    [fb] = b.glob(f"{LAYER5.rsplit('/', 1)[0]}/layer-05_*.pt")
    assert fa.read_bytes() == fb.read_bytes()


def test_a_checkpoint_has_one_cache_folder_however_it_is_named(tmp_path, monkeypatch):
    from sith.paths import model_dir

    monkeypatch.chdir(tmp_path)
    names = ["m.safetensors", "./m.safetensors", str(tmp_path / "m.safetensors")]
    assert len({model_dir("data", "sith-organism", n) for n in names}) == 1
