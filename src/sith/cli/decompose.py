"""``sith decompose``: explain every head's singular vectors with concepts (a thin shell over
:func:`sith.api.decompose`)."""

from __future__ import annotations

import argparse

from sith.cli.common import (
    add_decomposition_args,
    add_model_args,
    decomposition_options,
    progress,
)


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "decompose", parents=[parent], help="explain every head's singular vectors with concepts"
    )
    add_model_args(p)
    add_decomposition_args(p)
    p.add_argument("--force", action="store_true", help="recompute layers whose files already match")
    p.set_defaults(func=run_decompose)


def run_decompose(args: argparse.Namespace) -> int:
    from sith import api

    paths = api.decompose(
        args.model_name,
        args.pretrained,
        **decomposition_options(args),
        force=args.force,
        data_dir=args.data_dir,
        device=args.device,
        progress=progress(args),
    )
    for path in paths:
        print(path)
    return 0
