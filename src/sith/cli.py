"""The ``sith`` command: a thin argparse shell over the library's functions (no logic here).

Every subcommand parses flags, calls one documented API function and prints its result.
User errors (:class:`sith.errors.SithError`) print one ``error: ...`` line and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from sith import __version__
from sith.errors import SithError

METHOD_HELP = "topk | omp | nnomp | comp-<lambda in [0,1]> | lasso"


def _layers(text: str) -> list[int]:
    try:
        return [int(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--layers takes integers, got {text!r}") from None


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-name", default=None, help="open_clip name, HF dir/id (default: sith-organism)")
    p.add_argument("--pretrained", default=None, help="open_clip tag or checkpoint path (default: v1)")
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--device", default="cpu")


def _svd_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sv-type", choices=("left", "right"), default="right")
    p.add_argument("--fold-ln", action=argparse.BooleanOptionalAction, default=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sith", description="Data-free weight-space interpretability of CLIP."
    )
    parser.add_argument("--version", action="version", version=f"sith {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info messages")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("decompose", help="explain every head's singular vectors with concepts")
    _model_args(p)
    _svd_args(p)
    p.add_argument("--layers", type=_layers, nargs="+", default=None, help="default: last 4")
    p.add_argument("--rank", type=int, default=None, help="default: 64 capped at the head width")
    p.add_argument("--method", default="comp-0.3", help=METHOD_HELP)
    p.add_argument("--sparsity", type=int, default=5)
    p.add_argument("--dictionary", default=None, help="pool name or text file (default: the model's own)")
    p.add_argument("--both-polarities", action="store_true")
    p.add_argument("--atoms", dest="atoms_mode", default=None, help="raw | center | image-cone")

    p = sub.add_parser("show", help="print a decomposition as a table, JSON or CSV")
    p.add_argument("file", type=Path)
    p.add_argument("--layer", type=int, default=None)
    p.add_argument("--head", type=int, nargs="+", default=None)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    p.add_argument("--output", type=Path, default=None, help="write to a file instead of stdout")

    p = sub.add_parser("search", help="which heads' singular vectors align with a concept")
    p.add_argument("concept")
    _model_args(p)
    _svd_args(p)
    p.add_argument("--dictionary", default=None)
    p.add_argument("--layers", type=_layers, nargs="+", default=None, help="default: all")
    p.add_argument("--top", type=int, default=20)

    p = sub.add_parser("verify", help="check extracted weights against the model's forward pass")
    _model_args(p)

    p = sub.add_parser("download-dictionary", help="write data/dictionaries/NAME.txt from its public source")
    p.add_argument("--dictionary", required=True)
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--source", default=None, help="override the source URL or local file")

    p = sub.add_parser("encode-dictionary", help="encode a concept pool with the model's text tower")
    _model_args(p)
    p.add_argument("--dictionary", default=None)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--template", default=None, help='prompt template, e.g. "a photo of {}"')

    p = sub.add_parser("image-mean", help="mean image embedding over a folder or .tar shards")
    _model_args(p)
    p.add_argument("--images", required=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--skip-bad", action="store_true")

    from sith.cli_edit import add_edit_parser
    from sith.organism.cli import add_organism_parser

    add_edit_parser(sub)
    add_organism_parser(sub)
    return parser


def _flat(layers: list[list[int]] | None) -> list[int] | None:
    return None if layers is None else [x for group in layers for x in group]


def run(args: argparse.Namespace) -> int:
    from sith import api

    progress = not args.quiet
    if args.command == "decompose":
        paths = api.decompose(
            args.model_name,
            args.pretrained,
            layers=_flat(args.layers),
            rank=args.rank,
            method=args.method,
            sparsity=args.sparsity,
            dictionary=args.dictionary,
            sv_type=args.sv_type,
            fold_ln=args.fold_ln,
            data_dir=args.data_dir,
            device=args.device,
            both_polarities=args.both_polarities,
            atoms_mode=args.atoms_mode,
            progress=progress,
        )
        for path in paths:
            print(path)
    elif args.command == "show":
        fmt = "json" if args.json else "csv" if args.csv else "table"
        text = api.show(args.file, layer=args.layer, heads=args.head, fmt=fmt)
        if args.output:
            from sith.io import save_text

            print(save_text(text, args.output))
        else:
            print(text, end="" if text.endswith("\n") else "\n")
    elif args.command == "search":
        print(
            api.format_hits(
                api.search(
                    args.concept,
                    args.model_name,
                    args.pretrained,
                    dictionary=args.dictionary,
                    layers=_flat(args.layers),
                    top=args.top,
                    fold_ln=args.fold_ln,
                    sv_type=args.sv_type,
                    data_dir=args.data_dir,
                    device=args.device,
                    progress=progress,
                )
            )
        )
    elif args.command == "verify":
        errors = api.verify(args.model_name, args.pretrained, device=args.device)
        for layer, err in enumerate(errors):
            print(f"layer {layer:>3}: max abs error {err:.3e}")
    elif args.command == "download-dictionary":
        print(api.download_dictionary(args.dictionary, data_dir=args.data_dir, source=args.source))
    elif args.command == "encode-dictionary":
        print(
            api.encode_dictionary(
                args.model_name,
                args.pretrained,
                dictionary=args.dictionary,
                data_dir=args.data_dir,
                device=args.device,
                batch_size=args.batch_size,
                template=args.template,
                progress=progress,
            )
        )
    elif args.command == "image-mean":
        print(
            api.image_mean(
                args.model_name,
                args.pretrained,
                images=args.images,
                data_dir=args.data_dir,
                device=args.device,
                batch_size=args.batch_size,
                skip_bad=args.skip_bad,
                progress=progress,
            )
        )
    else:
        return args.func(args)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="sith: %(message)s")
    try:
        return run(args)
    except SithError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finished files are intact, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
