"""``sith judge FILE --task "..."``: score every component's explanation 1–5 (docs/judges.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sith.cli.common import add_data_dir_arg, add_device_arg, add_format_args

DEFAULT_URL = "https://api.openai.com/v1"
DEFAULT_LLM = "gpt-5-mini"  # the paper's judge
#: ``--judge`` choices of ``sith judge`` and ``sith edit``: the names of the one judge registry,
#: :data:`sith.edit.judges.registry.JUDGES` (spelled out so that ``sith --help`` does not import
#: torch; a test keeps them equal). The first is the default of both commands.
JUDGES = ("share", "words", "embedding", "llm")
#: ``sith experiment --judge`` choices: the experiments judge fixed task concept lists (no
#: request to match against the dictionary), so ``share`` is not among them; the first is the default.
EXPERIMENT_JUDGES = ("embedding", "words", "llm")


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "judge", parents=[parent], help="score each component's explanation 1-5 for a task question"
    )
    p.add_argument("file", type=Path, help="a decomposition .pt written by sith decompose")
    p.add_argument("--task", required=True, help="the task question, e.g. 'background, scene or location'")
    p.add_argument(
        "--judge",
        choices=JUDGES,
        default=JUDGES[0],
        help="share (offline, default, as sith edit): the weight share of the explanation's concepts "
        "that match the task concepts in the file's dictionary by words or meaning; words (offline, "
        "no model): concepts containing a task word; embedding: relevance to the task concepts on "
        "the model's text tower; llm: ask a chat model",
    )
    p.add_argument(
        "--task-concepts",
        default=None,
        help="share/embedding/words judge: comma-separated task concepts (default: --task split at commas)",
    )
    add_score_by_arg(p)
    add_llm_args(p)
    add_device_arg(p, what="the judge's text tower")
    add_data_dir_arg(p)
    add_format_args(p)
    p.set_defaults(func=run_judge)


def add_score_by_arg(p: argparse.ArgumentParser) -> None:
    """The embedding judge's ``--judge-score-by`` flag (docs/judges.md)."""
    p.add_argument(
        "--judge-score-by",
        choices=("mean", "lead"),
        default="mean",
        help="embedding/words judge: bin R_mean (default) or the leading concept's match (lead)",
    )


def add_llm_args(p: argparse.ArgumentParser) -> None:
    """The LLM judge's flags (also for experiments that judge)."""
    p.add_argument(
        "--judge-url", default=DEFAULT_URL, help=f"OpenAI-compatible endpoint (default {DEFAULT_URL})"
    )
    p.add_argument("--judge-model", default=DEFAULT_LLM, help=f"chat model name (default {DEFAULT_LLM})")
    p.add_argument(
        "--judge-key-env",
        default="OPENAI_API_KEY",
        help="environment variable holding the API key (default OPENAI_API_KEY)",
    )
    p.add_argument(
        "--judge-cache",
        type=Path,
        default=None,
        help="JSON cache of answers (default: judge-cache.json beside the decomposition file)",
    )
    p.add_argument(
        "--judge-prompt",
        type=Path,
        default=None,
        help="a text file with the judge's user message, holding {concepts} and {task} (default: the "
        "built-in 1-5 rubric, docs/judges.md)",
    )
    p.add_argument("--max-calls", type=int, default=1000, help="refuse to make more requests (default 1000)")
    p.add_argument("--judge-concurrency", type=int, default=4, help="requests in flight (default 4)")
    p.add_argument(
        "--judge-price-in", type=float, default=None, help="USD per 1M prompt tokens (cost estimate)"
    )
    p.add_argument(
        "--judge-price-out", type=float, default=None, help="USD per 1M answer tokens (cost estimate)"
    )


#: The legend printed under ``sith judge``'s table (docs/judges.md).
JUDGE_LEGEND = (
    "# score: the judge's rating 1-5 of how well the explanation fits --task (5: the task's own concepts); "
    "relevance: what it is\n# binned from (share: the weight share of concepts matching the task; "
    "embedding: weighted best-match cosine to the task's;\n# words: weight of concepts containing a task "
    "word; empty for llm); explanation: concept (weight) pairs, largest weight first\n"
)


def llm_judge_from_args(args: argparse.Namespace, cache_default: Path):
    """An :class:`sith.edit.judges.LLMJudge` configured by :func:`add_llm_args`' flags."""
    from sith.edit.judges import USER_TEMPLATE, LLMJudge
    from sith.io import read_text

    template = USER_TEMPLATE
    if args.judge_prompt is not None:
        template = read_text(args.judge_prompt, what="judge prompt")
    return LLMJudge(
        user_template=template,
        base_url=args.judge_url,
        model=args.judge_model,
        key_env=args.judge_key_env,
        cache_path=args.judge_cache or cache_default,
        max_calls=args.max_calls,
        concurrency=args.judge_concurrency,
        price_in=args.judge_price_in,
        price_out=args.judge_price_out,
    )


def task_familiarity(dec, concepts: list[str], args: argparse.Namespace) -> list:  # noqa: ANN001
    """Whether the decomposition's model tells each task concept from random strings shaped
    like it (the same check as ``sith search`` / ``sith edit``); a noise-like concept is also
    logged as a warning: the embedding judge's scores for it rest on noise."""
    import logging

    from sith.api import workspace
    from sith.cli.checks import check_query_fits
    from sith.pipeline.editing import request_familiarity

    ws = workspace(dec.model.model_name, dec.model.pretrained, data_dir=args.data_dir, device=args.device)
    for c in concepts:
        check_query_fits(ws.clip.tokenizer, c)
    out = [request_familiarity(ws, dec.config, c, [dec.layer]) for c in concepts]
    for f in out:
        if f.noise_like:
            logging.getLogger("sith.judge").warning(
                "task concept %s; its scores rest on noise: name concepts the model knows (sith search WORD "
                "tells)", f.line())
    return out


def run_judge(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from sith.api import judge
    from sith.cli.checks import check_output_file
    from sith.decompose.results import LayerDecomposition
    from sith.edit.judges import split_concepts
    from sith.io import save_text
    from sith.judge import format_judged

    check_output_file(args.output)  # before any work
    dec = LayerDecomposition.load(args.file)
    concepts = None if args.task_concepts is None else split_concepts(args.task_concepts)
    how = args.judge
    if how == "llm":
        how = llm_judge_from_args(args, args.file.parent / "judge-cache.json")
    rows = judge(dec, args.task, judge=how, task_concepts=concepts, score_by=args.judge_score_by,
                 data_dir=args.data_dir, device=args.device)
    checks = []
    if args.judge in ("share", "embedding"):  # judges that read the text tower: does it know the task?
        checks = task_familiarity(dec, concepts or split_concepts(args.task), args)
    meta = {"task": args.task, "judge": args.judge, "decomposition": str(args.file),
            "model": asdict(dec.model), "task_familiarity": [f.record() for f in checks]}
    text = format_judged(rows, "json" if args.json else "csv" if args.csv else "table", meta)
    if not (args.json or args.csv):
        text += "".join(f"# task {f.line()}\n" for f in checks) + JUDGE_LEGEND
    if args.output:
        print(save_text(text, args.output))
    else:
        print(text, end="")
    return 0
