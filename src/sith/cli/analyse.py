"""``sith decompose | show | search | verify``: thin shells over :mod:`sith.api`."""

from __future__ import annotations

import argparse
from pathlib import Path

from sith.cli.common import (
    add_decomposition_args,
    add_format_args,
    add_model_args,
    add_svd_args,
    decomposition_options,
    emit,
    flat_layers,
    output_format,
    parse_layers,
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

    p = sub.add_parser(
        "show", parents=[parent], help="print a decomposition as a table, JSON or CSV"
    )
    p.add_argument("file", type=Path, help="a decomposition .pt written by sith decompose")
    p.add_argument("--layer", type=int, default=None, help="check that the file holds this layer")
    p.add_argument("--head", type=int, nargs="+", default=None, help="only these heads")
    add_format_args(p)
    p.set_defaults(func=run_show)

    p = sub.add_parser(
        "search", parents=[parent], help="which heads' singular vectors align with a concept"
    )
    p.add_argument("concept", help="a concept string, encoded with the model's text tower")
    add_model_args(p)
    add_svd_args(p)
    p.add_argument("--dictionary", default=None, help="dictionary whose centring the concept uses")
    p.add_argument("--atoms", choices=("center", "raw", "image-cone"), default="center",
                   help="make the concept's atom like the dictionary's (default: center, the seed's)")
    p.add_argument("--image-mean", action=argparse.BooleanOptionalAction, default=True,
                   help="subtract the image mean from targets (seed, default)")
    p.add_argument("--layers", type=parse_layers, nargs="+", default=None, help="default: all")
    p.add_argument("--top", type=int, default=20, help="how many components to list (default 20)")
    add_format_args(p)
    p.set_defaults(func=run_search)

    p = sub.add_parser(
        "verify", parents=[parent], help="check extracted weights against the model's forward pass"
    )
    add_model_args(p)
    p.set_defaults(func=run_verify)


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


def run_show(args: argparse.Namespace) -> int:
    from sith.decompose.report import show  # torch only: `sith show` starts fast

    emit(show(args.file, layer=args.layer, heads=args.head, fmt=output_format(args)), args.output)
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
        atoms=args.atoms,
        image_mean=args.image_mean,
        data_dir=args.data_dir,
        device=args.device,
        progress=progress(args),
    )
    emit(api.format_hits(hits, fmt=output_format(args)), args.output)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from sith import api

    errors = api.verify(args.model_name, args.pretrained, device=args.device)
    for layer, err in enumerate(errors):
        print(f"layer {layer:>3}: max abs error {err:.3e}")
    return 0
