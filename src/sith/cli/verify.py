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
    """Print each layer's error; an error line (exit 2) when one is above the tolerance or NaN."""
    import logging

    from sith import api
    from sith.errors import SithError
    from sith.load.verify import VERIFY_TOL, failing_layers

    errors = api.verify(args.model_name, args.pretrained, device=args.device)
    emit(format_errors(errors, output_format(args)), args.output)
    bad = failing_layers(errors)
    if bad:
        raise SithError(
            f"layers {', '.join(map(str, bad))} differ from the forward pass by more than {VERIFY_TOL:g} "
            "(or NaN): the extracted weights do not describe this model; do not trust its decompositions "
            "(check the checkpoint, or report the architecture)"
        )
    logging.getLogger("sith.verify").info(
        "every layer within %g (unit-normal inputs; float32 rounding gives about 1e-6)", VERIFY_TOL)
    return 0
