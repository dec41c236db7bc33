"""``sith download-dictionary | encode-dictionary | image-mean``: the encode stage's inputs.

``encode-dictionary`` and ``image-mean`` also run under ``torchrun --nproc_per_node N -m sith``
(work split across ranks; :mod:`sith.pipeline.encoding`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sith.cli.common import add_model_args, add_skip_bad_arg, progress, skip_bad_option


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "download-dictionary",
        parents=[parent],
        help="write data/dictionaries/NAME.txt: the seed authors' list (default) or our derivation",
    )
    p.add_argument("name", nargs="?", default=None, help="conceptnet | wordnet | laion | efros")
    p.add_argument("--dictionary", default=None, help="the same as NAME")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="data root (default: data)")
    p.add_argument(
        "--source",
        default="seed",
        help="seed (default: the authors' exact list from their Google Drive) | original "
        "(derived from the public source, sith.encode.pools) | a URL or local file of the "
        "original source's format",
    )
    p.set_defaults(func=run_download)

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

    p = sub.add_parser(
        "image-mean",
        parents=[parent],
        help="mean image embedding over a folder, file list or webdataset shards",
    )
    add_model_args(p)
    p.add_argument(
        "--images",
        required=True,
        help="a folder, a .txt list of image/shard paths, a .tar shard, a brace pattern "
        "(cc12m/{00000..01242}.tar) or a glob; join several with ::",
    )
    p.add_argument(
        "--batch-size", type=int, default=64, help="images per forward pass (default 64)"
    )
    p.add_argument(
        "--workers", type=int, default=2, help="DataLoader processes reading and decoding (default 2)"
    )
    add_precision_arg(p, default="fp32", default_text="fp32")
    add_skip_bad_arg(p)
    p.add_argument(
        "--restart", action="store_true", help="discard the progress of an interrupted run first"
    )
    p.set_defaults(func=run_image_mean)


def add_precision_arg(p: argparse.ArgumentParser, *, default: str | None, default_text: str) -> None:
    p.add_argument(
        "--precision",
        choices=("fp32", "fp16", "bf16"),
        default=default,
        help=f"autocast precision of the tower; sums stay float64 (default: {default_text})",
    )


def run_download(args: argparse.Namespace) -> int:
    from sith import api
    from sith.errors import SithError

    names = {args.name, args.dictionary} - {None}
    if len(names) != 1:
        raise SithError("name one dictionary: `sith download-dictionary NAME` (or --dictionary NAME)")
    print(
        api.download_dictionary(
            names.pop(), data_dir=args.data_dir, source=args.source,
            progress=progress(args),
        )
    )
    return 0


def _print_on_rank0(path: Path) -> None:
    """Print the written path once (under torchrun every rank returns it)."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(path)


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
    _print_on_rank0(path)
    return 0


def run_image_mean(args: argparse.Namespace) -> int:
    from sith.pipeline import encoding as commands

    path = commands.image_mean(
        args.model_name,
        args.pretrained,
        images=args.images,
        data_dir=args.data_dir,
        device=args.device,
        batch_size=args.batch_size,
        workers=args.workers,
        precision=args.precision,
        **skip_bad_option(args),
        restart=args.restart,
        progress=progress(args),
    )
    _print_on_rank0(path)
    return 0
