"""Argument helpers shared by every ``sith`` command group (public within :mod:`sith.cli`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from sith.organism import ORGANISM_NAME, ORGANISM_TAG

METHOD_HELP = (
    "seed methods: comp-<lambda> (default comp-0.3), omp (non-negative), mp, topk; "
    "project options: ncomp-<lambda> (normalised COMP score), somp (signed OMP), lasso[-<l1>]"
)


class SithParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line, like every other sith error:
    ``error: <problem> (see `sith CMD --help`)``, exit 2 (subparsers inherit the class)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {' '.join(message.split())} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


def add_format_args(p: argparse.ArgumentParser, *, output: bool = True) -> None:
    """``--json | --csv`` (a table by default) and ``--output FILE``."""
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON instead of a table")
    fmt.add_argument("--csv", action="store_true", help="CSV instead of a table")
    if output:
        p.add_argument(
            "--output", type=Path, default=None, help="write the table to this file instead of stdout"
        )


def output_format(args: argparse.Namespace) -> str:
    """``table``, ``json`` or ``csv`` from :func:`add_format_args`' flags."""
    return "json" if args.json else "csv" if args.csv else "table"


def emit(text: str, output: Path | None) -> None:
    """Print ``text``, or write it (atomically, UTF-8) to ``output`` and print the path."""
    if output is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    from sith.io import save_text

    print(save_text(text if text.endswith("\n") else text + "\n", output))


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def parse_layers(text: str) -> list[int]:
    """``"20 21,22"`` → ``[20, 21, 22]`` (argparse type for ``--layers``). Layers count from 0
    in every command; a negative index is refused (it would silently mean "from the end")."""
    try:
        layers = [int(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--layers takes integers, got {text!r}") from None
    if any(x < 0 for x in layers):
        raise argparse.ArgumentTypeError(
            f"--layers counts from 0, got {text!r}; name the layer (the last of a 12-layer model is 11)"
        )
    return layers


def flat_layers(layers: list[list[int]] | None) -> list[int] | None:
    """Flatten ``--layers A B --layers C`` groups; None stays None (the command's default)."""
    return None if layers is None else [x for group in layers for x in group]


def add_skip_bad_arg(p: argparse.ArgumentParser) -> None:
    """``--skip-bad/--no-skip-bad``, one flag and one default for every command that reads
    images (the default lives in :data:`sith.encode.sources.SKIP_BAD_DEFAULT`: skip)."""
    p.add_argument(
        "--skip-bad",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="skip and count unreadable images (default); --no-skip-bad fails on the first",
    )


def skip_bad_option(args: argparse.Namespace) -> dict:
    """``{"skip_bad": ...}`` when the flag was given, else ``{}`` (the library's default)."""
    return {} if args.skip_bad is None else {"skip_bad": args.skip_bad}


def add_model_args(p: argparse.ArgumentParser) -> None:
    """``--model-name --pretrained --data-dir --device``."""
    p.add_argument(
        "--model-name", default=None, help=f"open_clip name or HF dir/id (default: {ORGANISM_NAME})"
    )
    p.add_argument(
        "--pretrained",
        default=None,
        help=f"open_clip tag or checkpoint path (default: {ORGANISM_TAG})",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="data root, the seed's layout (default: data)",
    )
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")


def add_svd_args(p: argparse.ArgumentParser) -> None:
    """``--sv-type --fold-ln/--no-fold-ln`` (docs/method.md §2)."""
    p.add_argument(
        "--sv-type",
        choices=("left", "right"),
        default="right",
        help="explain the directions a head writes (right, default) or reads (left)",
    )
    p.add_argument(
        "--fold-ln",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fold ln_1's gain and centre both sides before the SVD (default: on)",
    )


def quiet_parent() -> argparse.ArgumentParser:
    """A parent parser giving every subcommand ``-q/--quiet`` (so it works anywhere on the line)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress bars or info messages",
    )
    return parent


def progress(args: argparse.Namespace) -> bool:
    """Whether to show progress bars: not ``-q``, and stderr is a terminal (a log file or a
    pipe gets no bars: their cursor-up escapes, ``\x1b[A``, would litter it)."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def add_decomposition_args(p: argparse.ArgumentParser, *, layers_help: str = "default: last 4") -> None:
    """The flags of a :class:`sith.pipeline.DecompositionConfig` (seed defaults; docs/method.md
    §7 options)."""
    add_svd_args(p)
    p.add_argument("--layers", type=parse_layers, nargs="+", default=None, help=layers_help)
    p.add_argument(
        "--rank", type=int, default=None, help="vectors per head (default: 64 capped at the head width)"
    )
    p.add_argument("--method", default="comp-0.3", help=METHOD_HELP)
    p.add_argument("--sparsity", type=int, default=5, help="concepts per vector, K (default 5)")
    p.add_argument(
        "--dictionary",
        default=None,
        help="pool name or text file (default: conceptnet; the organism's own pool for the organism)",
    )
    p.add_argument(
        "--polarity",
        choices=("seed", "best", "both"),
        default="seed",
        help="seed: explain the sign the sign rule gives (default); best/both: project options",
    )
    p.add_argument(
        "--atoms",
        choices=("center", "raw", "image-cone"),
        default="center",
        help="atoms: center = normalise, subtract mean, normalise (seed, default); raw, image-cone: options",
    )
    p.add_argument(
        "--image-mean",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="subtract the image mean from targets (seed, default); --no-image-mean is a project option",
    )
    p.add_argument(
        "--template",
        default=None,
        help='encode concepts in a prompt template, e.g. "a photo of {}" (project option; seed: raw)',
    )


def decomposition_options(args: argparse.Namespace) -> dict:
    """The decomposition keyword options (of :func:`sith.api.decompose`) named by parsed flags."""
    return {
        "layers": flat_layers(args.layers),
        "rank": args.rank,
        "method": args.method,
        "sparsity": args.sparsity,
        "dictionary": args.dictionary,
        "sv_type": args.sv_type,
        "fold_ln": args.fold_ln,
        "polarity": args.polarity,
        "atoms": args.atoms,
        "image_mean": args.image_mean,
        "template": args.template,
    }


def add_precision_arg(p: argparse.ArgumentParser, *, default: str | None, default_text: str) -> None:
    p.add_argument(
        "--precision",
        choices=("fp32", "fp16", "bf16"),
        default=default,
        help=f"autocast precision of the tower; sums stay float64 (default: {default_text})",
    )


def print_on_rank0(path: Path) -> None:
    """Print the written path once (under torchrun every rank returns it)."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(path)
