"""The LLM judge's prompt and its strict answer parser (docs/judges.md shows the text)."""

from __future__ import annotations

import hashlib
import json
import re

from sith.edit.judges.base import Explanation, positive_sorted
from sith.errors import SithError

SYSTEM_PROMPT = (
    "You rate how relevant one internal component of an image model is to a task. "
    "You always answer with exactly one integer from 1 to 5 and nothing else."
)

USER_TEMPLATE = """A component of a vision model is explained by these concepts, \
with weights (a larger weight means the concept matters more):
{concepts}

Task: {task}

How relevant is this component to the task?
1 = unrelated, 2 = weakly related, 3 = related, 4 = strongly related, 5 = clearly about the task.
Answer with exactly one integer from 1 to 5 and nothing else."""

_ANSWER = re.compile(r"\s*([1-5])\s*")


def concept_lines(explanation: Explanation) -> str:
    """``- concept (0.412)`` lines, positive weights only, largest first."""
    return "\n".join(f"- {c} ({w:.3f})" for c, w in positive_sorted(explanation))


def check_template(template: str) -> str:
    """A user prompt template must hold ``{concepts}`` and ``{task}`` and nothing else in braces."""
    try:
        template.format(concepts="", task="")
    except (KeyError, IndexError, ValueError) as exc:
        raise SithError(
            f"the judge prompt template has a bad placeholder ({exc}); use only {{concepts}} and {{task}} "
            "(write literal braces as {{ and }})"
        ) from None
    if "{concepts}" not in template or "{task}" not in template:
        raise SithError("the judge prompt template must contain {concepts} and {task}")
    return template


def build_messages(
    explanation: Explanation, task: str, template: str = USER_TEMPLATE
) -> list[dict[str, str]]:
    """The chat messages (system + user) asking for one explanation's score (``template``: the
    user message with ``{concepts}`` and ``{task}``; default :data:`USER_TEMPLATE`)."""
    user = template.format(concepts=concept_lines(explanation), task=task)
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def cache_key(model: str, messages: list[dict[str, str]]) -> str:
    """sha256 of (model, prompt): the prompt holds the task and the explanation."""
    blob = json.dumps({"model": model, "messages": messages}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def parse_answer(text: str | None) -> int | None:
    """The integer 1–5 if ``text`` is exactly that (surrounding whitespace allowed), else None."""
    if text is None:
        return None
    m = _ANSWER.fullmatch(text)
    return int(m.group(1)) if m else None


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    """A rough prompt-token count (≈ 4 characters per token, plus per-message overhead)."""
    return sum(len(m["content"]) // 4 + 4 for m in messages) + 3
