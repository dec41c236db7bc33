"""How selective are the offline judges on the organism? Score every component of the last
4 layers for a task and for unrelated control tasks, with the fixed a-priori cut-offs.

    PYTHONPATH=src python experiments/judges/organism_control.py [--out experiments/judges/results]
    PYTHONPATH=src python experiments/judges/organism_control.py --score-by lead
    PYTHONPATH=src python experiments/judges/organism_control.py --judge words [--score-by lead]

Writes ``organism_control{,-words}{,-lead}.json`` and ``.md``: per task, how many of the components
score 1..5 and the five most relevant explanations. Nothing is tuned here.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import sith.api as api
from sith.decompose.results import LayerDecomposition
from sith.io import save_json, save_text
from sith.judge import SCORE_BY, WordJudge, embedding_judge_for, judge_decomposition, split_concepts

TASKS = {
    "water (target)": "water, ocean, lake, beach",
    "background (target)": "background, scene, location",
    "skull (target)": "skull, danger, poison",
    "control: vehicles": "car, truck, airplane",
    "control: food": "pizza, bread, cheese",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("experiments/judges/results"))
    ap.add_argument("--data-dir", type=Path, default=Path("data"))
    ap.add_argument("--score-by", choices=SCORE_BY, default="mean", help="what the judge bins")
    ap.add_argument("--judge", choices=("embedding", "words"), default="embedding")
    args = ap.parse_args()
    stem = ("organism_control" + ("" if args.judge == "embedding" else f"-{args.judge}")
            + ("" if args.score_by == "mean" else f"-{args.score_by}"))
    paths = api.decompose(layers=[2, 3, 4, 5], data_dir=args.data_dir, progress=False)
    decs = [LayerDecomposition.load(p) for p in paths]
    results = {}
    for name, task in TASKS.items():
        rows = []
        for dec in decs:
            judge = (WordJudge(split_concepts(task), score_by=args.score_by) if args.judge == "words"
                     else embedding_judge_for(dec, split_concepts(task), score_by=args.score_by))
            rows += judge_decomposition(dec, task, judge)
        hist = Counter(r.score for r in rows)
        top = sorted(rows, key=lambda r: -(r.relevance or 0.0))[:5]
        results[name] = {
            "task_concepts": task,
            "n_components": len(rows),
            "scores": {s: hist.get(s, 0) for s in range(1, 6)},
            "n_ge_3": sum(r.score >= 3 for r in rows),
            "top": [
                {
                    "layer": r.layer,
                    "head": r.head,
                    "index": r.index,
                    "score": r.score,
                    "relevance": round(r.relevance or 0.0, 3),
                    "explanation": r.explanation,
                }
                for r in top
            ],
        }
    record = {"tasks": results, "files": [str(p) for p in paths], "score_by": args.score_by,
              "judge": args.judge}
    save_json(record, args.out / f"{stem}.json")
    lines = [
        "| task | concepts | 1 | 2 | 3 | 4 | 5 | ≥3 | top explanation |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        s = r["scores"]
        lines.append(
            f"| {name} | {r['task_concepts']} | {s[1]} | {s[2]} | {s[3]} | {s[4]} | {s[5]} | "
            f"{r['n_ge_3']} / {r['n_components']} | {r['top'][0]['explanation']} |"
        )
    save_text("\n".join(lines) + "\n", args.out / f"{stem}.md")
    print("\n".join(lines))
    print(json.dumps({k: v["top"][:3] for k, v in results.items()}, indent=1)[:3000])


if __name__ == "__main__":
    main()
