"""The ``sith`` command: a thin argparse shell over :mod:`sith.api` (no logic here).

One module per command group; each has ``register(sub, parent)`` adding its subcommands
with ``func`` set. User errors (:class:`sith.errors.SithError`) print one ``error: ...``
line and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from sith import __version__
from sith.cli import analyse, dictionary, edit, experiment, explore, ground, judge, organism
from sith.cli.common import quiet_parent
from sith.errors import SithError

#: Command groups, in the order ``sith --help`` lists them.
COMMAND_GROUPS = (analyse, dictionary, edit, experiment, explore, ground, judge, organism)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sith", description="Data-free weight-space interpretability of CLIP."
    )
    parser.add_argument("--version", action="version", version=f"sith {__version__}")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars or info messages"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    parent = quiet_parent()
    for group in COMMAND_GROUPS:
        group.register(sub, parent)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet = getattr(args, "quiet", False)
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO, format="sith: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except SithError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finished files are intact, rerun to resume", file=sys.stderr)
        return 130
