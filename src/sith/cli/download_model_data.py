"""``sith download-model-data``: the seed authors' published image means, encoded dictionaries and
decompositions."""

from __future__ import annotations

import argparse

from sith.cli.common import add_model_args, progress


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "download-model-data",
        parents=[parent],
        help="fetch the seed authors' image mean, encoded dictionaries and decompositions",
        description="Mirror the seed authors' Google Drive folder of one model into "
        "DATA_DIR/models/MODEL/TAG/ (image_mean.pt, dictionaries/*.pt, decompositions/*.pt), "
        "each file with a NAME.source.json provenance file. Published: ViT-L-14 "
        "laion2b_s32b_b82k, ViT-H-14 laion2b_s32b_b79k.",
    )
    add_model_args(p, name="ViT-L-14", tag="laion2b_s32b_b82k", device=False)
    p.add_argument(
        "--force", action="store_true", help="download again, replacing files that exist"
    )
    p.set_defaults(func=run_download_model_data)


def run_download_model_data(args: argparse.Namespace) -> int:
    from sith import api

    for path in api.download_model_data(
        args.model_name, args.pretrained, data_dir=args.data_dir, force=args.force,
        progress=progress(args),
    ):
        print(path)
    return 0
