"""``sith search``: which components align with a concept, and whether the model knows it
(:func:`sith.api.search`)."""

from __future__ import annotations

import argparse

from sith.cli.common import (
    add_format_args,
    add_model_args,
    add_option_args,
    add_top_arg,
    emit,
    flat_layers,
    option_values,
    output_format,
    parse_layers,
    progress,
)
from sith.decompose.config import SEARCH_OPTIONS


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "search", parents=[parent], help="which heads' singular vectors align with a concept"
    )
    p.add_argument("concept", help="a concept string, encoded with the model's text tower")
    add_model_args(p)
    p.add_argument(
        "--layers", type=parse_layers, nargs="+", default=None, help="only these layers (default: all)"
    )
    add_top_arg(p, default=20, what="components to list")
    helps = {
        "dictionary": "the dictionary whose centring the concept's atom uses",
        "atoms": "make the concept's atom like the dictionary's",
    }
    add_option_args(p, SEARCH_OPTIONS, helps=helps)
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
        layers=flat_layers(args.layers),
        top=args.top,
        **option_values(args, SEARCH_OPTIONS),
        data_dir=args.data_dir,
        device=args.device,
        progress=progress(args),
    )
    emit(api.format_hits(hits, fmt=output_format(args)), args.output)
    return 0
