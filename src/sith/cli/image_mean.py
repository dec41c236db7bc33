"""``sith image-mean``: mean unit image embedding over a folder, file list or webdataset shards (also
under ``torchrun``)."""

from __future__ import annotations

import argparse

from sith.cli.common import (
    add_model_args,
    add_precision_arg,
    add_skip_bad_arg,
    print_on_rank0,
    progress,
    skip_bad_option,
)


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
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
        "--workers", type=int, default=None,
        help="DataLoader processes reading and decoding (default: sized to the CPUs; 0: none)",
    )
    p.add_argument(
        "--decode", choices=("pil", "draft", "device"), default="pil",
        help="pil: PIL in the workers (the seed's pixels, default); options, other pixels, recorded in "
        "image_mean.json: draft (JPEG draft mode at reduced size), device (JPEGs decoded and resized on "
        "the model's device: nvJPEG on CUDA)",
    )
    add_precision_arg(p, default="fp32", default_text="fp32")
    add_skip_bad_arg(p)
    p.add_argument(
        "--restart", action="store_true", help="discard the progress of an interrupted run first"
    )
    p.set_defaults(func=run_image_mean)


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
        decode=args.decode,
        **skip_bad_option(args),
        restart=args.restart,
        progress=progress(args),
    )
    print_on_rank0(path)
    return 0
