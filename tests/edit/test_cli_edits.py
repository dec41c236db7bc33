"""``sith edit`` on the built-in organism: the default plan reads the explanations, tells the
truth before writing, and never surprises (dry runs write nothing, no overwrite, checked logs)."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from sith.cli import main
from sith.organism.vocab import UNSAFE_WORDS
from tests.conftest import copy_data


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["-q", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.fixture(scope="module")
def data(tmp_path_factory, organism_data) -> Path:
    """A data dir with the organism's decompositions (the seed recipe, last 4 layers): a copy
    of the session's (tests/conftest.py)."""
    return copy_data(organism_data, tmp_path_factory.mktemp("edits") / "data")


def test_default_skull_plan_is_small_and_about_the_skull(capsys, data):
    code, out, err = run(
        capsys, "edit", "--suppress", "skull", "--dry-run", "--json", "--data-dir", str(data)
    )
    assert code == 0, err
    plan = json.loads(out)
    rows = plan["components"]
    assert 1 <= len(rows) <= 5 and plan["totals"]["pool"] == 512
    assert plan["selection"]["rule"] == "judged" and plan["selection"]["judge"] == "share"
    for r in rows:  # each explanation names the skull (or a world synonym of it) and was judged >= 3
        words = {w for c, wt in r["explanation"] if wt > 0 for w in c.split()}
        assert words & set(UNSAFE_WORDS) and r["judged"] >= 3 and r["alpha"] == 0.0
    assert any(c == "skull symbol" for r in rows for c, _ in r["explanation"])  # found by meaning of words
    assert plan["checkpoint"] is None and plan["log"] is None


def test_unfamiliar_word_is_named_with_its_nearest_concepts(capsys, data):
    code, out, err = run(capsys, "edit", "--suppress", "car", "--dry-run", "--data-dir", str(data))
    assert code == 2 and out == ""
    line = err.strip()
    assert line.count("\n") == 0 and line.startswith("error: no component matches the edit")
    assert "'car' is not in the dictionary (nearest:" in line and "treats it like noise" in line


def test_table_shows_totals_notes_and_legend(capsys, data):
    code, out, err = run(capsys, "edit", "--suppress", "water,ocean", "--dry-run", "--allow-large",
                         "--data-dir", str(data))
    assert code == 0, err
    assert " components selected (" in out and "sigma^2 energy edited: layer" in out
    assert "(s)" not in out and "selected from (" not in out  # "1 component(s) of 512 selected from (0.2%)"
    assert "# judged: the judge's 1-5 verdict" in out and "dry run: nothing written" in out


def test_dry_runs_write_nothing_in_every_mode(capsys, tmp_path, data):
    fresh = tmp_path / "fresh"
    code, out, err = run(capsys, "edit", "--suppress", "skull", "--dry-run", "--data-dir", str(fresh))
    assert code == 0, err
    assert listing(fresh) == []  # not even the encoded dictionary, image mean or decompositions
    before = listing(data)
    ckpt = tmp_path / "out" / "clean.safetensors"
    assert run(capsys, "edit", "--component", "5:0:0", "--output", str(ckpt), "--data-dir", str(data))[0] == 0
    log = ckpt.with_name("clean.edit-log.json")
    made = listing(tmp_path / "out")
    for flag, target in (("--apply-log", "again.safetensors"), ("--undo-log", "orig.safetensors")):
        model = [] if flag == "--apply-log" else ["--pretrained", str(ckpt)]
        code, out, err = run(
            capsys,
            "edit",
            flag,
            str(log),
            "--dry-run",
            "--output",
            str(tmp_path / "out" / target),
            *model,
            "--data-dir",
            str(data),
        )
        assert code == 0, err
        assert listing(tmp_path / "out") == made
    assert listing(data) == before


def test_no_output_never_overwrites(capsys, tmp_path, data):
    paths = []
    for _ in range(2):
        code, out, err = run(capsys, "edit", "--component", "5:1:1", "--data-dir", str(data))
        assert code == 0, err
        paths.append(out.strip().splitlines()[-2])
    assert paths[0] != paths[1] and all(Path(p).exists() for p in paths)


def _written_log(capsys, tmp_path: Path, data: Path) -> tuple[Path, dict]:
    ckpt = tmp_path / "e.safetensors"
    assert (
        run(
            capsys,
            "edit",
            "--component",
            "5:0:0",
            "--component",
            "4:2:1",
            "--output",
            str(ckpt),
            "--data-dir",
            str(data),
        )[0]
        == 0
    )
    log = ckpt.with_name("e.edit-log.json")
    return log, json.loads(log.read_text())


@pytest.mark.parametrize(
    "change,needle",
    [
        (lambda r: r["edits"].append(dict(r["edits"][0])), "repeats component"),
        (lambda r: r.update(fold_ln=not r["fold_ln"]), "does not match this model"),
        (
            lambda r: r["edits"][0].update(singular_value=r["edits"][0]["singular_value"] * 1.5),
            "does not match this model",
        ),
    ],
    ids=["duplicated", "flipped-fold", "hand-edited"],
)
def test_apply_log_refuses_a_log_that_does_not_match(capsys, tmp_path, data, change, needle):
    log, record = _written_log(capsys, tmp_path, data)
    change(record)
    bad = tmp_path / "bad.edit-log.json"
    bad.write_text(json.dumps(record))
    out_path = tmp_path / "again.safetensors"
    code, out, err = run(
        capsys, "edit", "--apply-log", str(bad), "--output", str(out_path), "--data-dir", str(data)
    )
    assert code == 2 and needle in err and err.count("\n") == 1
    assert not out_path.exists()


def test_apply_log_refuses_mixed_flags(capsys, tmp_path, data):
    log, _ = _written_log(capsys, tmp_path, data)
    code, out, err = run(
        capsys,
        "edit",
        "--apply-log",
        str(log),
        "--suppress",
        "skull",
        "--output",
        str(tmp_path / "x.safetensors"),
        "--data-dir",
        str(data),
    )
    assert code == 2 and "drop --suppress/--amplify/--component" in err


def test_full_disk_is_one_line_and_leaves_nothing(capsys, tmp_path, data, monkeypatch):
    import sith.edit.run as run_mod

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "full.edit-log.json"))

    monkeypatch.setattr(run_mod, "save_json", full)
    out_path = tmp_path / "full.safetensors"
    code, out, err = run(
        capsys, "edit", "--component", "5:0:0", "--output", str(out_path), "--data-dir", str(data)
    )
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1 and "No space left" in err
    assert not out_path.exists() and listing(tmp_path) == sorted(
        str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
    )
    assert not any(p.name.startswith("full") for p in tmp_path.iterdir())
