"""``sith encode-dictionary``: encode a concept pool with the model's text tower (cached, resumable;
also under ``torchrun``)."""

from __future__ import annotations

import argparse

from sith.cli.common import (
    add_model_args,
    add_precision_arg,
    print_on_rank0,
    progress,
)


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "encode-dictionary",
        parents=[parent],
        help="encode a concept pool with the model's text tower",
    )
    add_model_args(p)
    p.add_argument(
        "--dictionary", default=None, help="pool name or text file (default: the model's)"
    )
    p.add_argument(
        "--batch-size", type=int, default=256, help="concepts per forward pass (default 256)"
    )
    p.add_argument(
        "--template",
        default=None,
        help='prompt template, e.g. "a photo of {}" (a project option; the seed encodes raw strings; '
        "written to NAME.tpl-<hex>.pt, never over the raw encoding)",
    )
    add_precision_arg(p, default=None, default_text="fp16 on cuda, fp32 on cpu")
    p.add_argument("--force", action="store_true", help="re-encode even if a reusable file exists")
    p.set_defaults(func=run_encode)


def run_encode(args: argparse.Namespace) -> int:
    from sith.pipeline import encoding as commands

    path = commands.encode_dictionary(
        args.model_name,
        args.pretrained,
        dictionary=args.dictionary,
        data_dir=args.data_dir,
        device=args.device,
        batch_size=args.batch_size,
        template=args.template,
        precision=args.precision,
        force=args.force,
        progress=progress(args),
    )
    print_on_rank0(path)
    return 0
