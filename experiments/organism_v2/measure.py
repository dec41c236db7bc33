"""SITH on the accepted organism v2: naming, twin scores, recipe choices and edits (docs/organism.md).

Runs only on seeds that ``experiments/organism_v2/accept.py`` accepted (its ``acceptance.json``):
explanations are never scored on a model that failed acceptance. ``--unaccepted`` measures anyway
for development; every output is then headed NOT ACCEPTED and is not a result.

Per training seed, the routed run and its control are exported (fp16, as a shipped organism)
and measured with the seed recipe unless a row says otherwise:

1. **SITH on v2** (``sith organism eval`` on the last 2 layers, every ``--twin-seeds``): per
   factor the naming share of the assigned heads, of the other heads, and of the control's
   lead heads (the two heads carrying most of the factor's direct margin: the strongest head
   choice a model without an assignment allows); the twin score beside the strength-matched
   other-head null, the same-head null and the ceiling.
2. **Recipe choices** (routed models, first twin seed): the seed recipe, then one change each
   — no image mean, both polarities, OMP — with the naming share and trained − other-head null.
3. **Edits** (``sith experiment edit`` on the routed models: ``sith edit --suppress X``'s default
   rule for skull, red and water,ocean beside same-count random components, an unrelated
   request and the alignment rule): the share of X's margin removed and the largest accuracy
   drop on another learned factor.

The goals (the issue's, written here before any v2 measurement and never tuned on it):

* naming: assigned share ≥ 0.8 on ≥ 5 of the 6 factors and ≥ 0.5 above the other heads;
* twins: per factor trained − other-head null ≥ 0.05 on every twin seed;
* edits: per request and model seed, ≥ 50% of the margin removed, more than every control, and
  ≤ 2 points of accuracy lost on every other learned factor.

    python experiments/organism_v2/measure.py --runs runs/organism-v2 \\
        --acceptance ACC/acceptance.json --output-dir OUT       # OUT/measure.{json,md}
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sith.errors import SithError
from sith.experiments.edits import DEFAULT_REQUESTS, slug
from sith.experiments.edits import run as run_edits
from sith.experiments.removal import OTHER_FACTORS, request_values
from sith.experiments.setup import Options
from sith.io import save_json, save_text
from sith.load import load_clip
from sith.organism import ORGANISM_NAME
from sith.organism.inputs import organism_workspace
from sith.organism.model import export_organism
from sith.organism.routing import ROUTED_FACTORS as FACTORS
from sith.organism.train import CHECKPOINT_NAME
from sith.organism.trainconfig import run_folder, v2_variant
from sith.organism_eval.evaluate import Options as EvalOptions
from sith.organism_eval.evaluate import TwinOptions, evaluate
from sith.organism_eval.twins import N_PAIRS, TWIN_SEED

RECIPES: dict[str, dict[str, Any]] = {
    "seed recipe": {},
    "no image mean": {"image_mean": False},
    "both polarities": {"polarity": "both"},
    "omp": {"method": "omp"},
}
NAMING_MIN, NAMING_GAP, NAMING_FACTORS = 0.8, 0.5, 5
REMOVED_MIN, COST_MAX = 0.5, 0.02
TWIN_SEEDS = (TWIN_SEED, TWIN_SEED + 1)


def accepted_seeds(path: Path, seeds: list[int], *, unaccepted: bool, variant: str = "v2") -> bool:
    """Whether every seed in ``seeds`` passed acceptance; raises unless ``unaccepted``."""
    record = json.loads(path.read_text())
    recorded = record.get("variant", "v2")
    if recorded != variant:
        raise SithError(f"{path} accepts the variant {recorded!r}, not {variant!r}; "
                        "pass the matching --variant or acceptance file")
    passed = {int(s) for s, r in record.get("seeds", {}).items() if r.get("passed")}
    missing = [s for s in seeds if s not in passed or record.get("partial")]
    if missing and not unaccepted:
        raise SithError(f"seed(s) {missing} are not accepted in {path} (accepted: {record.get('accepted')}); "
                        "SITH is not scored on an unaccepted model; pass --unaccepted for a development run")
    return not missing


def export_runs(runs: Path, seeds: list[int], out: Path, variant: str = "v2"
                ) -> dict[int, dict[str, Path]]:
    """``{seed: {"routed": weights, "control": weights}}``, exported once into ``out``."""
    paths: dict[int, dict[str, Path]] = {}
    for seed in seeds:
        for kind in ("routed", "control"):
            folder = run_folder(kind, seed, variant)
            ckpt = runs / folder / CHECKPOINT_NAME
            if not ckpt.is_file():
                raise SithError(f"no checkpoint {ckpt}; train with experiments/organism_v2/train.py")
            tag = f"v2-{folder}"
            weights = out / f"organism-{tag}.safetensors"
            if not weights.is_file():
                export_organism(ckpt, out_dir=out, tag=tag)
            paths.setdefault(seed, {})[kind] = weights
    return paths


def twin_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per twin seed, ``factor -> headline`` of the default pool."""
    return [d["default_pool"]["per_factor"] for d in results["twins"]["draws"]]


