"""The configuration as data: one declaration per option, from which the validation, the file
name, the CLI flags and the API keywords are derived (sith.decompose.config / spec)."""

from __future__ import annotations

import argparse
import inspect
from dataclasses import dataclass, replace

import pytest

import sith.api as api
from sith.cli import build_parser
from sith.cli.common import add_option_args, error_text, option_values
from sith.decompose.config import (
    CONTENT_FIELDS,
    OPTIONS,
    SEARCH_OPTIONS,
    DecompositionConfig,
    DecompositionRequest,
)
from sith.decompose.methods import METHOD_TABLE, parse_method
from sith.decompose.solvers import SOLVERS
from sith.decompose.spec import option, options_of, with_options
from sith.errors import ConfigError, SithError


def _actions(command: str) -> dict[str, argparse.Action]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in sub.choices[command]._actions}


def test_every_option_is_a_cli_flag_and_an_api_keyword_with_the_same_default():
    flags = _actions("decompose")
    sig = inspect.signature(api.decompose).parameters
    for o in OPTIONS:
        assert flags[o.name].option_strings[0] == "--" + o.name.replace("_", "-")
        assert flags[o.name].default == o.default, o.name
        assert sig[o.name].kind is inspect.Parameter.KEYWORD_ONLY
        assert sig[o.name].default == o.default, o.name
        if o.choices:
            assert tuple(flags[o.name].choices) == o.choices
    search = inspect.signature(api.search).parameters
    for o in SEARCH_OPTIONS:
        assert search[o.name].default == o.default and _actions("search")[o.name].default == o.default


def test_a_new_option_is_one_declaration():
    """What adding an option takes (docs/design.md, "Adding a decomposition option"): one field
    declared with `option(...)`; its check, record, file-name tag, CLI flag and API keyword follow."""

    @dataclass(frozen=True)
    class Toy(DecompositionRequest):
        shrink: int = option(
            1, kind="int", help="shrink factor", choices=(1, 2, 4),
            seed=lambda v, _: v == 1, tag=lambda v: f"shrink-{v}",
        )

    toy_options = options_of(Toy)
    assert [o.name for o in toy_options][-1] == "shrink"
    assert Toy(shrink=2).options() == {"shrink": 2} and Toy(shrink=2).options_tag() == "shrink-2"
    assert Toy().is_seed
    with pytest.raises(ConfigError) as bad:
        Toy(shrink=3)
    assert bad.value.field == "shrink" and bad.value.choices == (1, 2, 4) and "--" not in str(bad.value)

    p = argparse.ArgumentParser()
    add_option_args(p, toy_options)
    args = p.parse_args(["--shrink", "4", "--layers", "3", "4", "--no-image-mean"])
    assert option_values(args, toy_options) == {**DecompositionRequest().values(), "layers": [3, 4],
                                                "image_mean": False, "shrink": 4}

    def run(**options):  # noqa: ANN003, ANN202
        return Toy(**options)

    with_options(run, toy_options)
    assert inspect.signature(run).parameters["shrink"].default == 1
    assert run(shrink=4).shrink == 4


def test_validation_names_the_field_not_a_flag():
    cases = {
        "sparsity": 0, "rank": -1, "method": "magic", "polarity": "positive", "sv_type": "up",
        "atoms": "x", "template": "no slot", "fold_ln": "yes", "layers": ["a"],
    }
    for name, value in cases.items():
        with pytest.raises(ConfigError) as exc:
            DecompositionRequest(**{name: value})
        assert exc.value.field == name and exc.value.value == value
        assert "--" not in str(exc.value) and name in str(exc.value), str(exc.value)
        flag = "--" + name.replace("_", "-")
        assert flag in error_text(exc.value)  # the CLI names the flag
    with pytest.raises(ConfigError, match="unknown option") as unknown:
        DecompositionRequest.from_options({"sparsit": 5})
    assert unknown.value.field == "sparsit" and "sparsity" in unknown.value.choices
    assert isinstance(unknown.value, SithError)  # every existing `except SithError` still catches it


def test_request_and_resolved_record_are_separate_types():
    request = DecompositionRequest(layers=[5], sparsity=3)
    assert request.layers == (5,) and not isinstance(request, DecompositionConfig)
    config = request.resolved(model_name="m", pretrained="t", rank=8, dictionary_name="d", head_width=16)
    assert isinstance(config, DecompositionConfig) and config.request() == request.__class__(
        **{**request.values(), "rank": 8}
    )
    assert DecompositionConfig.from_record(config.record()) == config
    assert set(CONTENT_FIELDS) >= {o.name for o in OPTIONS if o.name not in ("layers", "dictionary")}


def test_file_names_are_unchanged():
    """Seed-named files as ever; an option-made file carries the ``_sith-`` mark, a non-seed
    method named in it too."""
    base = DecompositionConfig("m", "t", layers=(5,), rank=64, dictionary_name="organism", head_width=64)
    assert base.file_name(5) == "layer-05_right_foldln_organism_comp-0.3_sparsity-5.pt"
    every = replace(base, polarity="both", atoms="raw", image_mean=False, rank=8, template="a {}",
                    method="lasso", fold_ln=False, sv_type="left")
    assert every.file_name(5) == (
        "layer-05_left_nofoldln_organism_lasso_sparsity-5"
        "_sith-lasso+polarity-both+atoms-raw+no-image-mean+rank-8+template-9a4487cc.pt"
    )
    assert every.options() == {"method": "lasso", "polarity": "both", "atoms": "raw", "image_mean": False,
                               "rank": 8, "template": "a {}"}


def test_the_method_table_and_the_solvers_agree():
    assert set(METHOD_TABLE) == set(SOLVERS)
    for name, m in METHOD_TABLE.items():
        params = inspect.signature(SOLVERS[name]).parameters
        if m.param is not None:
            assert params[m.param].default == m.default, name
            assert parse_method(name) == (name, {m.param: m.default})
        else:
            assert parse_method(name) == (name, {})
    with pytest.raises(ConfigError) as exc:
        parse_method("ncomp-2")
    assert exc.value.field == "method" and "in [0, 1]" in str(exc.value)
