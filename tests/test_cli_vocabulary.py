"""One CLI vocabulary: the flag table in docs/cli.md is the parsers', shared flags are spelled
and defaulted alike, old spellings still work, and errors name the flag while the library
names the field."""

from __future__ import annotations

from pathlib import Path

import pytest

import sith.api as api
from sith.cli import build_parser, cli_reference, main
from sith.cli.common import flag_rows
from sith.errors import ConfigError

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_the_flag_table_in_the_docs_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == cli_reference(), (
        "docs/cli.md is stale; regenerate it: "
        "python -c 'from sith.cli import cli_reference; print(cli_reference(), end=\"\")' > docs/cli.md"
    )


def test_shared_flags_have_one_default_everywhere():
    seen: dict[str, set[str]] = {}
    for _, flags, default, _ in flag_rows(build_parser()):
        first = flags.split(", ")[0]
        if first in ("`--data-dir`", "`--device`", "`--json`", "`--csv`", "`--fold-ln`", "`--sv-type`"):
            seen.setdefault(first, set()).add(default)
    assert seen["`--data-dir`"] == {"`data`"} and seen["`--device`"] == {"`cpu`"}
    assert all(len(v) == 1 for v in seen.values()), seen


@pytest.mark.parametrize(
    ("argv", "dest", "value"),
    [
        (["search", "water", "--top-k", "3"], "top", 3),
        (["search", "water", "--top", "3"], "top", 3),
        (["ground", "--world", "8", "--top-k", "2"], "top_k", 2),
        (["ground", "--world", "8", "--top", "2"], "top_k", 2),
        (["show", "f.pt", "--head", "1", "2"], "heads", [1, 2]),
        (["show", "f.pt", "--heads", "1", "2"], "heads", [1, 2]),
        (["compare", "--tuned-pretrained", "t", "--base-model", "M"], "model_name", "M"),
        (["compare", "--tuned-pretrained", "t", "--model-name", "M"], "model_name", "M"),
        (["compare", "--tuned-pretrained", "t", "--base-pretrained", "B"], "pretrained", "B"),
    ],
)
def test_old_spellings_are_aliases(argv, dest, value):
    assert getattr(build_parser().parse_args(argv), dest) == value


def test_the_library_names_the_field_and_the_cli_the_flag(capsys):
    with pytest.raises(ConfigError) as exc:  # a notebook's call: checked before any model loads
        api.decompose(sparsity=0)
    assert exc.value.field == "sparsity" and "--" not in str(exc.value)
    assert main(["decompose", "--sparsity", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --sparsity must be a positive integer") and "\n" == err[-1]


def test_a_layer_out_of_range_names_layers_or_the_flag(tmp_path, capsys):
    with pytest.raises(ConfigError) as exc:
        api.decompose(layers=[99], data_dir=tmp_path, progress=False)
    assert exc.value.field == "layers" and "--layers" not in str(exc.value) and "99" in str(exc.value)
    assert main(["-q", "decompose", "--layers", "99", "--data-dir", str(tmp_path)]) == 2
    assert "pass --layers within it" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.pt"))  # nothing half-written
