"""Accept (or not) the known-circuit organism v2: the fixed gates of :mod:`sith.organism.acceptance`.

Reads ``RUNS/routed-s{seed}/checkpoint.pt`` (``--variant NAME``: that recipe's runs)
and ``RUNS/control-s{seed}/checkpoint.pt`` (as
``experiments/organism_v2/train.py`` writes them), measures both on fresh world images, compares
with the shipped organism-v1 and writes ``OUT/acceptance.json``; prints one line per seed and gate.
A checkpoint short of its run's steps is reported as *partial* and never accepted.

    python experiments/organism_v2/accept.py --runs /work/main/runs/organism-v2 \
        --output-dir /work/main/runs/organism-v2/acceptance            # n=400 images per factor
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from sith.errors import SithError
from sith.io import save_json
from sith.organism.acceptance import Organism, accept, load_run, shipped_v1
from sith.organism.train import CHECKPOINT_NAME
from sith.organism.trainconfig import run_folder


def load_runs(runs: Path, seeds: list[int], variant: str = "v2") -> dict[int, tuple[Organism, Organism]]:
    out = {}
    for seed in seeds:
        paths = [runs / run_folder(kind, seed, variant) / CHECKPOINT_NAME
                 for kind in ("routed", "control")]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise SithError(f"no checkpoint {missing[0]}; train with experiments/organism_v2/train.py "
                            "or pass --seeds with the finished seeds")
        out[seed] = (load_run(paths[0]), load_run(paths[1]))
    return out


def report(result: dict) -> str:
    lines = []
    if result["partial"]:
        lines.append("PARTIAL CHECKPOINTS (not an acceptance result): " + ", ".join(result["partial"]))
    for seed, s in result["seeds"].items():
        r, c = s["routed"], s["control"]
        acc = r["zero_shot"]["factor_accuracy"]
        cacc = c["zero_shot"]["factor_accuracy"]
        verdicts = " ".join(f"{k}={'pass' if v else 'FAIL'}" for k, v in s["gates"].items())
        lines.append(f"seed {seed}: {verdicts}")
        lines.append("  zero-shot routed/control: " + " ".join(f"{f} {acc[f]:.3f}/{cacc[f]:.3f}" for f in acc)
                     + f" skullAUC {r['zero_shot']['skull_auc']:.3f}/{c['zero_shot']['skull_auc']:.3f}")
        sp = r["zero_shot"]["spurious"]
        lines.append("  birds: " + " ".join(f"{g} {v:.3f}" for g, v in sp.items()))
        lines.append("  share of direct margin (routed | control): " + " ".join(
            f"{f} {v['share']:.2f}|{c['shares']['factors'][f]['share']:.2f}"
            for f, v in r["shares"]["factors"].items()))
        lines.append(f"  heads by number of factors decoded (routed): {r['shares']['heads_by_factor_count']}"
                     f" (control: {c['shares']['heads_by_factor_count']})")
        lines.append(f"  realism routed {r['realism']} vs v1 {result['v1_realism']}")
    lines.append(f"v1 heads by number of factors decoded: {result['v1_heads_by_factor_count']}")
    lines.append(f"accepted: {result['accepted']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, required=True, help="folder with routed-s*/ and control-s*/")
    p.add_argument("--output-dir", type=Path, required=True, help="acceptance.json goes here")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n", type=int, default=400, help="images per factor (default 400)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--variant", default="v2", help="the recipe (V2_VARIANTS; default v2: RUNS/routed-s*, "
                   "another reads its own runs, sith.organism.trainconfig.run_folder)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        result = accept(load_runs(args.runs, args.seeds, args.variant), n=args.n, reference=shipped_v1())
    except SithError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result["command"] = "python experiments/organism_v2/accept.py " + " ".join(argv or sys.argv[1:])
    result["variant"] = args.variant
    save_json(result, args.output_dir / "acceptance.json")
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
