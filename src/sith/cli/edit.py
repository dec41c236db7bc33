"""``sith edit`` flags (a thin shell over :func:`sith.api.edit`, apply-log and undo)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sith.cli.common import (
    add_decomposition_args,
    add_format_args,
    add_model_args,
    decomposition_options,
    output_format,
    progress,
)
from sith.cli.judge import JUDGES, add_llm_args, llm_judge_from_args

#: Under the plan table: what its columns mean.
PLAN_LEGEND = (
    "# judged: the judge's 1-5 verdict on the explanation (edited when >= --min-score); score: what "
    "selected the component: the share judge's matched weight share (or the judge's relevance), |cos| "
    "of its target with the concept (alignment rule), the concept's weight in its explanation (weight "
    "rule); explanation: the component's own concepts ([-v]: the request matched the explanation of "
    "-v, shown; [+v -v]: both signs; a suppress request's judged rule reads both)"
)
#: ``--rule`` choices (spelled out: importing sith.edit at start-up loads torch); ``--judge``: the
#: judge registry's names, shared with ``sith judge`` (:data:`sith.cli.judge.JUDGES`).
RULES = ("judged", "alignment", "weight")


def _component(text: str) -> tuple[int, int, int, float | None]:
    """``LAYER:HEAD:INDEX[:ALPHA]`` (ALPHA None when absent: ``--alpha`` applies)."""
    parts = text.split(":")
    try:
        if len(parts) not in (3, 4):
            raise ValueError
        layer, head, index = (int(p) for p in parts[:3])
        alpha = float(parts[3]) if len(parts) == 4 else None
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--component takes LAYER:HEAD:INDEX[:ALPHA], got {text!r}"
        ) from None
    return layer, head, index, alpha


def _concepts(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "edit",
        parents=[parent],
        help="scale singular components by index or by concept; save the edited model",
    )
    add_model_args(p)
    p.add_argument(
        "--component",
        type=_component,
        action="append",
        default=None,
        help="LAYER:HEAD:INDEX[:ALPHA] (repeatable; ALPHA defaults to --alpha)",
    )
    p.add_argument(
        "--suppress",
        type=_concepts,
        default=None,
        help='comma-separated concepts, e.g. "water,ocean"',
    )
    p.add_argument(
        "--amplify", type=_concepts, default=None, help='comma-separated concepts to amplify, e.g. "red"'
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=0.0,
        help="scale for suppressed/indexed components, 0 to 100 (default 0: removes them)",
    )
    p.add_argument(
        "--amplify-alpha", type=float, default=2.0, help="scale for amplified ones, 0 to 100 (default 2)"
    )
    add_decomposition_args(p, layers_help="layers to select from (default: last 4)")
    p.add_argument(
        "--rule",
        choices=RULES,
        default="judged",
        help="judged (default, the paper's): edit components whose explanation the judge scores "
        ">= --min-score; alignment: |cos| of component and concept >= --threshold; weight: the "
        "concept's weight in the explanation >= --threshold",
    )
    p.add_argument(
        "--judge",
        choices=JUDGES,
        default=JUDGES[0],
        help="judged rule: share (default, offline): the weight share of the explanation's concepts "
        "that match the request by words or meaning; words: concepts containing a request word "
        "(docs/judges.md cut-offs); embedding: this model's text tower; llm: a chat model",
    )
    p.add_argument(
        "--min-score",
        type=int,
        default=3,
        help="judged rule: smallest 1-5 score edited (default 3, the paper's)",
    )
    p.add_argument(
        "--signs",
        choices=("both", "seed"),
        default=None,
        help="judged rule, --suppress: judge the explanations of +v and of -v (both, default: zeroing "
        "removes both signs; the plan says which matched) or only the stored +v (seed, the seed's rule); "
        "--amplify always reads +v",
    )
    p.add_argument(
        "--allow-large",
        action="store_true",
        help="allow a concept edit of more than 10%% of the components selected from",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="smallest score selected, >= 0 (default 0.1 for weight, 0.3 for alignment)",
    )
    p.add_argument(
        "--max-per-layer", type=int, default=None, help="keep only the N best-scoring components per layer"
    )
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="CHECKPOINT",
        help="the edited model to write: .pt/.safetensors (HF: a directory), its edit log beside it; "
        "default: DATA_DIR/models/{model}/{pretrained}/edits/",
    )
    p.add_argument("--force", action="store_true", help="let --output replace a file sith edit did not write")
    p.add_argument("--dtype", choices=("keep", "float32", "float16", "bfloat16"), default="keep",
                   help="tensor type of the written checkpoint (default keep: the input's, fp16 stays fp16)")
    p.add_argument("--dry-run", action="store_true", help="check and print the plan; write nothing")
    add_format_args(p, output=False)
    add_llm_args(p)
    p.add_argument("--apply-log", type=Path, default=None, help="reproduce a logged edit on this model")
    p.add_argument("--undo-log", type=Path, default=None, help="restore the original from this edited model")
    p.set_defaults(func=lambda args: stored_as_chosen(args, run_edit))


def stored_as_chosen(args: argparse.Namespace, run) -> int:  # noqa: ANN001 - run_edit
    """``run(args)`` with checkpoints written in ``--dtype`` (:mod:`sith.load.storage`)."""
    from sith.load.storage import stored_as

    return stored_as(args.dtype, run, args)


def run_edit(args: argparse.Namespace) -> int:
    from sith import api
    from sith.cli.checks import check_edit_args
    from sith.errors import SithError

    check_edit_args(args, getattr(args, "argv", []))  # before any work: scales, --output
    by_concept = bool(args.suppress or args.amplify)
    if args.apply_log or args.undo_log:
        return run_log(args, mixed=bool(by_concept or args.component))
    if not (args.component or by_concept):
        raise SithError("nothing to edit: pass --component, --suppress or --amplify")
    components = [(*c[:3], args.alpha if c[3] is None else c[3]) for c in args.component or []]
    judge = args.judge
    if args.rule == "judged" and args.judge == "llm" and by_concept:
        judge = llm_judge_from_args(args, Path(args.data_dir) / "judge-cache.json")
    plan, ckpt, log_file = api.edit(
        args.model_name,
        args.pretrained,
        components=components,
        suppress=args.suppress,
        amplify=args.amplify,
        suppress_alpha=args.alpha,
        amplify_alpha=args.amplify_alpha,
        **decomposition_options(args),
        rule=args.rule,
        judge=judge,
        min_score=args.min_score,
        threshold=args.threshold,
        max_per_layer=args.max_per_layer,
        allow_large=args.allow_large,
        signs=args.signs,
        output=args.output,
        dry_run=args.dry_run,
        data_dir=args.data_dir,
        device=args.device,
        progress=progress(args),
    )
    print_plan(args, plan, ckpt, log_file)
    return 0


def run_log(args: argparse.Namespace, *, mixed: bool) -> int:
    """``--apply-log`` / ``--undo-log`` (with ``--dry-run``: check everything, write nothing)."""
    from sith import api
    from sith.errors import SithError

    if args.apply_log and args.undo_log:
        raise SithError("pass --apply-log or --undo-log, not both")
    if mixed:
        raise SithError(
            "--apply-log/--undo-log reproduce a logged edit as it is; drop --suppress/--amplify/--component "
            "(or edit the reproduced model in a second run)"
        )
    where = dict(dry_run=args.dry_run, data_dir=args.data_dir, device=args.device)
    if args.apply_log:
        plan, ckpt, log_file = api.apply_log(
            args.apply_log, args.output, args.model_name, args.pretrained, **where
        )
        print_plan(args, plan, ckpt, log_file)
    else:
        restored = api.undo_log(args.undo_log, args.output, args.model_name, args.pretrained, **where)
        print(restored if restored is not None else "dry run: the log undoes on this model; nothing written")
    return 0


def print_plan(args: argparse.Namespace, plan, ckpt: Path | None, log_file: Path | None) -> None:  # noqa: ANN001
    """The plan (table + totals + notes, or its JSON record / CSV), then the written paths."""
    from sith.decompose.report import rows_to_csv, to_json
    from sith.edit.plan import PLAN_FIELDS

    fmt = output_format(args)
    if fmt == "json":
        print(to_json(plan.record(ckpt, log_file)))
        return
    rows = plan.sorted_rows()
    if fmt == "csv":
        print(rows_to_csv(rows, PLAN_FIELDS), end="")
        if ckpt is not None:
            print(f"{ckpt}\n{log_file}", file=sys.stderr)
        return
    print(format_plan(rows, plan.totals(), plan.notes))
    if ckpt is None:
        print("dry run: nothing written")
    else:
        print(f"{ckpt}\n{log_file}")


def format_plan(rows: list[dict], totals: dict | None = None, notes: list[str] | None = None) -> str:
    """The edit plan as a text table: one row per component, its judged score, selecting score
    and explanation; then the totals (share of the components selected from, of each layer's
    sigma^2 energy) and the notes on the request."""
    lines = [f"{'layer':>5} {'head':>4} {'idx':>4} {'sigma':>9} {'alpha':>6} {'judged':>6} {'score':>6}  "
             "explanation"]
    for r in rows:
        sv = "" if r["singular_value"] is None else f"{r['singular_value']:.4f}"
        score = "-" if r["score"] is None else f"{r['score']:.3f}"
        judged = "-" if r.get("judged") is None else str(r["judged"])
        expl = ", ".join(f"{c} ({w:.2f})" for c, w in r["explanation"] if w > 0) or r["reason"]
        if r["reason"].endswith("v]"):  # the sign the judged rule matched
            expl = f"[{r['reason'].rsplit('[', 1)[-1]} {expl}"
        lines.append(
            f"{r['layer']:>5} {r['head']:>4} {r['index']:>4} {sv:>9} {r['alpha']:>6.2f} {judged:>6} "
            f"{score:>6}  {expl}"
        )
    line = f"{len(rows)} component{'' if len(rows) == 1 else 's'}"
    if totals and totals.get("pool"):
        energy = ", ".join(f"layer {k} {float(v):.2%}" for k, v in totals["energy_share"].items())
        line = f"{len(rows)} of {totals['pool']} components selected ({totals['share_of_pool']:.1%})"
        line += f"; sigma^2 energy edited: {energy}"
    lines.append(line)
    lines += [f"# note: {n}" for n in notes or []]
    lines.append(PLAN_LEGEND)
    return "\n".join(lines)
