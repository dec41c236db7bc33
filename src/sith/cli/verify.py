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
    from sith import api

    errors = api.verify(args.model_name, args.pretrained, device=args.device)
    for layer, err in enumerate(errors):
        print(f"layer {layer:>3}: max abs error {err:.3e}")
    return 0
