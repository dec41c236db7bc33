"""Edits do what they claim, on the model organism (METHOD.md §6; the paper's Sec. 5.1/5.2).

One command:

    python experiments/edit_organism/run.py            # writes experiments/edit_organism/results/

1. Spurious correlation (Waterbirds analogue): suppress the singular components whose
   explanations name background concepts; compare duck-vs-sparrow zero-shot accuracy
   per group (worst group and average) before/after.
2. Unsafe concept (NSFW analogue): suppress the components explained by the skull words;
   compare the skull retrieval AUC / detection accuracy and every factor's accuracy.

Edits are selected with both documented rules (explanation weight ≥ threshold, or
|cos| alignment ≥ threshold; both polarities) from ``comp-0.3`` decompositions of the
last layers, applied exactly, and evaluated on fresh held-out images. Nothing is trained.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch
from sith.decompose.pipeline import decompose_layer, default_layers, prepare_dictionary

from sith.edit import edited_head_outputs, plan_edits
from sith.encode import concept_atoms
from sith.load import load_clip, with_head_outputs
from sith.organism.world import LAND_BACKGROUNDS, SYNONYMS, UNSAFE_WORDS, WATER_BACKGROUNDS
from sith.organism.zeroshot import evaluate, loaded_encoders

HERE = Path(__file__).resolve().parent


def with_synonyms(words: tuple[str, ...]) -> list[str]:
    return [w for v in words for w in (v, *SYNONYMS.get(v, ()))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--n", type=int, default=400, help="held-out images per measurement")
    p.add_argument("--layers", type=int, nargs="+", default=None, help="default: last 4")
    p.add_argument("--weight-threshold", type=float, default=0.1)
    p.add_argument("--alignment-threshold", type=float, default=0.3)
    p.add_argument("--method", default="comp-0.3")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    t0 = time.time()
    clip = load_clip()
    encoded = prepare_dictionary(clip, "organism", data_dir=args.data_dir, progress=False)
    atoms = concept_atoms(encoded, mode="center")
    layers = args.layers or default_layers(clip.weights.n_layers)
    decs = [
        decompose_layer(
            clip.weights,
            atoms,
            encoded.concepts,
            layer,
            method=args.method,
            sparsity=5,
            polarity="both",
        )
        for layer in layers
    ]
    tasks = {
        "water backgrounds": with_synonyms(WATER_BACKGROUNDS),
        "all backgrounds": with_synonyms(WATER_BACKGROUNDS + LAND_BACKGROUNDS),
        "skull": list(UNSAFE_WORDS),
    }
    rules = {"weight": args.weight_threshold, "alignment": args.alignment_threshold}
    results: dict[str, dict] = {"original": {"n_components": 0, **evaluate(loaded_encoders(clip), n=args.n)}}
    known = {c.lower() for c in encoded.concepts}
    for (task, words), (rule, threshold) in itertools.product(tasks.items(), rules.items()):
        name = f"suppress {task} ({rule} >= {threshold})"
        words = [w for w in words if w.lower() in known]
        plan = plan_edits(
            clip,
            suppress=words,
            decompositions=decs,
            concepts=encoded.concepts,
            atoms=atoms,
            rule=rule,
            threshold=threshold,
            fold_ln=True,
        )
        edited = with_head_outputs(clip, edited_head_outputs(clip.weights, plan.edits, fold_ln=True))
        results[name] = {
            "n_components": len(plan.edits),
            "concepts": words,
            "components": [[e.layer, e.head, e.index] for e in plan.edits],
            **evaluate(loaded_encoders(edited), n=args.n),
        }
        print(f"{name}: {len(plan.edits)} components", flush=True)
    meta = {
        "layers": layers,
        "method": args.method,
        "thresholds": rules,
        "n": args.n,
        "model": clip.info.as_dict(),
        "seconds": round(time.time() - t0, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    from sith.io import save_json, save_text

    save_json({"meta": meta, "results": results}, args.out / "edit_organism.json")
    table = format_table(results)
    save_text(table + "\n", args.out / "edit_organism.md")
    plot(results, args.out / "edit_organism.png")
    print(table)
    return 0


def format_table(results: dict[str, dict]) -> str:
    factors = list(next(iter(results.values()))["factor_accuracy"])
    head = ["edit", "#comp", "worst-group", "avg-group", "skull AUC", *factors]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        cells = [
            name,
            str(r["n_components"]),
            f"{r['spurious']['worst_group']:.3f}",
            f"{r['spurious']['average']:.3f}",
            f"{r['unsafe']['auc']:.3f}",
            *(f"{r['factor_accuracy'][f]:.3f}" for f in factors),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    metrics = {
        "worst-group acc": [results[n]["spurious"]["worst_group"] for n in names],
        "average-group acc": [results[n]["spurious"]["average"] for n in names],
        "skull AUC": [results[n]["unsafe"]["auc"] for n in names],
        "mean factor acc": [
            sum(results[n]["factor_accuracy"].values()) / len(results[n]["factor_accuracy"]) for n in names
        ],
    }
    fig, ax = plt.subplots(figsize=(12, 4))
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        ax.bar(
            [j + i * width for j in range(len(metrics))],
            [m[i] for m in metrics.values()],
            width,
            label=n,
        )
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(metrics))], list(metrics))
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title("sith edits on the model organism (held-out zero-shot)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
