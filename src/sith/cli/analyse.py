"""``sith decompose | show | search | verify``: thin shells over :mod:`sith.api`."""

from __future__ import annotations

import argparse
from pathlib import Path

from sith.cli.common import (
    METHOD_HELP,
    add_model_args,
    add_svd_args,
    flat_layers,
    parse_layers,
    progress,
)


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "decompose", parents=[parent], help="explain every head's singular vectors with concepts"
    )
    add_model_args(p)
    add_svd_args(p)
    p.add_argument("--layers", type=parse_layers, nargs="+", default=None, help="default: last 4")
    p.add_argument(
        "--rank",
        type=int,
        default=None,
        help="vectors per head (default: 64 capped at the head width)",
    )
    p.add_argument("--method", default="comp-0.3", help=METHOD_HELP)
    p.add_argument("--sparsity", type=int, default=5, help="concepts per vector, K (default 5)")
    p.add_argument(
        "--dictionary",
        default=None,
        help="pool name or text file (default: conceptnet; the organism's own pool for the organism)",
    )
    p.add_argument("--both-polarities", action="store_true", help="also store the other polarity")
    p.add_argument("--atoms", dest="atoms_mode", default=None, help="raw | center | image-cone")
    p.set_defaults(func=run_decompose)

    p = sub.add_parser(
        "show", parents=[parent], help="print a decomposition as a table, JSON or CSV"
    )
    p.add_argument("file", type=Path, help="a decomposition .pt written by sith decompose")
    p.add_argument("--layer", type=int, default=None, help="label rows with this layer")
    p.add_argument("--head", type=int, nargs="+", default=None, help="only these heads")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON instead of a table")
    fmt.add_argument("--csv", action="store_true", help="CSV instead of a table")
    p.add_argument("--output", type=Path, default=None, help="write to a file instead of stdout")
    p.set_defaults(func=run_show)

    p = sub.add_parser(
        "search", parents=[parent], help="which heads' singular vectors align with a concept"
    )
    p.add_argument("concept", help="a concept string, encoded with the model's text tower")
    add_model_args(p)
    add_svd_args(p)
    p.add_argument("--dictionary", default=None, help="dictionary whose centring the concept uses")
    p.add_argument("--layers", type=parse_layers, nargs="+", default=None, help="default: all")
    p.add_argument("--top", type=int, default=20, help="how many components to list (default 20)")
    p.set_defaults(func=run_search)

    p = sub.add_parser(
        "verify", parents=[parent], help="check extracted weights against the model's forward pass"
    )
    add_model_args(p)
    p.set_defaults(func=run_verify)


def decompose_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of :func:`sith.api.decompose` named by the parsed flags."""
    return {
        "layers": flat_layers(args.layers),
        "rank": args.rank,
        "method": args.method,
        "sparsity": args.sparsity,
        "dictionary": args.dictionary,
        "sv_type": args.sv_type,
        "fold_ln": args.fold_ln,
        "data_dir": args.data_dir,
        "device": args.device,
        "both_polarities": args.both_polarities,
        "atoms_mode": args.atoms_mode,
    }


def run_decompose(args: argparse.Namespace) -> int:
    from sith import api

    paths = api.decompose(
        args.model_name, args.pretrained, **decompose_options(args), progress=progress(args)
    )
    for path in paths:
        print(path)
    return 0


def run_show(args: argparse.Namespace) -> int:
    from sith import api

    fmt = "json" if args.json else "csv" if args.csv else "table"
    text = api.show(args.file, layer=args.layer, heads=args.head, fmt=fmt)
    if args.output:
        from sith.io import save_text

        print(save_text(text, args.output))
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return 0


def run_search(args: argparse.Namespace) -> int:
    from sith import api

    hits = api.search(
        args.concept,
        args.model_name,
        args.pretrained,
        dictionary=args.dictionary,
        layers=flat_layers(args.layers),
        top=args.top,
        fold_ln=args.fold_ln,
        sv_type=args.sv_type,
        data_dir=args.data_dir,
        device=args.device,
        progress=progress(args),
    )
    print(api.format_hits(hits))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from sith import api

    errors = api.verify(args.model_name, args.pretrained, device=args.device)
    for layer, err in enumerate(errors):
        print(f"layer {layer:>3}: max abs error {err:.3e}")
    return 0
