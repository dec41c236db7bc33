"""Train, evaluate and export the shipped organism (``organism-v1``).

Run (background, ~40 min on 2 shared CPU cores):
    OMP_WAIT_POLICY=PASSIVE setsid nohup python experiments/organism/run_final.py \
        /work/organism_run/final \
        > /work/organism_run/final.log 2>&1 &
    python experiments/organism/run_final.py OUT --eval-only   # evaluate + export only
The export lands in OUT/export/ (the measured accuracies go into its json); shipping it means
copying organism-v1.* into src/sith/organism/assets/ by hand.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from sith.io import load_pt, save_json
from sith.organism.model import export_organism
from sith.organism.train import TrainConfig, build_model, train
from sith.organism.zeroshot import clip_encoders, evaluate

FINAL = TrainConfig(steps=2000, batch_size=128, lr=1e-3, warmup=150, threads=2,
                    hard_negative_frac=0.375, twin_factors=("shape", "shape", "size", "bird"))


def evaluate_checkpoint(path: Path, n: int = 400) -> dict:
    state = load_pt(path, what="organism checkpoint")
    model = build_model(state["model_config"])
    model.load_state_dict(state["model"])
    model.eval()
    tc = state["train_config"]
    enc = clip_encoders(model, mean=state["image_mean"], std=state["image_std"],
                        context_length=tc["context_length"], image_size=tc["image_size"])
    return evaluate(enc, n=n)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    t0 = time.time()
    if "--eval-only" not in sys.argv:
        ckpt = train(FINAL, out_dir=out)
    ckpt = out / "checkpoint.pt"
    torch.set_num_threads(2)
    res = evaluate_checkpoint(ckpt)
    print(json.dumps(res, indent=1), flush=True)
    save_json(res, out / "eval.json")
    export_organism(ckpt, out_dir=out / "export", measured=res,
                    measured_by="python experiments/organism/run_final.py OUT (zeroshot.evaluate, "
                                "n=400 per factor, seed EVAL_SEED)")
    print(f"done in {time.time() - t0:.0f}s", flush=True)
