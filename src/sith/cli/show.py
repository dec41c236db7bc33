"""``sith show``: print a decomposition as a table, JSON or CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

from sith.cli.common import (
    add_format_args,
    add_heads_arg,
    emit,
    output_format,
    parse_layers,
)


def layer_index(text: str) -> int:
    """``--layer``: one layer index, counted from 0 as ``--layers`` everywhere."""
    layers = parse_layers(text)
    if len(layers) != 1:
        raise argparse.ArgumentTypeError(f"--layer takes one layer index, got {text!r}")
    return layers[0]


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "show", parents=[parent], help="print a decomposition as a table, JSON or CSV"
    )
    p.add_argument("file", type=Path, help="a decomposition .pt written by sith decompose")
    p.add_argument("--layer", type=layer_index, default=None, help="check that the file holds this layer")
    add_heads_arg(p)
    add_format_args(p)
    p.set_defaults(func=run_show)


def run_show(args: argparse.Namespace) -> int:
    from sith.decompose.report import show  # torch only: `sith show` starts fast

    emit(show(args.file, layer=args.layer, heads=args.heads, fmt=output_format(args)), args.output)
    return 0
