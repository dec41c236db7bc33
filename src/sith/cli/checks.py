"""Argument checks the commands run before any work (one-line call sites in the commands).

Each check raises :class:`~sith.errors.SithError` (one ``error:`` line, exit 2) and touches
nothing on disk: no model is loaded, no folder is made.

* :func:`check_alphas` — every scale is finite and ``0 <= alpha <= MAX_ALPHA``;
* :func:`check_alpha_flags` — ``--alpha`` / ``--amplify-alpha`` only with what they scale;
* :func:`check_edit_output` — ``--output`` is a checkpoint name, is none of the inputs, and
  replaces only a file ``sith edit`` wrote (its ``.edit-log.json`` names it) unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

from sith.errors import SithError

#: The largest scale an edit may give a singular value. A component scaled by more than
#: 100× outgrows every other direction of its head (singular values of one head span about
#: two decades); larger factors only make weights that overflow (1e30 → 1e29 weights).
MAX_ALPHA = 100.0
#: The edit log's format tag (``sith.edit.exact.LOG_FORMAT``; spelled out: no torch at start-up).
LOG_FORMAT = "sith-edit-log/1"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")


def check_alpha(value: float, flag: str) -> None:
    if not math.isfinite(value) or not 0 <= value <= MAX_ALPHA:
        raise SithError(
            f"{flag} {value:g} is out of range: a scale must be a finite number from 0 (remove) to "
            f"{MAX_ALPHA:g} (amplify), e.g. {flag} 0 or {flag} 2"
        )


def check_alphas(args: argparse.Namespace) -> None:
    """``--alpha``, ``--amplify-alpha`` and each ``--component``'s ``ALPHA`` within the bound."""
    check_alpha(args.alpha, "--alpha")
    check_alpha(args.amplify_alpha, "--amplify-alpha")
    for layer, head, index, alpha in args.component or []:
        if alpha is not None:
            check_alpha(alpha, f"--component {layer}:{head}:{index} alpha")


def check_alpha_flags(args: argparse.Namespace, argv_flags: set[str]) -> None:
    """A scale flag given without what it scales is refused, never silently ignored."""
    if "--alpha" in argv_flags and not (args.suppress or args.component) and args.amplify:
        raise SithError(
            "--alpha scales --suppress and --component edits; --amplify uses --amplify-alpha "
            f"(default 2): pass --amplify-alpha {args.alpha:g} instead"
        )
    if "--amplify-alpha" in argv_flags and not args.amplify and (args.suppress or args.component):
        raise SithError("--amplify-alpha scales --amplify edits only; use --alpha for --suppress/--component")


