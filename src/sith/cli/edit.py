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

#: Under the plan table: what its score column means.
PLAN_LEGEND = (
    "# score: what selected the component: |cos| of its target with the concept (alignment rule) or "
    "the concept's weight in its explanation (weight rule); explanation: the component's own concepts"
)


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
        help="scale for suppressed/indexed components (default 0: removes them)",
    )
    p.add_argument(
        "--amplify-alpha", type=float, default=2.0, help="scale for amplified components (default 2)"
    )
    add_decomposition_args(p, layers_help="layers to select from (default: last 4)")
    p.add_argument(
        "--rule",
        choices=("weight", "alignment"),
        default="alignment",
        help="select by |cos| of component and concept (alignment, default) or by the concept's "
        "weight in the component's explanation (weight)",
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
        help=".pt/.safetensors (HF: a directory); default: DATA_DIR/models/{model}/{pretrained}/edits/",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="check and print the plan; write nothing"
    )
    add_format_args(p, output=False)
    p.add_argument(
        "--apply-log", type=Path, default=None, help="reproduce a logged edit on this model"
    )
    p.add_argument(
        "--undo-log", type=Path, default=None, help="restore the original from this edited model"
    )
    p.set_defaults(func=run_edit)


def run_edit(args: argparse.Namespace) -> int:
    from sith import api
    from sith.decompose.report import rows_to_csv, to_json
    from sith.edit import apply_log, undo_log
    from sith.edit.run import read_log
    from sith.errors import SithError

    if args.apply_log or args.undo_log:
        if args.apply_log and args.undo_log:
            raise SithError("pass --apply-log or --undo-log, not both")
        if args.output is None:
            raise SithError("--apply-log/--undo-log need --output PATH for the checkpoint to write")
        read_log(args.apply_log or args.undo_log)  # a malformed log fails before the model loads
        clip = api.load_model(args.model_name, args.pretrained, args.device)
        if args.apply_log:
            ckpt, log_file = apply_log(clip, args.apply_log, args.output)
            print(f"{ckpt}\n{log_file}")
        else:
            print(undo_log(clip, args.undo_log, args.output))
        return 0
    if not (args.component or args.suppress or args.amplify):
        raise SithError("nothing to edit: pass --component, --suppress or --amplify")
    components = [(*c[:3], args.alpha if c[3] is None else c[3]) for c in args.component or []]
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
        threshold=args.threshold,
        max_per_layer=args.max_per_layer,
        output=args.output,
        dry_run=args.dry_run,
        data_dir=args.data_dir,
        device=args.device,
        progress=progress(args),
    )
    rows = sorted(plan.rows(), key=lambda r: (r["layer"], r["head"], r["index"]))
    fmt = output_format(args)
    if fmt == "json":
        print(to_json({"components": rows, "checkpoint": _str(ckpt), "log": _str(log_file)}))
    elif fmt == "csv":
        print(rows_to_csv(rows, PLAN_FIELDS), end="")
        if ckpt is not None:
            print(f"{ckpt}\n{log_file}", file=sys.stderr)
    else:
        print(format_plan(rows))
        if ckpt is not None:
            print(f"{ckpt}\n{log_file}")
    return 0


PLAN_FIELDS = ["layer", "head", "index", "singular_value", "alpha", "score", "reason", "explanation"]


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def format_plan(rows: list[dict]) -> str:
    """The edit plan as a text table: one row per component, its score and explanation."""
    lines = [f"{'layer':>5} {'head':>4} {'idx':>4} {'sigma':>9} {'alpha':>6} {'score':>6}  explanation"]
    for r in rows:
        sv = "" if r["singular_value"] is None else f"{r['singular_value']:.4f}"
        score = "-" if r["score"] is None else f"{r['score']:.3f}"
        expl = ", ".join(f"{c} ({w:.2f})" for c, w in r["explanation"]) or r["reason"]
        lines.append(
            f"{r['layer']:>5} {r['head']:>4} {r['index']:>4} {sv:>9} {r['alpha']:>6.2f} {score:>6}  {expl}"
        )
    lines.append(f"{len(rows)} component(s)")
    lines.append(PLAN_LEGEND)
    return "\n".join(lines)
