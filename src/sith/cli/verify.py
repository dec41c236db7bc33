"""``sith verify``: extracted weights against the model's real forward pass, per layer."""

from __future__ import annotations

import argparse
import json

from sith.cli.common import (
    add_format_args,
    add_model_args,
    emit,
    output_format,
)

#: The format tag of ``sith verify --json``.
VERIFY_FORMAT = "sith-verify/1"


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "verify", parents=[parent], help="check extracted weights against the model's forward pass"
    )
    add_model_args(p)
    add_format_args(p)
    p.set_defaults(func=run_verify)


def format_errors(errors: list[float], fmt: str) -> str:
    """Per-layer max abs errors as a table, JSON (``sith-verify/1``, rows under ``layers``) or CSV."""
    if fmt == "json":
        rows = [{"layer": i, "max_abs_error": e} for i, e in enumerate(errors)]
        return json.dumps({"format": VERIFY_FORMAT, "layers": rows}, indent=2)
    if fmt == "csv":
        return "layer,max_abs_error\n" + "".join(f"{i},{e:.6e}\n" for i, e in enumerate(errors))
    return "".join(f"layer {i:>3}: max abs error {e:.3e}\n" for i, e in enumerate(errors))


def run_verify(args: argparse.Namespace) -> int:
    from sith import api

    errors = api.verify(args.model_name, args.pretrained, device=args.device)
    emit(format_errors(errors, output_format(args)), args.output)
    return 0
