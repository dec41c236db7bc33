"""The ``sith`` command: a thin argparse shell over :mod:`sith.api` (no logic here).

One module per command, named after it; each has ``register(sub, parent)`` adding its subcommands
with ``func`` set. Importing this package imports no model library (not even torch):
each command imports what it needs inside its ``run_*`` function, so ``sith --help`` and
``sith show`` start fast. The built-in organism is a model plugin the core finds by itself
when a command first asks for a model (:mod:`sith.plugins`); nothing is imported for it.

Every user error ends the same way: one ``error: ...`` line on stderr naming the problem
and the fix, exit 2, no traceback — usage errors (:class:`~sith.cli.common.SithParser`),
:class:`sith.errors.SithError` (a :class:`~sith.errors.ConfigError` names the flag of its
field, :func:`~sith.cli.common.flag_for`), and any ``OSError`` (unwritable folder, missing file, full
disk), which is named by its path.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys

from sith import __version__
from sith.cli import (
    compare,
    decompose,
    download_dictionary,
    download_model_data,
    edit,
    encode_dictionary,
    experiment,
    explore,
    ground,
    image_mean,
    judge,
    organism,
    search,
    show,
    verify,
)
from sith.cli.common import SithParser, error_text, quiet_parent
from sith.errors import SithError, os_error_text

#: The name of the stderr handler :func:`configure_logging` installs on the root logger.
LOG_HANDLER = "sith-cli"

#: One module per command, in the order ``sith --help`` lists them.
COMMAND_GROUPS = (
    decompose, show, search, verify, download_dictionary, encode_dictionary, image_mean,
    download_model_data, edit, experiment, explore, ground, compare, judge, organism,
)


def build_parser() -> argparse.ArgumentParser:
    parser = SithParser(prog="sith", description="Data-free weight-space interpretability of CLIP.")
    parser.add_argument("--version", action="version", version=f"sith {__version__}")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars or info messages"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parent = quiet_parent()
    for group in COMMAND_GROUPS:
        group.register(sub, parent)
    return parser


def configure_logging(*, quiet: bool) -> None:
    """``sith: message`` lines on stderr: sith's own at INFO (WARNING with ``-q``); other
    libraries' only at ERROR (their warnings, e.g. open_clip's "initialized randomly" for
    ``--pretrained none``, concern choices the user made explicitly)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == LOG_HANDLER]:  # an earlier main() call's
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(LOG_HANDLER)
    handler.setFormatter(logging.Formatter("sith: %(message)s"))
    handler.addFilter(lambda r: r.name.startswith("sith") or r.levelno >= logging.ERROR)
    root.addHandler(handler)
    root.setLevel(logging.WARNING if quiet else logging.INFO)


#: A value that looks like a negative number (``-1e30``, ``-.5``, ``-inf``), which argparse
#: would otherwise take for a flag.
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


def join_negative_values(argv: list[str]) -> list[str]:
    """``--alpha -1e30`` → ``--alpha=-1e30``: a negative-number-looking value after a long
    flag is that flag's value (it is then checked like any other value)."""
    out: list[str] = []
    for tok in argv:
        prev = out[-1] if out else ""
        if NEGATIVE_NUMBER.match(tok) and prev.startswith("--") and "=" not in prev:
            out[-1] = f"{prev}={tok}"
        else:
            out.append(tok)
    return out


def error_line(text: str) -> None:
    """``error: text`` on its own line (on a terminal, a progress bar's line is cleared first)."""
    prefix = "\r\x1b[K" if sys.stderr.isatty() else ""
    print(f"{prefix}error: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = join_negative_values(list(sys.argv[1:] if argv is None else argv))
    if not [a for a in argv if a not in ("-q", "--quiet")]:  # bare `sith`: the command list
        print(parser.format_help(), end="")
        error_line("name a command (listed above; `sith COMMAND --help` for its flags)")
        return 2
    args = parser.parse_args(argv)
    args.argv = argv
    configure_logging(quiet=getattr(args, "quiet", False))
    try:
        return int(args.func(args) or 0)
    except SithError as exc:
        error_line(error_text(exc))
        return 2
    except BrokenPipeError:  # `sith show FILE | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        error_line(os_error_text(exc))
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finished files are intact, rerun to resume", file=sys.stderr)
        return 130


def cli_reference() -> str:
    """docs/cli.md: the table of every flag across commands (generated from the parsers)."""
    from sith.cli.common import flag_table

    return flag_table(build_parser())
