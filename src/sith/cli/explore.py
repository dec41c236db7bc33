"""``sith explore``: a thin shell over :func:`sith.explore.build_explorer`."""

from __future__ import annotations

import argparse
from pathlib import Path

from sith.cli.common import add_model_args, add_top_arg, flat_layers, parse_layers, progress


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "explore",
        parents=[parent],
        help="write one offline HTML page to browse, search and share every decomposed head",
    )
    add_model_args(p)
    p.add_argument(
        "--layers", type=parse_layers, nargs="+", default=None, help="default: every decomposed layer"
    )
    p.add_argument("--method", default=None, help="pick decompositions made with this method")
    p.add_argument("--sparsity", type=int, default=None, help="pick decompositions with this K")
    p.add_argument("--dictionary", default=None, help="pick decompositions made with this dictionary")
    p.add_argument("--edit-log", type=Path, default=None, help="highlight the components this log edits")
    p.add_argument(
        "--queries",
        default=None,
        help="comma-separated concepts ranked with `sith search` at build time, e.g. water,red",
    )
    add_top_arg(p, default=20, what="hits per query")
    p.add_argument(
        "--blur-words", type=Path, default=None, help="text file, one word a line: blurred until hovered"
    )
    p.add_argument(
        "--grounding",
        type=Path,
        default=None,
        help="a `sith ground` output folder, or a folder of them "
        "(default: every one in {model dir}/grounding/)",
    )
    p.add_argument(
        "--compare", type=Path, default=None, help="compare.json written by `sith compare` (per-head changes)"
    )
    p.add_argument(
        "--judge", type=Path, default=None, help="`sith judge ... --json` output (a score per component)"
    )
    p.add_argument("--output", type=Path, default=Path("sith.html"), metavar="PAGE",
                   help="the HTML page to write (default sith.html)")
    p.set_defaults(func=run_explore)


def run_explore(args: argparse.Namespace) -> int:
    from sith.cli.checks import check_output_file
    from sith.explore import build_explorer

    check_output_file(args.output)  # before any decomposition or page is made

    path = build_explorer(
        args.model_name,
        args.pretrained,
        data_dir=args.data_dir,
        layers=flat_layers(args.layers),
        method=args.method,
        sparsity=args.sparsity,
        dictionary=args.dictionary,
        edit_log=args.edit_log,
        queries=args.queries,
        top=args.top,
        blur_words=args.blur_words,
        grounding=args.grounding,
        compare=args.compare,
        judge=args.judge,
        output=args.output,
        device=args.device,
        progress=progress(args),
    )
    print(path)
    return 0