def eval_model(weights: Path, data_dir: Path, seeds: tuple[int, ...], pairs: int,
               recipe: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    _, results = evaluate(ORGANISM_NAME, str(weights), options=EvalOptions(), recipe=recipe,
                          twins=TwinOptions(n_pairs=pairs, seeds=seeds, plausible=False),
                          data_dir=data_dir, progress=False)
    return twin_rows(results)


def mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None and v == v]
    return float(np.mean(vals)) if vals else None


def twin_gap(cell: dict[str, Any]) -> float | None:
    """Trained twin score − the other-head strength-matched null (None: too few components)."""
    if cell["trained"] is None or cell["null_other_heads"] is None:
        return None
    return cell["trained"] - cell["null_other_heads"]


def summarise_sith(routed: dict[int, list], control: dict[int, list]) -> dict[str, Any]:
    """Per factor: means over model and twin seeds, and the cells meeting the twin goal."""
    out = {}
    for f in FACTORS:
        cells = [d[f] for rows in routed.values() for d in rows if f in d]
        ctrl = [d[f] for rows in control.values() for d in rows if f in d]
        names = [c["names_component"] == "yes" for c in cells]  # the twin test's own rule
        out[f] = {
            "naming_assigned": mean([c.get("naming_share") for c in cells]),
            "naming_other_heads": mean([c.get("naming_share_other_heads") for c in cells]),
            "naming_control_lead": mean([c.get("naming_share") for c in ctrl]),
            "trained": mean([c["trained"] for c in cells]),
            "null_other_heads": mean([c["null_other_heads"] for c in cells]),
            "null_same_head": mean([c["null_same_head"] for c in cells]),
            "ceiling": mean([c["ceiling"] for c in cells]),
            "control_trained": mean([c["trained"] for c in ctrl]),
            "twin_goal_cells": f"{sum(names)}/{len(names)}",
            "twin_goal": bool(names) and all(names),
        }
    named = [f for f, r in out.items() if (r["naming_assigned"] or 0) >= NAMING_MIN
             and (r["naming_assigned"] or 0) - (r["naming_other_heads"] or 0) >= NAMING_GAP]
    return {"factors": out, "naming_goal": len(named) >= NAMING_FACTORS, "naming_goal_factors": named}


def summarise_recipes(per_recipe: dict[str, dict[int, list]]) -> dict[str, Any]:
    out = {}
    for name, by_seed in per_recipe.items():
        row = {}
        for f in FACTORS:
            cells = [rows[0][f] for rows in by_seed.values() if f in rows[0]]
            row[f] = {"naming": mean([c.get("naming_share") for c in cells]),
                      "gap": mean([twin_gap(c) for c in cells])}
        out[name] = row
    return out


def edit_cells(removal: dict[str, Any], request: tuple[str, ...]) -> dict[str, Any]:
    """One model seed's edit: removed share (judged, best control) and the worst other-factor cost."""
    factor = request_values(request)[0]
    judged = removal["judged"]
    controls = {k: v["removed_share"]["mean"] for k, v in removal.items() if k != "judged"}
    others = [f for f in OTHER_FACTORS if f != factor]
    cost = max(judged[f"acc:{f}"]["mean"] for f in others)
    best = max(controls, key=controls.get)
    share = judged["removed_share"]["mean"]
    return {"removed": share, "best_control": best, "best_control_removed": controls[best],
            "worst_cost": cost,
            "goal": share >= REMOVED_MIN and all(share > v for v in controls.values()) and cost <= COST_MAX}


def edit_model(weights: Path, opts: Options, data: Path, out: Path) -> dict[str, dict[str, Any]]:
    """``sith experiment edit`` of every request on one model (loaded once), as
    :func:`edit_cells`; a request the default rule cannot serve (no matching concept, nothing
    selected) is recorded, not fatal."""
    ws = organism_workspace(load_clip(ORGANISM_NAME, str(weights)), data_dir=data, progress=False)
    cells = {}
    for request in DEFAULT_REQUESTS:
        key = ",".join(request)
        try:
            done = run_edits(ws, opts, out, requests=(request,))
        except SithError as exc:
            cells[key] = {"error": str(exc), "goal": False}
            continue
        cells[key] = edit_cells(done["results"][slug(request)]["removal"], request)
    return cells


def fmt(x: float | None, signed: bool = False) -> str:
    return "-" if x is None else (f"{x:+.3f}" if signed else f"{x:.3f}")


SITH_HEAD = ("factor", "naming: assigned", "other heads", "control (lead heads)", "twin: trained",
             "null other heads", "null same head", "ceiling", "control trained", "trained − null ≥ 0.05")
SITH_KEYS = ("naming_assigned", "naming_other_heads", "naming_control_lead", "trained", "null_other_heads",
             "null_same_head", "ceiling", "control_trained")
EDIT_HEAD = ("request", "seed", "removed share", "best control (removed)", "worst cost on another factor",
             "goal")


