"""``sith search``: which components align with a concept, and whether the model knows it
(:func:`sith.api.search`)."""

from __future__ import annotations

import argparse

from sith.cli.common import (
    add_format_args,
    add_model_args,
    add_svd_args,
    emit,
    flat_layers,
    output_format,
    parse_layers,
    progress,
)


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
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


def run_search(args: argparse.Namespace) -> int:
    from sith import api
    from sith.cli.checks import check_query, check_query_fits

    check_query(args.concept)  # before the model loads
    check_query_fits(api.workspace(args.model_name, args.pretrained, data_dir=args.data_dir,
                                   device=args.device).clip.tokenizer, args.concept)

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
