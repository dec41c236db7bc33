"""``sith compare``: how fine-tuning moved each head (a thin shell over :mod:`sith.compare`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sith.cli.common import (
    flat_layers,
    parse_layers,
    progress,
)


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    c = sub.add_parser(
        "compare", parents=[parent],
        help="how fine-tuning moved each head: singular values, subspace angles, the weight change",
    )
    c.add_argument("--base-model", default=None, help="base model name (default: sith-organism)")
    c.add_argument("--base-pretrained", default=None, help="base tag or checkpoint (default: v1)")
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
    c.add_argument("--sparsity", type=int, default=5, help="concepts per explanation (default 5)")
    c.add_argument("--no-plots", action="store_true", help="do not draw the heatmap PNGs")
    c.add_argument("--data-dir", type=Path, default=Path("data"), help="data root (default: data)")
    c.add_argument(
        "--output-dir", type=Path, default=None,
        help="default: DATA_DIR/models/{tuned}/compare/{base}",
    )
    c.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    c.set_defaults(func=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from sith.cli.checks import check_checkpoint_flags
    from sith.compare import compare_models_by_name

    check_checkpoint_flags(tuned_pretrained=args.tuned_pretrained, base_pretrained=args.base_pretrained)
    paths = compare_models_by_name(
        args.base_model, args.base_pretrained, args.tuned_model, args.tuned_pretrained,
        layers=flat_layers(args.layers), rank=args.rank, delta_top=args.delta_top,
        dictionary=args.dictionary, sparsity=args.sparsity, plots=not args.no_plots,
        data_dir=args.data_dir, output_dir=args.output_dir, device=args.device, progress=progress(args),
    )
    for path in paths:
        print(path)
    return 0
