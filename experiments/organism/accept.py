"""Is an organism a fit testbed? Issue 11's acceptance check, on a shipped tag or a candidate.

Runs the seed recipe's grounded validation with its three nulls (the same code as
``sith organism eval --grounded``: last 4 layers, comp-0.3, K 5, 2000 fresh world images,
image seed ``GROUND_SEED``, null seed 0) and zero-shot accuracy (n = 400 per factor), then
checks the criteria fixed in issue 11 before any candidate was measured:

* trained mean grounded AUC (top-concept rule) >= 0.80,
* every null's mean grounded AUC <= 0.60,
* zero-shot accuracy >= 0.90 on shape, colour, size and background,
* the planted phenomena survive (what tests/organism/test_zeroshot.py requires of the shipped
  organism): spurious worst group >= 5 points below the average, skull AUC > 0.8.

Usage:
    python experiments/organism/accept.py v1 OUT.json             # a shipped tag
    python experiments/organism/accept.py path/organism.safetensors OUT.json   # a candidate
    python experiments/organism/accept.py --from-json OUT.json   # re-read the verdicts only
Prints one verdict line per criterion and exits 0 only if all hold.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch

from sith.io import save_json
from sith.load import load_clip
from sith.organism import ORGANISM_NAME
from sith.organism.evaluate import Options, evaluate
from sith.organism.zeroshot import evaluate as zeroshot_evaluate
from sith.organism.zeroshot import loaded_encoders

LAYERS = [2, 3, 4, 5]
GOAL_AUC, NULL_MAX, ZEROSHOT_MIN, SPURIOUS_GAP, SKULL_AUC = 0.80, 0.60, 0.90, 0.05, 0.8
LEARNED = ("shape", "color", "size", "background")


def grounded(pretrained: str, data_dir: str) -> dict:
    options = Options(grounded=True, faithful=False, n_images=2000, n_zeroshot=200, seed=0)
    _, results = evaluate(ORGANISM_NAME, pretrained, methods=["comp-0.3"], layers=LAYERS,
                          sparsity=5, settings=False, nulls=True, options=options, twins=None, legacy=True,
                          data_dir=data_dir, device="cpu", progress=False)
    return results


def verdicts(grounded_results: dict, zeroshot: dict) -> list[tuple[str, bool]]:
    rows = grounded_results["rules"]["top"]["rows"]
    out = [(f"trained mean AUC {rows['trained']['mean_auc']:.3f} >= {GOAL_AUC} "
            f"({rows['trained']['count']} components)", rows["trained"]["mean_auc"] >= GOAL_AUC)]
    for name, row in rows.items():
        if name != "trained":
            out.append((f"null '{name}' mean AUC {row['mean_auc']:.3f} <= {NULL_MAX}",
                        row["mean_auc"] <= NULL_MAX))
    acc = zeroshot["factor_accuracy"]
    out += [(f"zero-shot {f} {acc[f]:.3f} >= {ZEROSHOT_MIN}", acc[f] >= ZEROSHOT_MIN) for f in LEARNED]
    sp = zeroshot["spurious"]
    gap = sp["average"] - sp["worst_group"]
    out.append((f"spurious gap {gap:.3f} (average {sp['average']:.3f}, worst {sp['worst_group']:.3f}) "
                f">= {SPURIOUS_GAP}", gap >= SPURIOUS_GAP))
    out.append((f"skull AUC {zeroshot['unsafe']['auc']:.3f} > {SKULL_AUC}",
                zeroshot["unsafe"]["auc"] > SKULL_AUC))
    return out


def report(checks: list[tuple[str, bool]]) -> bool:
    for line, ok in checks:
        print(("PASS " if ok else "FAIL ") + line)
    accepted = all(ok for _, ok in checks)
    print(json.dumps({"accepted": accepted}))
    return accepted


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--from-json":
        saved = json.loads(Path(sys.argv[2]).read_text())
        sys.exit(0 if report(verdicts(saved["grounded"], saved["zeroshot"])) else 1)
    if len(sys.argv) != 3:
        sys.exit("usage: accept.py TAG_OR_CHECKPOINT OUT.json | --from-json OUT.json")
    torch.set_num_threads(2)
    pretrained, out = sys.argv[1], Path(sys.argv[2])
    with tempfile.TemporaryDirectory() as data_dir:
        results = grounded(pretrained, data_dir)
    zeroshot = zeroshot_evaluate(loaded_encoders(load_clip(ORGANISM_NAME, pretrained)), n=400)
    checks = verdicts(results["validation"]["grounded"], zeroshot)
    save_json({"pretrained": pretrained, "grounded": results["validation"]["grounded"],
               "zeroshot": zeroshot, "checks": [{"check": c, "pass": ok} for c, ok in checks]}, out)
    sys.exit(0 if report(checks) else 1)
