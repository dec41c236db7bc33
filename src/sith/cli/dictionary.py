"""``sith download-dictionary | encode-dictionary | image-mean``: the encode stage's inputs."""

from __future__ import annotations

import argparse
from pathlib import Path

from sith.cli.common import add_model_args, progress


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "download-dictionary",
        parents=[parent],
        help="write data/dictionaries/NAME.txt from its public source",
    )
    p.add_argument("--dictionary", required=True, help="conceptnet | wordnet | laion | efros")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="data root (default: data)")
    p.add_argument("--source", default=None, help="override the source URL or local file")
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
        help='prompt template, e.g. "a photo of {}" (a project option; the seed encodes raw strings)',
    )
    p.set_defaults(func=run_encode)

    p = sub.add_parser(
        "image-mean", parents=[parent], help="mean image embedding over a folder or .tar shards"
    )
    add_model_args(p)
    p.add_argument(
        "--images", required=True, help="a folder of images, a .tar shard or a glob of shards"
    )
    p.add_argument(
        "--batch-size", type=int, default=64, help="images per forward pass (default 64)"
    )
    p.add_argument("--skip-bad", action="store_true", help="skip and count unreadable images")
    p.set_defaults(func=run_image_mean)


def run_download(args: argparse.Namespace) -> int:
    from sith import api

    print(api.download_dictionary(args.dictionary, data_dir=args.data_dir, source=args.source))
    return 0


def run_encode(args: argparse.Namespace) -> int:
    from sith import api

    print(
        api.encode_dictionary(
            args.model_name,
            args.pretrained,
            dictionary=args.dictionary,
            data_dir=args.data_dir,
            device=args.device,
            batch_size=args.batch_size,
            template=args.template,
            progress=progress(args),
        )
    )
    return 0


def run_image_mean(args: argparse.Namespace) -> int:
    from sith import api

    print(
        api.image_mean(
            args.model_name,
            args.pretrained,
            images=args.images,
            data_dir=args.data_dir,
            device=args.device,
            batch_size=args.batch_size,
            skip_bad=args.skip_bad,
            progress=progress(args),
        )
    )
    return 0
