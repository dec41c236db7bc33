"""Argument helpers shared by every ``sith`` command group (public within :mod:`sith.cli`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from sith.decompose.config import OPTIONS, options_named
from sith.decompose.spec import Option
from sith.errors import ConfigError, SithError
from sith.organism import ORGANISM_NAME, ORGANISM_TAG
from sith.paths import DEFAULT_DATA_DIR


class SithParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line, like every other sith error:
    ``error: <problem> (see `sith CMD --help`)``, exit 2 (subparsers inherit the class)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {' '.join(message.split())} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


def add_format_args(p: argparse.ArgumentParser, *, output: bool = True) -> None:
    """``--json | --csv`` (a table by default) and ``--output FILE`` (where the table goes)."""
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON instead of a table")
    fmt.add_argument("--csv", action="store_true", help="CSV instead of a table")
    if output:
        p.add_argument(
            "--output", type=Path, default=None, metavar="FILE",
            help="write the table (or JSON, CSV) to this file instead of stdout",
        )


def output_format(args: argparse.Namespace) -> str:
    """``table``, ``json`` or ``csv`` from :func:`add_format_args`' flags."""
    return "json" if args.json else "csv" if args.csv else "table"


def emit(text: str, output: Path | None) -> None:
    """Print ``text``, or write it (atomically, UTF-8) to ``output`` and print the path."""
    if output is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    from sith.io import save_text

    print(save_text(text if text.endswith("\n") else text + "\n", output))


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def parse_layers(text: str) -> list[int]:
    """``"20 21,22"`` → ``[20, 21, 22]`` (argparse type for ``--layers``). Layers count from 0
    in every command; a negative index is refused (it would silently mean "from the end")."""
    try:
        layers = [int(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--layers takes integers, got {text!r}") from None
    if any(x < 0 for x in layers):
        raise argparse.ArgumentTypeError(
            f"--layers counts from 0, got {text!r}; name the layer (the last of a 12-layer model is 11)"
        )
    return layers


def flat_layers(layers: list[list[int]] | None) -> list[int] | None:
    """Flatten ``--layers A B --layers C`` groups; None stays None (the command's default)."""
    return None if layers is None else [x for group in layers for x in group]


def add_skip_bad_arg(p: argparse.ArgumentParser) -> None:
    """``--skip-bad/--no-skip-bad``, one flag and one default for every command that reads
    images (the default lives in :data:`sith.encode.sources.SKIP_BAD_DEFAULT`: skip)."""
    p.add_argument(
        "--skip-bad",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="skip and count unreadable images (default); --no-skip-bad fails on the first",
    )


def skip_bad_option(args: argparse.Namespace) -> dict:
    """``{"skip_bad": ...}`` when the flag was given, else ``{}`` (the library's default)."""
    return {} if args.skip_bad is None else {"skip_bad": args.skip_bad}


def add_data_dir_arg(p: argparse.ArgumentParser) -> None:
    """``--data-dir``: the data root, the seed's layout (one flag and default for every command)."""
    p.add_argument(
        "--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR),
        help=f"data root, the seed's layout (default: {DEFAULT_DATA_DIR})",
    )


def add_device_arg(p: argparse.ArgumentParser, *, what: str = "") -> None:
    """``--device``: the torch device (``what``: what runs on it, for the help)."""
    where = f" for {what}" if what else ""
    p.add_argument("--device", default="cpu", help=f"torch device{where}, e.g. cpu or cuda (default: cpu)")


def add_model_args(
    p: argparse.ArgumentParser,
    *,
    name: str | None = None,
    tag: str | None = None,
    aliases: tuple[str, str] | None = None,
    data_dir: bool = True,
    device: bool = True,
) -> None:
    """``--model-name --pretrained --data-dir --device`` (``name``/``tag``: a command's own
    default model; ``aliases``: older spellings of the two model flags, still accepted)."""
    old_name, old_tag = aliases or ((), ())
    old_name, old_tag = (old_name,) if old_name else (), (old_tag,) if old_tag else ()
    alias_note = f"; {old_name[0]} is a deprecated alias" if old_name else ""
    p.add_argument(
        "--model-name", *old_name, dest="model_name", default=name,
        help=f"open_clip name or HF dir/id (default: {name or ORGANISM_NAME}{alias_note})",
    )
    alias_note = f"; {old_tag[0]} is a deprecated alias" if old_tag else ""
    p.add_argument(
        "--pretrained", *old_tag, dest="pretrained", default=tag,
        help=f"open_clip tag or checkpoint path (default: {tag or ORGANISM_TAG}{alias_note})",
    )
    if data_dir:
        add_data_dir_arg(p)
    if device:
        add_device_arg(p)


def add_top_arg(p: argparse.ArgumentParser, *, default: int, what: str, dest: str = "top") -> None:
    """``--top N`` (how many to keep; ``--top-k`` is its deprecated alias)."""
    p.add_argument(
        "--top", "--top-k", dest=dest, type=int, default=default, metavar="N",
        help=f"{what} (default {default}; --top-k is a deprecated alias)",
    )


def add_heads_arg(p: argparse.ArgumentParser) -> None:
    """``--heads H [H ...]`` (``--head`` is its deprecated alias)."""
    p.add_argument(
        "--heads", "--head", dest="heads", type=int, nargs="+", default=None, metavar="H",
        help="only these heads (default: all; --head is a deprecated alias)",
    )


def add_svd_args(p: argparse.ArgumentParser) -> None:
    """``--sv-type --fold-ln/--no-fold-ln`` (docs/method.md §2), as the configuration declares them."""
    add_option_args(p, options_named("sv_type", "fold_ln"))


def quiet_parent() -> argparse.ArgumentParser:
    """A parent parser giving every subcommand ``-q/--quiet`` (so it works anywhere on the line)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress bars or info messages",
    )
    return parent


def progress(args: argparse.Namespace) -> bool:
    """Whether to show progress bars: not ``-q``, and stderr is a terminal (a log file or a
    pipe gets no bars: their cursor-up escapes, ``\x1b[A``, would litter it)."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def flag_for(field: str) -> str:
    """The CLI flag of a parameter the library names ``field`` (``sv_type`` → ``--sv-type``):
    how the CLI prints a :class:`sith.errors.ConfigError`. Parameters whose flag is spelled
    otherwise are listed in :data:`FLAG_NAMES`."""
    return FLAG_NAMES.get(field, "--" + field.replace("_", "-"))


#: Library parameter names whose CLI flag is not ``--`` + the name with dashes.
FLAG_NAMES = {
    "k": "--top", "components": "--component", "key_env": "--judge-key-env", "base_url": "--judge-url",
    "model": "--judge-model", "cache_path": "--judge-cache",
}


def error_text(exc: SithError) -> str:
    """The one line the CLI prints for ``exc``: a :class:`ConfigError` names the flag."""
    if isinstance(exc, ConfigError):
        return exc.render(flag_for, cli=True)
    return str(exc)


def add_option_args(
    p: argparse.ArgumentParser, options: tuple[Option, ...], *, helps: dict[str, str] | None = None
) -> None:
    """One flag per declared option (:mod:`sith.decompose.spec`): ``--{name}`` with dashes, and
    the option's default, type, choices and help (``helps`` replaces an option's help here)."""
    for o in options:
        text = f"{(helps or {}).get(o.name, o.help)} (default: {o.describe_default()})"
        flag = flag_for(o.name)
        if o.kind == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=o.default, help=text)
        elif o.kind == "ints":
            p.add_argument(flag, type=parse_layers, nargs="+", default=o.default, help=text)
        else:
            p.add_argument(flag, type=int if o.kind == "int" else str, choices=o.choices, default=o.default,
                           help=text)


def option_values(args: argparse.Namespace, options: tuple[Option, ...]) -> dict:
    """``{name: value}`` of the parsed flags of :func:`add_option_args` (layers flattened)."""
    return {
        o.name: flat_layers(getattr(args, o.name)) if o.kind == "ints" else getattr(args, o.name)
        for o in options
    }


def add_decomposition_args(p: argparse.ArgumentParser, *, layers_help: str | None = None) -> None:
    """The flags of every option of a decomposition (:data:`sith.decompose.config.OPTIONS`)."""
    add_option_args(p, OPTIONS, helps={"layers": layers_help} if layers_help else None)


def decomposition_options(args: argparse.Namespace) -> dict:
    """The decomposition keyword options (of :func:`sith.api.decompose`) named by parsed flags."""
    return option_values(args, OPTIONS)


def add_precision_arg(p: argparse.ArgumentParser, *, default: str | None, default_text: str) -> None:
    p.add_argument(
        "--precision",
        choices=("fp32", "fp16", "bf16"),
        default=default,
        help=f"autocast precision of the tower; sums stay float64 (default: {default_text})",
    )


def print_on_rank0(path: Path) -> None:
    """Print the written path once (under torchrun every rank returns it)."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(path)


def subcommands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> list[tuple[str, argparse.ArgumentParser]]:
    """``[(command, its parser)]`` of every (nested) subcommand of ``parser``, in order."""
    out = []
    for action in parser._actions:  # noqa: SLF001 - argparse keeps its actions here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                full = f"{prefix}{name}"
                out.append((full, sub))
                out.extend(subcommands(sub, full + " "))
    return out


def flag_rows(parser: argparse.ArgumentParser) -> list[tuple[str, str, str, str]]:
    """``(command, flags, default, help)`` for every flag and argument of every command."""
    rows = []
    for command, sub in subcommands(parser):
        for a in sub._actions:  # noqa: SLF001
            if isinstance(a, argparse._HelpAction | argparse._SubParsersAction) or a.dest == "quiet":  # noqa: SLF001
                continue
            value = f" {a.metavar}" if a.option_strings and isinstance(a.metavar, str) else ""
            flags = ", ".join(f"`{s}{value}`" for s in a.option_strings) or f"`{a.metavar or a.dest.upper()}`"
            default = "" if a.default in (None, False, argparse.SUPPRESS) or a.required else f"`{a.default}`"
            text = (a.help or "").replace("%%", "%").replace("|", "\\|")
            if a.choices and not isinstance(a.choices, dict):
                text += f" — one of {', '.join(map(str, a.choices))}"
            rows.append((command, flags, "required" if a.required else default, text))
    return rows


def flag_table(parser: argparse.ArgumentParser) -> str:
    """docs/cli.md: one Markdown table of every flag across commands (:func:`flag_rows`)."""
    lines = [
        "# Command-line flags",
        "",
        "Every flag of every `sith` command, generated from the parsers (do not edit by hand):",
        "",
        "    python -c 'from sith.cli import cli_reference; print(cli_reference(), end=\"\")' > docs/cli.md",
        "",
        "One vocabulary: `--model-name/--pretrained/--data-dir/--device` mean the same in every command;",
        "`--top N` is how many to keep (`--top-k` a deprecated alias), `--heads` which heads (`--head` a",
        "deprecated alias), `--json/--csv` replace a printed table. `--output` writes what the command",
        "produces: the table (show, search, judge), the HTML page (explore), the edited checkpoint (edit)",
        "or the results JSON (organism eval); `--output-dir` is a folder of files. A flag a",
        "decomposition option generates has the same name, default and meaning wherever it appears",
        "(`sith.decompose.config`; from Python, the keyword of the same name with `_`).",
        "",
        "| command | flag | default | meaning |",
        "|---|---|---|---|",
    ]
    rows = flag_rows(parser)
    lines += [f"| {c} | {f} | {d} | {h} |" for c, f, d, h in rows]
    lines += ["", "## Which commands take each flag", "", "| flag | commands |", "|---|---|"]
    by_flag: dict[str, tuple[set[str], list[str]]] = {}
    for command, flags, _, _ in rows:
        if flags.startswith("`-"):
            spellings = [f.split(" ")[0].strip("`") for f in flags.split(", ")]
            names, commands = by_flag.setdefault(f"`{spellings[0]}`", (set(), []))
            names.update(f"`{s}`" for s in spellings)
            commands.append(command)
    for first, (names, commands) in sorted(by_flag.items()):
        spelled = ", ".join([first, *sorted(names - {first})])
        lines.append(f"| {spelled} | {', '.join(commands)} |")
    return "\n".join(lines) + "\n"
