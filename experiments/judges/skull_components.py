"""Do the components led by an unsafe word carry the organism's skull signal?

Edits the given components (zero, then negate; each alone and all together) and measures the
skull score of ``sith experiment nsfw`` (cos to "a photo of a shape with a skull" minus cos to
"a photo of a shape") on fresh images, seeds 101–103 — not the experiments' seeds:

    python experiments/judges/skull_components.py EXPORT DATA_DIR 2,7,0 4,2,0 4,3,0 [--out F.json]

Prints, per edit, the skull AUC on each seed and the mean score gap (skull minus no skull) on
seed 101; for the original and the all-together edits also the other factors' mean accuracy.
Null: the same edit on random components of the same layers, drawn as the experiments draw
their random controls (``random_draws``; ``--draws``, seed 0).
docs/judges.md (``score_by``) cites the run on the candidate ``split16-keep``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from sith.api import workspace
from sith.edit import ComponentEdit
from sith.experiments.controls import Condition, edited_model, random_draws
from sith.experiments.nsfw import OrganismSkull, skull_scores
from sith.experiments.setup import analyse
from sith.io import save_json
from sith.metrics import rank_auc

SEEDS = (101, 102, 103)


def measure(model: object, n: int) -> dict:
    aucs, gap = [], None
    for s in SEEDS:
        scores, pos = skull_scores(model, n=n, seed=s)
        aucs.append(round(float(rank_auc(scores, pos)), 4))
        if gap is None:
            gap = round(float(scores[pos].mean() - scores[~pos].mean()), 4)
    return {"auc": aucs, "gap": gap}


def other_factors(model: object, n: int) -> float:
    """Mean zero-shot accuracy on shape, colour, size, background (the nsfw experiment's measure)."""
    return round(OrganismSkull(list(SEEDS), n=n)(model)["other_factors"]["value"], 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pretrained")
    ap.add_argument("data_dir")
    ap.add_argument("components", nargs="+", help="layer,head,index")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--draws", type=int, default=5, help="random same-layer draws (the null)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ws = workspace(None, args.pretrained, data_dir=args.data_dir, progress=False)
    analysis = analyse(ws)
    comps = [tuple(int(x) for x in c.split(",")) for c in args.components]
    rows = [{"alpha": None, "components": [], **measure(ws.clip, args.n),
             "other_factors": other_factors(ws.clip, args.n)}]
    for alpha in (0.0, -1.0):
        for subset in [[c] for c in comps] + [comps]:
            edits = tuple(ComponentEdit(*c, alpha, "skull diagnostic") for c in subset)
            model = edited_model(analysis, Condition("diagnostic", "judged", edits))
            rows.append({"alpha": alpha, "components": subset, **measure(model, args.n)})
            if len(subset) > 1:
                rows[-1]["other_factors"] = other_factors(model, args.n)
            print(json.dumps(rows[-1]), flush=True)
        chosen = tuple(ComponentEdit(*c, alpha, "skull diagnostic") for c in comps)
        for d, null in enumerate(random_draws(analysis.components, chosen, draws=args.draws, seed=0)):
            subset = [(e.layer, e.head, e.index) for e in null.edits]
            row = {"alpha": alpha, "random_draw": d + 1, "components": subset}
            rows.append({**row, **measure(edited_model(analysis, null), args.n)})
            print(json.dumps(rows[-1]), flush=True)
    print(json.dumps(rows[0]))
    if args.out:
        save_json({"pretrained": args.pretrained, "seeds": list(SEEDS), "n": args.n, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