def given_flags(argv: list[str]) -> set[str]:
    """The long flags written on the command line (``--alpha=2`` counts as ``--alpha``)."""
    return {a.split("=", 1)[0] for a in argv if a.startswith("--")}


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (resolved; hard links and symlinks included)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def written_by_sith(output: Path) -> bool:
    """Whether ``output`` is a checkpoint ``sith edit`` wrote: the log beside it
    (``NAME.edit-log.json``) is a sith edit log whose ``output.path`` is this file."""
    log = output.with_name((output.stem if output.suffix else output.name) + ".edit-log.json")
    try:
        record = json.loads(log.read_text(encoding="utf-8"))
        named = Path(record["output"]["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    # the log sits beside the file and names it (a relative path was relative to another cwd)
    return record.get("format") == LOG_FORMAT and (same_file(named, output) or named.name == output.name)


def check_edit_output(args: argparse.Namespace) -> None:
    """``--output`` is a checkpoint name, differs from every input, and never replaces a file
    sith did not write (``--force`` allows it)."""
    output = args.output
    if output is None:
        return
    output = Path(output)
    if output.suffix and output.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise SithError(
            f"--output {output}: cannot tell the checkpoint format from {output.suffix!r}; end the name in "
            ".safetensors or .pt (a Hugging Face model: a folder name without a suffix)"
        )
    inputs = {"--pretrained": args.pretrained, "--apply-log": args.apply_log, "--undo-log": args.undo_log,
              "--dictionary": getattr(args, "dictionary", None)}
    for flag, value in inputs.items():
        if value and same_file(output, Path(str(value))):
            raise SithError(
                f"--output {output} is the {flag} input; write the edited model to a new file "
                "(the input stays as it was)"
            )
    if output.is_file() and not getattr(args, "force", False) and not written_by_sith(output):
        raise SithError(
            f"--output {output} exists and was not written by `sith edit` (no edit log beside it names "
            "it); choose a new path, or pass --force to replace it"
        )


def check_query(text: str, what: str = "the concept") -> None:
    """A request names something: not empty, with at least one letter or digit (an emoji or
    punctuation alone gives the text tower nothing to read)."""
    if not str(text).strip():
        raise SithError(f"{what} is empty; pass a word or phrase, e.g. water")
    if not any(ch.isalnum() for ch in str(text)):
        raise SithError(f"{what} {text!r} has no letters or digits; name a concept, e.g. water")


def check_requests(args: argparse.Namespace) -> None:
    """``--suppress`` / ``--amplify``, when given, name at least one concept each."""
    for flag, names in (("--suppress", args.suppress), ("--amplify", args.amplify)):
        if names is not None and not names:
            raise SithError(f'{flag} is empty; name the concepts, comma-separated, e.g. {flag} "water,ocean"')
        for name in names or []:
            check_query(name, f"{flag} concept")


def check_query_fits(tokenizer, text: str) -> None:  # noqa: ANN001 - open_clip or HF tokenizer
    """Refuse a query longer than the text tower's context (it would be cut without a word)."""
    ids = tokenizer([text])[0]
    length = int(getattr(tokenizer, "context_length", len(ids)) or len(ids))
    if len(ids) >= length and int(ids[-1]) != 0:
        raise SithError(
            f"the query has {len(str(text)):,} characters, more than the text tower reads ({length} tokens, "
            "about 50-70 words); it would be cut silently: shorten it"
        )


def check_requests_fit(args: argparse.Namespace) -> None:
    """Every ``--suppress`` / ``--amplify`` concept fits the text tower's context (the model is
    loaded into the session the edit then uses)."""
    names = [*(args.suppress or []), *(args.amplify or [])]
    if not names:
        return
    from sith import api

    tokenizer = api.workspace(args.model_name, args.pretrained, data_dir=args.data_dir,
                              device=args.device).clip.tokenizer
    for name in names:
        check_query_fits(tokenizer, name)


def check_edit_args(args: argparse.Namespace, argv: list[str]) -> None:
    """Everything ``sith edit`` can check before loading a model."""
    check_requests(args)
    check_alphas(args)
    check_alpha_flags(args, given_flags(argv))
    check_edit_output(args)
    if not (args.apply_log or args.undo_log):
        check_requests_fit(args)


def looks_like_file(tag: str) -> bool:
    """A ``--pretrained`` value that names a file rather than a tag (a checkpoint suffix or a path)."""
    return Path(tag).suffix.lower() in CHECKPOINT_SUFFIXES or "/" in tag or os.sep in tag


def check_checkpoint_flags(**flags: str | None) -> None:
    """Each ``--flag value`` that names a checkpoint file exists (named by its own flag, before
    any model loads): ``check_checkpoint_flags(tuned_pretrained=..., pretrained=...)``."""
    for name, value in flags.items():
        if value and looks_like_file(str(value)) and not Path(str(value)).is_file():
            flag = "--" + name.replace("_", "-")
            what = "is a folder" if Path(str(value)).is_dir() else "not found"
            raise SithError(f"{flag}: checkpoint {value} {what}; pass a .safetensors/.pt file or a tag")


def check_output_file(path: Path | None, flag: str = "--output") -> None:
    """A file ``--output`` can be written: not a folder, and no file sits where a folder of
    its path should be (checked before any work; nothing is made)."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise SithError(f"{flag} {path} is a folder; pass a file name")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise SithError(f"cannot use {flag} {path}: {parent} is a file, not a folder; choose another")
            return

