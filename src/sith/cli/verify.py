"""``sith verify``: extracted weights against the model's real forward pass, per layer."""

from __future__ import annotations

import argparse

from sith.cli.common import (
    add_model_args,
)


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "verify", parents=[parent], help="check extracted weights against the model's forward pass"
    )
    add_model_args(p)
    p.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Print each layer's error; an error line (exit 2) when one is above the tolerance or NaN."""
    import logging

    from sith import api
    from sith.errors import SithError
    from sith.load.verify import VERIFY_TOL, failing_layers

    errors = api.verify(args.model_name, args.pretrained, device=args.device)
    for layer, err in enumerate(errors):
        print(f"layer {layer:>3}: max abs error {err:.3e}")
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