def table(head: tuple[str, ...] | list[str], rows: list[list[str]]) -> list[str]:
    body = ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *body]


def sith_lines(result: dict[str, Any]) -> list[str]:
    s = result["sith"]
    rows = [[f, *(fmt(r[k]) for k in SITH_KEYS), r["twin_goal_cells"]] for f, r in s["factors"].items()]
    twins = ", ".join(f for f, r in s["factors"].items() if r["twin_goal"]) or "none"
    goal = (f"Naming goal (≥ {NAMING_MIN}, and ≥ {NAMING_GAP} above other heads, on ≥ {NAMING_FACTORS} "
            f"of 6): {'met' if s['naming_goal'] else 'not met'} "
            f"({', '.join(s['naming_goal_factors']) or 'none'}). Twin goal met on: {twins}.")
    return [f"### SITH on v2 (seed recipe; means over model seeds {result['seeds']} and twin seeds "
            f"{result['twin_seeds']})", "", *table(SITH_HEAD, rows), "", goal]


def recipe_lines(result: dict[str, Any]) -> list[str]:
    rows = [[name, *(f"{fmt(row[f]['naming'])} / {fmt(row[f]['gap'], True)}" for f in FACTORS)]
            for name, row in result["recipes"].items()]
    return ["### Recipe choices (routed models, first twin seed): naming share / trained − other-head null",
            "", *table(["recipe", *FACTORS], rows)]


def edit_lines(result: dict[str, Any]) -> list[str]:
    rows = [[req, str(seed), "no edit: " + c["error"], "-", "-", "not met"] if "error" in c else
            [req, str(seed), fmt(c["removed"]), f"{c['best_control']} ({fmt(c['best_control_removed'])})",
             fmt(c["worst_cost"], True), "met" if c["goal"] else "not met"]
            for req, by_seed in result["edits"].items() for seed, c in by_seed.items()]
    return ["### Edits (`sith edit --suppress X`, default rule; per model seed)", "", *table(EDIT_HEAD, rows)]


def markdown(result: dict[str, Any]) -> str:
    lines = [] if result["accepted"] else ["**NOT ACCEPTED — a development run, not a result.**", ""]
    lines += [f"`{result['command']}`", "", *sith_lines(result), "", *recipe_lines(result), "",
              *edit_lines(result)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, required=True, help="folder with routed-s*/ and control-s*/")
    p.add_argument("--acceptance", type=Path, required=True, help="acceptance.json of accept.py")
    p.add_argument("--output-dir", type=Path, required=True, help="measure.json/.md, exports, data go here")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--twin-seeds", type=int, nargs="+", default=list(TWIN_SEEDS))
    p.add_argument("--twin-pairs", type=int, default=N_PAIRS)
    p.add_argument("--edit-seeds", type=int, default=3, help="fresh image seeds per edit measurement")
    p.add_argument("--n", type=int, default=200, help="images per edit measurement")
    p.add_argument("--draws", type=int, default=3, help="random-component draws per edit")
    p.add_argument("--variant", default="v2", help="the recipe (as accept.py's)")
    p.add_argument("--unaccepted", action="store_true", help="measure unaccepted seeds (development only)")
    args = p.parse_args(argv)
    out = args.output_dir
    try:
        v2_variant(args.variant)  # an unknown recipe is named before the acceptance file is read
        accepted = accepted_seeds(args.acceptance, args.seeds, unaccepted=args.unaccepted,
                                  variant=args.variant)
        models = export_runs(args.runs, args.seeds, out / "models", args.variant)
        data = out / "data"
        twin_seeds = tuple(args.twin_seeds)
        routed = {s: eval_model(m["routed"], data, twin_seeds, args.twin_pairs) for s, m in models.items()}
        control = {s: eval_model(m["control"], data, twin_seeds, args.twin_pairs) for s, m in models.items()}
        recipes = {"seed recipe": {s: rows[:1] for s, rows in routed.items()}}
        for name, recipe in list(RECIPES.items())[1:]:
            recipes[name] = {s: eval_model(m["routed"], data, twin_seeds[:1], args.twin_pairs, recipe)
                             for s, m in models.items()}
        opts = Options(seeds=args.edit_seeds, n=args.n, draws=args.draws, progress=False)
        per_model = {s: edit_model(m["routed"], opts, data, out / "edits" / f"s{s}")
                     for s, m in models.items()}
        edits = {key: {s: cells[key] for s, cells in per_model.items()}
                 for key in (",".join(req) for req in DEFAULT_REQUESTS)}
    except SithError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = {"format": "sith-organism-v2-measure/1", "accepted": accepted, "seeds": args.seeds,
              "twin_seeds": list(twin_seeds), "command": "python experiments/organism_v2/measure.py "
              + " ".join(argv if argv is not None else sys.argv[1:]),
              "sith": summarise_sith(routed, control), "per_seed": {"routed": routed, "control": control},
              "recipes": summarise_recipes(recipes), "recipe_options": RECIPES, "edits": edits}
    save_json(result, out / "measure.json")
    text = markdown(result)
    save_text(text, out / "measure.md")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
