"""``sith download-dictionary``: write ``data/dictionaries/NAME.txt``: the seed authors' list
(default) or our derivation."""

from __future__ import annotations

import argparse

from sith.cli.common import add_data_dir_arg, progress


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "download-dictionary",
        parents=[parent],
        help="write data/dictionaries/NAME.txt: the seed authors' list (default) or our derivation",
    )
    p.add_argument("name", nargs="?", default=None, help="conceptnet | wordnet | laion | efros")
    p.add_argument("--dictionary", default=None, help="the same as NAME")
    add_data_dir_arg(p)
    p.add_argument(
        "--source",
        default="seed",
        help="seed (default: the authors' exact list from their Google Drive) | original "
        "(derived from the public source, sith.encode.pools) | a URL or local file of the "
        "original source's format",
    )
    p.set_defaults(func=run_download)


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
