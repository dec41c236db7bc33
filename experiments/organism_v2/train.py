"""Train the known-circuit organism (v2): seeds x {routed, control} (docs/organism.md, "Organism v2").

Per seed, in this order (resumable: rerun the same command and every run continues from its
last checkpoint; finished runs are skipped):

1. ``control-s{seed}`` up to the routing start (step 1350 of 3000), keeping
   ``checkpoint-1350.pt``;
2. ``routed-s{seed}`` branched from that snapshot, to step 3000 (routing on from 1350);
3. ``control-s{seed}`` on to step 3000 (routing off: the acceptance's same-recipe control).

Run (background, one thread; hours per seed on a shared 2-core machine):

    OMP_WAIT_POLICY=PASSIVE setsid nohup python experiments/organism_v2/train.py \
        --output-dir /work/main/runs/organism-v2 > /work/main/runs/organism-v2/train.log 2>&1 &

``--tiny`` trains a 2-block model for a few steps (a smoke test of this script, seconds).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sith.io import load_pt
from sith.organism.train import CHECKPOINT_NAME, train
from sith.organism.trainconfig import V2_VARIANTS, TrainConfig, run_folder, v2_config

TINY = dict(image_size=64, patch_size=16, vision_width=32, vision_layers=2, vision_heads=2,
            text_width=32, text_layers=1, text_heads=2, context_length=16, embed_dim=16,
            batch_size=16, steps=12, warmup=2, checkpoint_every=4, snapshot_at=4,
            routing_assignment="tiny", mlp_free_last=1)


def configs(seed: int, *, tiny: bool, variant: str = "v2") -> tuple[TrainConfig, TrainConfig]:
    """``(control, routed)`` of one seed of the recipe ``variant``."""
    extra = dict(TINY) if tiny else {}
    return (v2_config(seed, routed=False, variant=variant, **extra),
            v2_config(seed, routed=True, variant=variant, **extra))


def done(run: Path, config: TrainConfig) -> bool:
    """Whether ``run`` holds a checkpoint at the run's last step."""
    ckpt = run / CHECKPOINT_NAME
    return ckpt.is_file() and int(load_pt(ckpt, what="organism checkpoint")["step"]) >= config.steps


def run_seed(seed: int, out: Path, *, tiny: bool, variant: str = "v2") -> None:
    control, routed = configs(seed, tiny=tiny, variant=variant)
    c_dir, r_dir = out / run_folder("control", seed, variant), out / run_folder("routed", seed, variant)
    snap = c_dir / f"checkpoint-{control.snapshot_at}.pt"
    t0 = time.time()
    if not snap.is_file() and not done(c_dir, control):
        train(control, out_dir=c_dir, progress=False, until=control.snapshot_at)
        print(f"[seed {seed}] control at step {control.snapshot_at} ({time.time() - t0:.0f} s)", flush=True)
    if not done(r_dir, routed):
        train(routed, out_dir=r_dir, progress=False, branch_from=snap)
        print(f"[seed {seed}] routed done ({time.time() - t0:.0f} s)", flush=True)
    if not done(c_dir, control):
        train(control, out_dir=c_dir, progress=False)
        print(f"[seed {seed}] control done ({time.time() - t0:.0f} s)", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output-dir", type=Path, required=True, help="runs go to OUT/{control,routed}-s{seed}")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variant", default="v2", choices=list(V2_VARIANTS),
                   help="the recipe (sith.organism.trainconfig.V2_VARIANTS; default v2); others train "
                   "OUT/routed-NAME-s{seed} and, when their batches differ, OUT/control-NAME-s{seed}")
    p.add_argument("--tiny", action="store_true", help="a 2-block model, 12 steps (smoke test)")
    args = p.parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        run_seed(seed, args.output_dir, tiny=args.tiny, variant=args.variant)


if __name__ == "__main__":
    main()
