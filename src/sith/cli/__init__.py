"""The ``sith`` command: a thin argparse shell over :mod:`sith.api` (no logic here).

One module per command, named after it; each has ``register(sub, parent)`` adding its subcommands
with ``func`` set. Importing this package imports no model library (not even torch):
each command imports what it needs inside its ``run_*`` function, so ``sith --help`` and
``sith show`` start fast. The built-in organism is a model plugin the core finds by itself
when a command first asks for a model (:mod:`sith.plugins`); nothing is imported for it.

Every user error ends the same way: one ``error: ...`` line on stderr naming the problem
and the fix, exit 2, no traceback — usage errors (:class:`~sith.cli.common.SithParser`),
:class:`sith.errors.SithError`, and any ``OSError`` (unwritable folder, missing file, full
disk), which is named by its path.
"""

from __future__ import annotations

import argparse
import logging
import os
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
from sith.cli.common import SithParser, quiet_parent
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(quiet=getattr(args, "quiet", False))
    try:
        return int(args.func(args) or 0)
    except SithError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `sith show FILE | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        print(f"error: {os_error_text(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finished files are intact, rerun to resume", file=sys.stderr)
        return 130
