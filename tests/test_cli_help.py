"""The CLI's words and weight: help on every option, one-line usage errors, light imports (issue 9)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sith.cli import build_parser, main
from tests.explore.synthetic import synthetic_decomposition

HEAVY = ("open_clip", "transformers", "matplotlib", "torchvision", "webdataset")


def _walk(parser: argparse.ArgumentParser, path: str):  # noqa: ANN202
    """Yield ``(command path, action)`` for every argument of every (sub)command."""
    for action in parser._actions:  # argparse has no public walk
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", argparse.Namespace(
                    option_strings=["(command)"], help=helps.get(name), dest=name
                )
                yield from _walk(sub, f"{path} {name}")
        else:
            yield path, action


def test_every_option_of_every_command_has_help():
    missing = [
        f"{cmd}: {'/'.join(a.option_strings) or a.dest}"
        for cmd, a in _walk(build_parser(), "sith")
        if a.help != argparse.SUPPRESS and not (a.help or "").strip()
    ]
    assert not missing, missing
    commands = {cmd for cmd, _ in _walk(build_parser(), "sith")}
    assert {"sith show", "sith edit", "sith organism eval", "sith explore"} <= commands


def test_organism_eval_help_points_to_docs(capsys):
    with pytest.raises(SystemExit):
        main(["organism", "eval", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "docs/method.md" in out and "METHOD.md" not in out.replace("docs/method.md", "")


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["edit", "--component", "1:2"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.count("\n") == 1 and err.startswith("error: argument --component")
    assert "sith edit --help" in err


def _show_file(tmp_path: Path) -> Path:
    return synthetic_decomposition(5, n_heads=2, rank=4).save(tmp_path / "dec.pt")


def test_show_explains_its_columns_and_q_works_anywhere(tmp_path, capsys):
    dec = _show_file(tmp_path)
    for argv in (["-q", "show", str(dec)], ["show", str(dec), "-q"], ["show", "-q", str(dec)]):
        assert main(argv) == 0
        out, err = capsys.readouterr()
        lines = out.strip().splitlines()
        assert lines[-1].startswith("# sigma: singular value; fid: fidelity") and "pol:" in lines[-1]
        assert len(lines) == 1 + 2 + 2 * 4 + 1  # model line, header + rule, rows, legend
    assert main(["show", str(dec), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["rows"]) == 8  # the legend is for the table only


def test_show_output_file_is_world_readable(tmp_path, capsys):
    import os
    import stat

    old = os.umask(0o022)
    try:
        out = tmp_path / "table.csv"
        assert main(["-q", "show", str(_show_file(tmp_path)), "--csv", "--output", str(out)]) == 0
    finally:
        os.umask(old)
    assert capsys.readouterr().out.strip() == str(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def _modules_after(code: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, timeout=300, check=True,
    )
    return {m.split(".")[0] for m in json.loads(proc.stdout.strip().splitlines()[-1])}


def test_importing_the_cli_imports_no_model_library():
    loaded = _modules_after("import sith.cli")
    assert not loaded & {*HEAVY, "torch"}, loaded & {*HEAVY, "torch"}


def test_sith_show_imports_no_model_library(tmp_path):
    dec = _show_file(tmp_path)
    argv = ["-q", "show", str(dec), "--output", str(tmp_path / "o.txt")]
    loaded = _modules_after(f"from sith.cli import main\nassert main({argv!r}) == 0")
    assert "torch" in loaded and not loaded & set(HEAVY), loaded & set(HEAVY)


def test_every_command_lives_in_a_module_named_after_it():
    """``sith X-Y`` is registered by ``sith.cli.X_Y`` and nothing else (issue 23)."""
    import argparse

    from sith.cli import COMMAND_GROUPS
    from sith.cli.common import quiet_parent

    for module in COMMAND_GROUPS:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        module.register(sub, quiet_parent())
        assert [name.replace("-", "_") for name in sub.choices] == [module.__name__.rsplit(".", 1)[1]]
