"""``sith ground``: top images and patch maps per component (a thin shell over :mod:`sith.ground`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sith.cli.common import (
    add_model_args,
    add_skip_bad_arg,
    add_top_arg,
    flat_layers,
    parse_layers,
    positive_int,
    progress,
    skip_bad_option,
)


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "ground", parents=[parent],
        help="ground every component in images: top images of both signs, statistics, PNG grids",
    )
    add_model_args(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--images", default=None,
        help="a folder of images, a .tar shard, a glob of shards, or a .txt file list (one path a line)",
    )
    src.add_argument("--world", type=positive_int, default=None, metavar="N",
                     help="N images of the organism's world (N >= 1)")
    p.add_argument("--world-seed", type=int, default=0, help="seed of the world images (default 0)")
    p.add_argument(
        "--world-variant", choices=("train", "shifted"), default="train", help="world variant"
    )
    p.add_argument("--layers", type=parse_layers, nargs="+", default=None, help="default: last 4")
    p.add_argument("--rank", type=int, default=None, help="components per head (default: 64 capped at dh)")
    add_top_arg(p, default=16, what="images kept per component and sign", dest="top_k")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")
    add_skip_bad_arg(p)
    p.add_argument(
        "--save-activations", action="store_true",
        help="also store every image's activations (memory and file grow with the images)",
    )
    p.add_argument("--no-grids", action="store_true", help="do not draw PNG grids")
    p.add_argument("--grid-components", type=int, default=4, help="components per head in a grid (4)")
    p.add_argument("--grid-images", type=int, default=8, help="images per row in a grid (8)")
    p.add_argument(
        "--output-dir", type=Path, default=None,
        help="default: DATA_DIR/models/{model}/{pretrained}/grounding/{source}",
    )
    p.set_defaults(func=run_ground)


def run_ground(args: argparse.Namespace) -> int:
    from sith.api import ground

    paths = ground(
        args.model_name, args.pretrained, images=args.images, world=args.world or 0,
        world_seed=args.world_seed, world_variant=args.world_variant,
        layers=flat_layers(args.layers), rank=args.rank, k=args.top_k, batch_size=args.batch_size,
        **skip_bad_option(args), keep_all=args.save_activations, grids=not args.no_grids,
        grid_components=args.grid_components, grid_images=args.grid_images,
        data_dir=args.data_dir, output_dir=args.output_dir, device=args.device, progress=progress(args),
    )
    pngs = [p for p in paths if p.suffix == ".png"]
    for path in paths:
        if path.suffix != ".png":
            print(path)
    if pngs:
        print(f"{len(pngs)} grids in {pngs[0].parent}")
    return 0
