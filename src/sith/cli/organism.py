"""``sith organism train|eval`` flags (a thin shell over :mod:`sith.organism`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sith.cli.common import add_model_args, parse_layers, progress


def _kv(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set takes KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "organism", parents=[parent], help="train or evaluate the built-in model organism"
    )
    osub = p.add_subparsers(dest="organism_command", required=True)

    t = osub.add_parser(
        "train",
        parents=[parent],
        help="train the organism CLIP on the synthetic world (CPU, resumable)",
    )
    t.add_argument(
        "--out-dir",
        type=Path,
        default=Path("runs/organism"),
        help="checkpoints and log.jsonl go here (default: runs/organism)",
    )
    t.add_argument(
        "--set",
        type=_kv,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a TrainConfig field, e.g. --set steps=200 --set vision_layers=4",
    )
    t.add_argument(
        "--no-resume", action="store_true", help="start from step 0 even if --out-dir holds a checkpoint"
    )
    t.set_defaults(func=run_train)

    x = osub.add_parser(
        "export",
        parents=[parent],
        help="write a training checkpoint as the packaged organism (fp16)",
    )
    x.add_argument("checkpoint", type=Path, help="a checkpoint written by `sith organism train`")
    x.add_argument(
        "--out-dir", type=Path, default=None, help="default: the package's assets folder"
    )
    x.set_defaults(func=run_export)

    e = osub.add_parser(
        "eval",
        parents=[parent],
        help="score SITH's explanations against the world's ground truth",
        description="Decompose the organism with each method and score the explanations against "
        "the world's known concepts (factor recall, theme purity, fidelity, coherence). The recipe "
        "is docs/method.md; the settings it compares are docs/choices.md.",
    )
    add_model_args(e)
    e.add_argument(
        "--methods",
        nargs="+",
        default=None,
        help="decomposition methods to score (default: topk mp omp comp-0.1/0.3/0.5 ncomp-0.3 somp lasso)",
    )
    e.add_argument("--layers", type=parse_layers, nargs="+", default=None, help="default: last 2")
    e.add_argument("--sparsity", type=int, default=5, help="concepts per vector, K (default 5)")
    e.add_argument(
        "--settings",
        action="store_true",
        help="also compare atom modes, fold-ln and polarity rules (project options, docs/method.md; "
        "docs/choices.md)",
    )
    e.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    e.set_defaults(func=run_eval)


def run_train(args: argparse.Namespace) -> int:
    from sith.organism.train import TrainConfig, train

    config = TrainConfig.from_dict(dict(args.set))
    print(train(config, out_dir=args.out_dir, resume=not args.no_resume, progress=progress(args)))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from sith.organism.model import ASSET_DIR, export_organism

    print(
        export_organism(
            args.checkpoint, out_dir=args.out_dir or ASSET_DIR, measured_by="sith organism export"
        )
    )
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from sith.organism.evaluate import evaluate

    layers = None if args.layers is None else [x for g in args.layers for x in g]
    text, results = evaluate(
        args.model_name,
        args.pretrained,
        methods=args.methods,
        layers=layers,
        sparsity=args.sparsity,
        settings=args.settings,
        data_dir=args.data_dir,
        device=args.device,
        progress=progress(args),
    )
    print(text)
    if args.json:
        from sith.io import save_json

        print(save_json(results, args.json))
    return 0
