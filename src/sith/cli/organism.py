"""``sith organism train|eval`` flags (a thin shell over :mod:`sith.organism`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sith.cli.common import (
    add_data_dir_arg,
    add_model_args,
    add_option_args,
    option_values,
    parse_layers,
    progress,
)
from sith.decompose.config import RECIPE_OPTIONS
from sith.errors import SithError


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
        "--output-dir",
        dest="out_dir",
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
        help="override a TrainConfig field, e.g. --set steps=200 --set vision_layers=4 "
        "--set 'caption_rates={\"size\": 0.8}'",
    )
    t.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="start from these weights (a training checkpoint or an exported organism-*.safetensors) "
        "instead of a random initialisation",
    )
    t.add_argument(
        "--no-resume", action="store_true", help="start from step 0 even if --output-dir holds a checkpoint"
    )
    t.add_argument(
        "--branch-from",
        type=Path,
        default=None,
        help="continue a control run's snapshot (weights, optimizer, step) under this config's routing "
        "(organism v2: same recipe but the routing_* fields)",
    )
    t.set_defaults(func=run_train)

    x = osub.add_parser(
        "export",
        parents=[parent],
        help="write a training checkpoint as the packaged organism (fp16)",
    )
    x.add_argument("checkpoint", type=Path, help="a checkpoint written by `sith organism train`")
    x.add_argument(
        "--output-dir",
        dest="out_dir",
        type=Path,
        default=None,
        help="where organism-TAG.safetensors/.json go (default: DATA_DIR/organisms; never the "
        "installed package); load it with --pretrained OUT_DIR/organism-TAG.safetensors",
    )
    add_data_dir_arg(x)
    x.add_argument("--tag", default=None, help="the exported organism's tag (default: the shipped default)")
    x.set_defaults(func=run_export)

    e = osub.add_parser(
        "eval",
        parents=[parent],
        help="score SITH's explanations against the world's ground truth",
        description="Score SITH's explanations of the organism against counterfactual twins: per factor "
        "the trained twin score beside strength-matched random directions from other heads and from the "
        "same head, the naming share of the heads that carry the factor's direct margin, and the "
        "held-out single-value ceiling; then every null and the verdict (docs/organism.md, 'The twin "
        "test'). --grounded adds the top-concept grounded AUC, --faithfulness the reconstruction check. "
        "The recipe is the seed's (docs/method.md) unless --method/--polarity/--no-image-mean/... "
        "name a recipe choice; the header and the JSON's 'recipe' say which ran.",
    )
    add_model_args(e)
    e.add_argument("--layers", type=parse_layers, nargs="+", default=None, help="default: last 2")
    e.add_argument("--sparsity", type=int, default=5, help="concepts per vector, K (default 5)")
    add_option_args(e, RECIPE_OPTIONS)
    e.add_argument("--twin-pairs", type=int, default=None,
                   help="twin pairs per factor for the twin test (default: twins.N_PAIRS, 200)")
    e.add_argument("--twin-seeds", type=int, nargs="+", default=None,
                   help="image seeds of the twin test, one draw each (default: twins.TWIN_SEED)")
    e.add_argument("--no-plausible", action="store_true",
                   help="skip the world-pool (plausible distractor) explanations of the twin test")
    e.add_argument("--no-twins", action="store_true", help="skip the twin test")
    e.add_argument(
        "--grounded",
        action="store_true",
        help="also score each explained component's activation on fresh world images (AUC, "
        "top-20 precision) beside the nulls",
    )
    e.add_argument(
        "--faithfulness",
        action="store_true",
        help="also replace the analysed components by their explanations' reconstructions and "
        "measure zero-shot accuracy (with shuffled and random controls)",
    )
    e.add_argument("--n-images", type=int, default=1000, help="world images for --grounded (default 1000)")
    e.add_argument(
        "--image-seed",
        type=int,
        default=None,
        help="seed of the --grounded world images (default: sith.organism_eval.grounded.GROUND_SEED, "
        "never used in training)",
    )
    e.add_argument("--n-zeroshot", type=int, default=200, help="images per factor for --faithfulness")
    e.add_argument("--null-seed", type=int, default=0, help="seed of the null baselines (default 0)")
    e.add_argument("--json", action="store_true", help="print the results as JSON instead of the tables")
    e.add_argument(
        "--output", type=Path, default=None, metavar="FILE.json",
        help="also write the results to this file (JSON)"
    )
    e.set_defaults(func=run_eval)


def run_train(args: argparse.Namespace) -> int:
    from sith.organism.train import TrainConfig, train

    config = TrainConfig.from_dict(dict(args.set))
    print(train(config, out_dir=args.out_dir, resume=not args.no_resume, progress=progress(args),
                init_from=args.init_from, branch_from=args.branch_from))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from sith.organism import ORGANISM_TAG
    from sith.organism.model import export_organism, exports_dir

    tag = args.tag or ORGANISM_TAG
    if not tag.replace("-", "").replace("_", "").isalnum():
        raise SithError(f"--tag {tag!r} must be letters, digits, '-' or '_' (it names the files)")
    print(
        export_organism(
            args.checkpoint,
            out_dir=args.out_dir or exports_dir(args.data_dir),
            tag=tag,
            measured_by="sith organism export",
        )
    )
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from sith.organism_eval.evaluate import Options, TwinOptions, evaluate
    from sith.organism_eval.twins import N_PAIRS, TWIN_SEED

    layers = None if args.layers is None else [x for g in args.layers for x in g]
    if args.no_twins and (args.twin_pairs is not None or args.twin_seeds is not None or args.no_plausible):
        raise SithError("--twin-pairs/--twin-seeds/--no-plausible set the twin test; drop --no-twins")
    pairs = N_PAIRS if args.twin_pairs is None else args.twin_pairs
    if pairs < 10:
        raise SithError(f"--twin-pairs must be at least 10, got {pairs}")
    if args.twin_seeds is not None and min(args.twin_seeds) < 0:
        raise SithError(f"--twin-seeds must be non-negative integers, got {min(args.twin_seeds)}")
    twins = None if args.no_twins else TwinOptions(
        n_pairs=pairs, seeds=tuple(args.twin_seeds or (TWIN_SEED,)), null_seed=args.null_seed,
        plausible=not args.no_plausible)
    if args.n_images < 20:
        raise SithError(f"--n-images must be at least 20 (the top-20 precision), got {args.n_images}")
    if args.n_zeroshot < 1:
        raise SithError(f"--n-zeroshot must be positive, got {args.n_zeroshot}")
    seeds = {} if args.image_seed is None else {"image_seed": args.image_seed}
    options = Options(
        grounded=args.grounded, faithful=args.faithfulness, n_images=args.n_images,
        n_zeroshot=args.n_zeroshot, seed=args.null_seed, **seeds,
    )
    text, results = evaluate(
        args.model_name,
        args.pretrained,
        layers=layers,
        sparsity=args.sparsity,
        options=options,
        twins=twins,
        recipe=option_values(args, RECIPE_OPTIONS),
        data_dir=args.data_dir,
        device=args.device,
        progress=progress(args),
    )
    record = {"format": "sith-organism-eval/2", **results}
    if args.json:
        print(json.dumps(record, indent=1))
    else:
        print(text)
    if args.output:
        from sith.io import save_json

        print(save_json(record, args.output), file=sys.stderr if args.json else sys.stdout)
    return 0
