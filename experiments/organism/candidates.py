"""Candidate successors of the shipped organism (issue 11, item 6), trained and scored alike.

v1 misses issue 11's grounded goal (docs/organism.md): few components are named by shape or
size words, and the bird-named ones do not respond to birds. Each candidate changes the
recipe in a stated way; after training it is evaluated zero-shot (as run_final.py) and
written to ``OUT/eval.json``, then exported to ``OUT/export/organism-{tag}.*``. Whether it
replaces v1 is decided by ``experiments/organism/accept.py`` (criteria fixed beforehand),
never here.

* ``warm``: v1's weights + 800 steps at lr 3e-4 on fresh batches (seed 1) whose captions
  name every learned factor more often (object 0.95, size/colour 0.85, background 0.75).
* ``heads16``: from scratch, 16 heads of width 8 in the same 128-wide tower (same compute,
  twice the heads, rank 8 each), captions naming size 80% and the object 95%, 1400 steps.
* ``split16``: v1's weights read as 16 heads of width 8 (the state dict is the same; each
  16-d head becomes two 8-d heads with softmaxes of their own), then ``warm``'s 800 steps
  and captions: does a finer head split, started from a working model, specialise heads?
* ``split16-keep``: ``split16`` without bird twins in the 800 extra steps (twins: shape,
  shape, size, size). ``split16`` passed the grounding criteria but lost the planted
  shortcut (worst group 3.6 points below the average, criterion ≥ 5); bird twins teach the
  bird apart from its habitat, so leaving them out should keep the shortcut. Judged by the
  same accept.py and, only if it passes, a second draw (image seed 7, null seed 1).
* ``split16-half``: between the two: bird twins at half ``split16``'s share (one twin in
  eight is a bird twin instead of one in four). ``split16`` reached the grounding goal with
  the shortcut nearly gone (gap 3.6), ``split16-keep`` kept it (gap 19.9) at 0.773: does half
  the bird twins keep a gap of ≥ 5 points and a mean of ≥ 0.80? Judged like the others.
* ``split16-s2``: ``split16`` again with batch seed 2 (the extra steps' batches differ, the
  start is the same): how much of ``split16``'s 0.806 is the recipe, how much the run?
* ``split16-keep-s2``: ``split16-keep`` with batch seed 2, the same control for the candidate
  the edit experiments were run on (is its strong shortcut the recipe's or the run's?).
* ``split16-keep-long`` and ``split16-keep-s2-long``: a recipe judged on two training seeds
  from the start (decided before either ran, stop 21). Each continues one run of
  ``split16-keep`` (``--after DIR``: that run's OUT, whose ``checkpoint.pt`` is the start)
  with another 800 steps of the same recipe on fresh batches (batch seeds 11 and 12), so
  1600 extra steps in all. Question: the warm starts rose with training (v1 0.720, ``warm``
  0.742, the split16 family 0.779 ± 0.017), and ``split16-keep``'s shortcut (gap 20–29
  points) has room to shrink and still hold: does twice the training lift the grounded mean
  over 0.80 on both seeds? Accepted only if accept.py passes on both; the seed-11 run would
  then be the one shipped.

Run (background; warm, split16 and split16-keep 20–30 min, heads16 ~55 min on 2 CPU cores):
    OMP_WAIT_POLICY=PASSIVE setsid nohup python experiments/organism/candidates.py NAME OUT > OUT.log 2>&1 &
    python experiments/organism/accept.py OUT/export/organism-v2.safetensors OUT/accept.json
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from run_final import evaluate_checkpoint

from sith.io import save_json
from sith.organism.model import asset_path, export_organism
from sith.organism.train import TrainConfig, train

AFTER = "--after"  # marks a candidate that continues an earlier candidate's run

WARM = TrainConfig(
    steps=800, batch_size=128, lr=3e-4, warmup=50, threads=2, seed=1,
    hard_negative_frac=0.375, twin_factors=("shape", "shape", "size", "bird"),
    caption_rates={"object": 0.95, "size": 0.85, "color": 0.85, "background": 0.75},
)
CANDIDATES: dict[str, tuple[TrainConfig, str | None]] = {
    "warm": (WARM, "organism-v1.safetensors"),
    "heads16": (replace(
        WARM, steps=1400, lr=1e-3, warmup=100, seed=0, vision_heads=16,
        caption_rates={"object": 0.95, "size": 0.8},
    ), None),
    "split16": (replace(WARM, vision_heads=16), "organism-v1.safetensors"),
    "split16-keep": (replace(WARM, vision_heads=16, twin_factors=("shape", "shape", "size", "size")),
                     "organism-v1.safetensors"),
    "split16-half": (replace(WARM, vision_heads=16, twin_factors=(
        "shape", "shape", "size", "bird", "shape", "shape", "size", "size")),
        "organism-v1.safetensors"),
    "split16-s2": (replace(WARM, vision_heads=16, seed=2), "organism-v1.safetensors"),
    "split16-keep-s2": (replace(WARM, vision_heads=16, seed=2,
                                twin_factors=("shape", "shape", "size", "size")),
                        "organism-v1.safetensors"),
    "split16-keep-long": (replace(WARM, vision_heads=16, seed=11, threads=1,
                                  twin_factors=("shape", "shape", "size", "size")), AFTER),
    "split16-keep-s2-long": (replace(WARM, vision_heads=16, seed=12, threads=1,
                                     twin_factors=("shape", "shape", "size", "size")), AFTER),
}
TAG = "v2"


def start_from(init: str | None, argv: list[str]) -> Path | None:
    """The warm start: a shipped asset, or (``AFTER``) the ``checkpoint.pt`` of ``--after DIR``."""
    if init != AFTER:
        return asset_path(init) if init else None
    if "--after" not in argv or argv.index("--after") + 1 >= len(argv):
        sys.exit("this candidate continues an earlier run: pass --after DIR (that run's OUT)")
    ckpt = Path(argv[argv.index("--after") + 1]) / "checkpoint.pt"
    if not ckpt.is_file():
        sys.exit(f"--after: {ckpt} not found; pass the OUT directory of a finished candidate run")
    return ckpt


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in CANDIDATES:
        sys.exit(f"usage: candidates.py {{{'|'.join(CANDIDATES)}}} OUT [--eval-only] [--after DIR]")
    name, out = sys.argv[1], Path(sys.argv[2])
    config, init = CANDIDATES[name]
    t0 = time.time()
    if "--eval-only" not in sys.argv:
        train(config, out_dir=out, init_from=start_from(init, sys.argv))
    torch.set_num_threads(config.threads)
    res = evaluate_checkpoint(out / "checkpoint.pt")
    print(json.dumps(res, indent=1), flush=True)
    save_json(res, out / "eval.json")
    export_organism(out / "checkpoint.pt", out_dir=out / "export", tag=TAG, measured=res,
                    measured_by=f"python experiments/organism/candidates.py {name} OUT "
                                "(zeroshot.evaluate, n=400 per factor, seed EVAL_SEED)")
    print(f"done in {time.time() - t0:.0f}s", flush=True)
