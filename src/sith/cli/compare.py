"""``sith compare``: how fine-tuning moved each head (a thin shell over :mod:`sith.compare`).

The base model is ``--model-name``/``--pretrained`` (as in every command; ``--base-model`` and
``--base-pretrained`` are deprecated aliases), the fine-tuned one ``--tuned-model``/``--tuned-pretrained``."""

from __future__ import annotations

import argparse
from pathlib import Path

from sith.cli.common import (
    add_device_arg,
    add_model_args,
    add_option_args,
    flat_layers,
    option_values,
    parse_layers,
    progress,
)
from sith.decompose.config import EXPLAIN_OPTIONS


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    c = sub.add_parser(
        "compare", parents=[parent],
        help="how fine-tuning moved each head: singular values, subspace angles, the weight change",
    )
    add_model_args(c, aliases=("--base-model", "--base-pretrained"), device=False)
    c.add_argument("--tuned-model", default=None, help="tuned model name (default: the base model)")
    c.add_argument("--tuned-pretrained", required=True, help="tuned tag or checkpoint path")
    c.add_argument("--layers", type=parse_layers, nargs="+", default=None, help="default: all")
    c.add_argument(
        "--rank", type=int, default=None,
        help="top-r singular subspaces for angles and energy shares (default: the head width)",
    )
    c.add_argument("--delta-top", type=int, default=3, help="top singular vectors of ΔW kept per head (3)")
    c.add_argument(
        "--dictionary", default=None,
        help="explain ΔW's top right singular vectors with this concept pool (COMP); default: off",
    )
    add_option_args(c, EXPLAIN_OPTIONS, helps={"sparsity": "concepts per explanation, K"})
    c.add_argument("--no-plots", action="store_true", help="do not draw the heatmap PNGs")
    c.add_argument(
        "--output-dir", type=Path, default=None,
        help="default: DATA_DIR/models/{tuned}/compare/{base}",
    )
    add_device_arg(c)
    c.set_defaults(func=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from sith.cli.checks import check_checkpoint_flags
    from sith.compare import compare_models_by_name

    check_checkpoint_flags(tuned_pretrained=args.tuned_pretrained, pretrained=args.pretrained)
    paths = compare_models_by_name(
        args.model_name, args.pretrained, args.tuned_model, args.tuned_pretrained,
        layers=flat_layers(args.layers), rank=args.rank, delta_top=args.delta_top,
        dictionary=args.dictionary, **option_values(args, EXPLAIN_OPTIONS), plots=not args.no_plots,
        data_dir=args.data_dir, output_dir=args.output_dir, device=args.device, progress=progress(args),
    )
    for path in paths:
        print(path)
    return 0
