"""A judge that asks any OpenAI-compatible chat endpoint (hosted, vLLM, Ollama, a test fake).

Behaviour (details and the prompt text in docs/judges.md):

- one request per distinct prompt (:func:`sith.edit.judges.prompt.build_messages`); explanations
  with no positive weight score 1 without a request;
- answers are cached on disk, keyed by sha256 of (model, prompt) (:mod:`sith.edit.judges.cache`);
- before any request the plan is logged: explanations, cached answers, requests to make, a
  prompt-token estimate and a cost estimate (when prices are given); more planned requests
  than ``max_calls`` is refused, and the run stops if retries would pass ``max_calls``;
- strict parsing: an answer that is not exactly one integer 1–5 is asked again
  (``parse_retries`` times), then a :class:`SithError` names the bad answer;
- connection errors, timeouts, HTTP 429 and 5xx are retried with exponential backoff
  (``retries`` times, ``backoff_s · 2^i``), then a one-line :class:`SithError`; other HTTP
  errors (401, 404, ...) fail at once;
- requests run in a thread pool of ``concurrency`` workers.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sith.edit.judges.base import MIN_SCORE, Explanation, Verdict, check_task, positive_sorted
from sith.edit.judges.cache import AnswerCache
from sith.edit.judges.prompt import (
    USER_TEMPLATE,
    build_messages,
    cache_key,
    check_template,
    estimate_tokens,
    parse_answer,
)
from sith.errors import ConfigError, SithError

log = logging.getLogger("sith.judge")

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
#: Answer tokens assumed per request in the cost estimate.
ANSWER_TOKENS = 2
#: The cache file is rewritten after this many new answers (and at the end of every run).
FLUSH_EVERY = 50


@dataclass(frozen=True)
class CallPlan:
    """What :meth:`LLMJudge.score` will do: counts and the estimated prompt tokens and cost (USD)."""

    n_explanations: int
    n_cached: int
    n_calls: int
    prompt_tokens: int
    cost_usd: float | None

    def describe(self, model: str, url: str) -> str:
        cost = "unknown (give prices per 1M tokens)" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        return (
            f"judge {model} at {url}: {self.n_explanations} explanations, {self.n_cached} cached, "
            f"{self.n_calls} requests, ~{self.prompt_tokens} prompt tokens, estimated cost {cost} "
            "(more if answers must be asked again)"
        )


def resolve_key(api_key: str | None, key_env: str) -> str:
    """``api_key`` if given, else the environment variable ``key_env``."""
    if api_key:
        return api_key
    key = os.environ.get(key_env, "")
    if not key:
        raise ConfigError(
            "key_env",
            f"no API key for the judge: set the environment variable {key_env} "
            "(or name another one with {name})",
        )
    return key


def is_transient(exc: BaseException) -> bool:
    """Connection errors, timeouts, HTTP 429 and 5xx: worth retrying."""
    import openai

    if isinstance(exc, openai.APIConnectionError | openai.RateLimitError):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


class LLMJudge:
    """Scores explanations 1–5 by asking a chat model (see the module docstring).

    Args:
        base_url: the endpoint, e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:8000/v1``.
        model: the model name the endpoint serves.
        api_key: the key; None reads the environment variable ``key_env``.
        cache_path: JSON file of cached answers (None: memory only).
        max_calls: the most HTTP requests this judge may make (retries included); None = no limit.
        concurrency: requests in flight at once.
        retries: extra tries after a connection error / 429 / 5xx.
        parse_retries: extra tries after an answer that is not one integer 1–5.
        backoff_s: first retry delay; it doubles each try.
        price_in, price_out: USD per 1M prompt / answer tokens, for the cost estimate.
        user_template: the user message, with ``{concepts}`` and ``{task}`` (default: the paper's
            1-5 rubric, :data:`sith.edit.judges.prompt.USER_TEMPLATE`).
    """

    kind = "llm"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        key_env: str = DEFAULT_KEY_ENV,
        cache_path: str | Path | None = None,
        max_calls: int | None = None,
        concurrency: int = 4,
        retries: int = 4,
        parse_retries: int = 2,
        backoff_s: float = 1.0,
        timeout_s: float = 60.0,
        max_tokens: int | None = 8,
        price_in: float | None = None,
        price_out: float | None = None,
        user_template: str = USER_TEMPLATE,
    ) -> None:
        import openai

        if concurrency < 1 or retries < 0 or parse_retries < 0:
            raise SithError("concurrency must be ≥ 1 and retries ≥ 0")
        if max_calls is not None and max_calls < 0:
            raise ConfigError("max_calls", f"{{name}} must be ≥ 0, got {max_calls}")
        self.user_template = check_template(user_template)
        self.base_url = base_url
        self.model = model
        self.client = openai.OpenAI(
            base_url=base_url, api_key=resolve_key(api_key, key_env), max_retries=0, timeout=timeout_s
        )
        self.cache = AnswerCache(cache_path)
        self.max_calls = max_calls
        self.concurrency = concurrency
        self.retries = retries
        self.parse_retries = parse_retries
        self.backoff_s = backoff_s
        self.max_tokens = max_tokens
        self.price_in = price_in
        self.price_out = price_out
        self.calls_made = 0
        self.count_lock = threading.Lock()

    def prompts(self, explanations: Sequence[Explanation], task: str) -> list[tuple[str, list] | None]:
        """Per explanation ``(cache key, messages)``, or None when it has no positive concept."""
        task = check_task(task)
        out: list[tuple[str, list] | None] = []
        for e in explanations:
            if not positive_sorted(e):
                out.append(None)
                continue
            messages = build_messages(e, task, self.user_template)
            out.append((cache_key(self.model, messages), messages))
        return out

    def plan(self, explanations: Sequence[Explanation], task: str) -> CallPlan:
        """Count cached answers and requests to make, and estimate tokens and cost."""
        return self.make_plan(self.prompts(explanations, task))

    def make_plan(self, prompts: list[tuple[str, list] | None]) -> CallPlan:
        todo = {k: m for k, m in (p for p in prompts if p is not None) if self.cache.get(k) is None}
        n_cached = sum(1 for p in prompts if p is not None and p[0] not in todo)
        tokens = sum(estimate_tokens(m) for m in todo.values())
        cost = None
        if self.price_in is not None and self.price_out is not None:
            cost = (tokens * self.price_in + len(todo) * ANSWER_TOKENS * self.price_out) / 1e6
        return CallPlan(len(prompts), n_cached, len(todo), tokens, cost)

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "url": self.base_url}

    def judge(self, explanations: list[Explanation], question: str, concepts: Sequence[str] = ()) -> Verdict:
        """Scores for the task ``question`` (an LLM reads the question, not a concept list)."""
        return Verdict(self.score(explanations, question))

    def score(self, explanations: list[Explanation], task: str) -> list[int]:
        """One score 1–5 per explanation; logs the plan first, refuses more than ``max_calls``."""
        prompts = self.prompts(explanations, task)
        plan = self.make_plan(prompts)
        log.info("%s", plan.describe(self.model, self.base_url))
        if self.max_calls is not None and plan.n_calls > self.max_calls - self.calls_made:
            raise ConfigError(
                "max_calls",
                f"the judge needs {plan.n_calls} requests but {{name}} allows "
                f"{self.max_calls - self.calls_made} more; raise {{name}} or judge fewer components",
            )
        todo = {p[0]: p[1] for p in prompts if p is not None and self.cache.get(p[0]) is None}
        try:
            self.run_all(todo)
        finally:
            self.cache.flush()
        return [MIN_SCORE if p is None else int(self.cache.get(p[0])) for p in prompts]

    def run_all(self, todo: dict[str, list]) -> None:
        """Ask every prompt in ``todo`` with ``concurrency`` workers; the first error stops the rest."""
        if not todo:
            return
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            futures = [pool.submit(self.ask_and_store, k, m) for k, m in todo.items()]
            done, _ = wait(futures, return_when="FIRST_EXCEPTION")
            for f in futures:
                if f in done and f.exception() is not None:
                    raise f.exception()
            for f in futures:
                f.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def ask_and_store(self, key: str, messages: list) -> None:
        self.cache.put(key, self.ask(messages), self.model)
        if self.cache.dirty >= FLUSH_EVERY:
            self.cache.flush()

    def ask(self, messages: list) -> int:
        """One prompt's answer, with parse retries (each request itself retried on transient errors)."""
        text = None
        for _ in range(self.parse_retries + 1):
            text = self.request(messages)
            answer = parse_answer(text)
            if answer is not None:
                return answer
        shown = repr((text or "")[:80])
        raise SithError(
            f"judge model {self.model} answered {shown} instead of one integer 1-5 "
            f"({self.parse_retries + 1} tries); use a model that follows the instruction"
        )

    def count_request(self) -> None:
        with self.count_lock:
            if self.max_calls is not None and self.calls_made >= self.max_calls:
                raise ConfigError(
                    "max_calls",
                    f"reached {{name}} {self.max_calls} (retries included); "
                    "raise it or rerun (answers so far are cached)",
                )
            self.calls_made += 1

    def request(self, messages: list) -> str | None:
        """The answer text of one chat request; transient failures retried with backoff."""
        import openai

        last: BaseException | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            self.count_request()
            try:
                return self.complete(messages)
            except openai.APIStatusError as exc:
                if not is_transient(exc):
                    raise ConfigError(
                        "model",
                        f"judge endpoint {self.base_url} refused the request (HTTP {exc.status_code}); "
                        "check the key, {name} and {name:base_url}",
                    ) from None
                last = exc
            except openai.APIConnectionError as exc:
                last = exc
        raise ConfigError(
            "base_url",
            f"judge endpoint {self.base_url} failed {self.retries + 1} times "
            f"({type(last).__name__}); check {{name}} and that the server is up",
        )

    def complete(self, messages: list) -> str | None:
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0}
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        response = self.client.chat.completions.create(**kwargs)
        if not response.choices:
            return None
        return response.choices[0].message.content
