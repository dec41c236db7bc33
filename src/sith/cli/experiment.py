"""``sith experiment fidelity|spurious|nsfw|classification``: the paper's experiments.

See docs/experiments.md.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from sith.cli.common import add_model_args, flat_layers, parse_layers, progress
from sith.cli.judge import EXPERIMENT_JUDGES, add_llm_args, add_score_by_arg, llm_judge_from_args

NAMES = ("fidelity", "spurious", "nsfw", "classification", "edit")
DATASETS = ("organism", "waterbirds", "visu", "flowers102", "dtd", "fgvc_aircraft", "imagefolder")


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "experiment",
        parents=[parent],
        help="the paper's experiments with controls: fidelity (4.1), spurious (5.1), nsfw (5.2), "
        "classification (5.3); edit: sith edit's default plan with controls",
    )
    p.add_argument("name", choices=NAMES, help="which experiment")
    add_model_args(p)
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")
    p.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="results folder (default: DATA_DIR/models/MODEL/PRETRAINED/experiments/NAME)",
    )
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default="organism",
        help="organism (built-in world, default) or a benchmark in its published layout",
    )
    p.add_argument("--root", type=Path, default=None, help="the benchmark's folder (real layout, unchanged)")
    p.add_argument("--split", default="test", help="benchmark split (default test; imagefolder: all)")
    p.add_argument(
        "--judge",
        choices=EXPERIMENT_JUDGES,
        default=EXPERIMENT_JUDGES[0],
        help="embedding (offline, default), words (offline, no model: concepts containing a task word) "
        "or llm (an OpenAI-compatible endpoint)",
    )
    add_llm_args(p)
    p.add_argument(
        "--task-concepts",
        default=None,
        help="comma-separated concepts of the judged task (embedding judge; default per experiment)",
    )
    add_score_by_arg(p)
    p.add_argument("--seeds", type=int, default=3, help="fresh image seeds on the organism (default 3)")
    p.add_argument("--n", type=int, default=200, help="images per organism measurement (default 200)")
    p.add_argument("--draws", type=int, default=5, help="random-control draws (default 5)")
    p.add_argument(
        "--n-boot", type=int, default=1000, help="bootstrap resamples on benchmarks (default 1000)"
    )
    p.add_argument(
        "--layers", type=parse_layers, nargs="+", default=None, help="analysed layers (default: last 4)"
    )
    p.add_argument(
        "--dictionary",
        default=None,
        help="concept pool name or text file (default: conceptnet; the organism's own pool)",
    )
    p.add_argument(
        "--request",
        action="append",
        default=None,
        help='edit: a comma-separated request as given to sith edit --suppress (repeatable; default: '
        '"skull", "red" and "water,ocean")',
    )
    p.add_argument("--methods", default="topk,mp,omp,comp-0.2,comp-0.3,comp-0.4", help="fidelity: methods")
    p.add_argument("--ks", default="5,10,20,50", help="fidelity: sparsities K")
    p.set_defaults(func=run_experiment)


def default_output_dir(args: argparse.Namespace) -> Path:
    """``DATA_DIR/models/{model}/{pretrained}/experiments/NAME``: under the data dir, never in
    the repository's tracked ``experiments/results``."""
    from sith.load.clip import default_names
    from sith.paths import experiment_dir

    return experiment_dir(args.data_dir, *default_names(args.model_name, args.pretrained), args.name)


def run_experiment(args: argparse.Namespace) -> int:
    from sith.api import workspace
    from sith.edit.judges import split_concepts
    from sith.errors import SithError
    from sith.experiments import EXPERIMENTS, Options

    for flag, value, low in (
        ("--seeds", args.seeds, 1),
        ("--n", args.n, 2),
        ("--draws", args.draws, 1),
        ("--n-boot", args.n_boot, 1),
        ("--batch-size", args.batch_size, 1),
    ):
        if value < low:
            raise SithError(f"{flag} must be ≥ {low}, got {value}")
    layers = flat_layers(args.layers)
    opts = Options(
        dataset=args.dataset,
        root=args.root,
        split=args.split,
        seeds=args.seeds,
        n=args.n,
        draws=args.draws,
        batch_size=args.batch_size,
        n_boot=args.n_boot,
        layers=tuple(layers) if layers else None,
        dictionary=args.dictionary,
        task_concepts=tuple(split_concepts(args.task_concepts)) if args.task_concepts else None,
        judge_score_by=args.judge_score_by,
        progress=progress(args),
        command="sith " + shlex.join(sys.argv[1:]) if sys.argv else "",
    )
    out_dir = args.output_dir or default_output_dir(args)
    judge = llm_judge_from_args(args, out_dir.parent / "judge-cache.json") if args.judge == "llm" else None
    if args.name == "classification" and args.judge != "embedding":
        raise SithError(
            "sith experiment classification uses the paper's relevance R (embedding); "
            f"drop --judge {args.judge}"
        )
    if args.judge == "words":
        from sith.edit.judges import WordJudge

        judge = WordJudge(score_by=args.judge_score_by)
    if args.name == "classification" and args.judge_score_by != "mean":
        raise SithError(
            "sith experiment classification uses the relevance R, not a 1-5 score; drop --judge-score-by"
        )
    ws = workspace(
        args.model_name, args.pretrained, data_dir=args.data_dir, device=args.device, progress=progress(args)
    )
    module = EXPERIMENTS[args.name]
    if args.name == "fidelity":
        try:
            ks = tuple(int(k) for k in split_concepts(args.ks))
        except ValueError:
            raise SithError(f"--ks takes comma-separated integers, got {args.ks!r}") from None
        payload = module.run(ws, opts, out_dir, judge, methods=tuple(split_concepts(args.methods)), ks=ks)
    elif args.name == "edit":
        requests = [tuple(split_concepts(r)) for r in args.request or []]
        if any(not r for r in requests):
            raise SithError("--request needs a concept, e.g. --request skull or --request water,ocean")
        payload = module.run(ws, opts, out_dir, judge, requests=tuple(requests) or None)
    else:
        payload = module.run(ws, opts, out_dir, judge)
    print(payload["markdown"])
    print(f"results: {out_dir}")
    return 0
