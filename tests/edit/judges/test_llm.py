import socket

import pytest

from sith.edit.judges import LLMJudge, build_messages, parse_answer
from sith.errors import SithError
from tests.edit.judges.fake_server import FakeChatServer, task_answer

EXPL = [[("water", 0.5), ("ocean", 0.2)], [("red", 0.4)], [("lake", 0.3), ("water", 0.1)]]


def judge(url, tmp_path, **kw):
    kw = {"api_key": "sk-test", "backoff_s": 0.001, "concurrency": 2, **kw}
    return LLMJudge(base_url=url, model="fake-model", cache_path=tmp_path / "cache.json", **kw)


def test_prompt_lists_positive_concepts_sorted_with_weights():
    msgs = build_messages([("b", 0.1), ("a", 0.7), ("neg", -0.3), ("zero", 0.0)], "is it water?")
    user = msgs[-1]["content"]
    assert user.index("- a (0.700)") < user.index("- b (0.100)")
    assert "neg" not in user and "zero" not in user
    assert "Task: is it water?" in user


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("3", 3),
        (" 5\n", 5),
        ("1", 1),
        ("0", None),
        ("6", None),
        ("3.", None),
        ("3 or 4", None),
        ("three", None),
        ("", None),
        (None, None),
        ("12", None),
    ],
)
def test_parse_is_strict(text, want):
    assert parse_answer(text) == want


def test_scores_from_server_and_key_sent(tmp_path):
    with FakeChatServer(lambda b: (200, task_answer(b))) as srv:
        j = judge(srv.url, tmp_path)
        assert j.score(EXPL + [[]], "water?") == [5, 1, 5, 1]
        assert len(srv.requests) == 3  # the empty explanation is never sent
        assert srv.requests[0]["path"] == "/v1/chat/completions"
        assert srv.requests[0]["auth"] == "Bearer sk-test"
        assert j.calls_made == 3


def test_key_from_env(tmp_path, monkeypatch):
    monkeypatch.delenv("MY_JUDGE_KEY", raising=False)
    with pytest.raises(SithError, match="MY_JUDGE_KEY"):
        LLMJudge(base_url="http://127.0.0.1:1/v1", model="m", key_env="MY_JUDGE_KEY")
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-env")
    with FakeChatServer(lambda b: (200, "2")) as srv:
        j = LLMJudge(base_url=srv.url, model="m", key_env="MY_JUDGE_KEY", backoff_s=0.001)
        assert j.score([[("x", 1.0)]], "t") == [2]
        assert srv.requests[0]["auth"] == "Bearer sk-env"


def test_cache_hit_makes_zero_calls(tmp_path):
    with FakeChatServer(lambda b: (200, task_answer(b))) as srv:
        first = judge(srv.url, tmp_path).score(EXPL, "water?")
        assert len(srv.requests) == 3
        again = judge(srv.url, tmp_path)  # a new judge reads the cache file
        assert again.plan(EXPL, "water?").n_calls == 0
        assert again.score(EXPL, "water?") == first
        assert len(srv.requests) == 3 and again.calls_made == 0
        # another task is another prompt: not a cache hit
        judge(srv.url, tmp_path).score(EXPL[:1], "scene?")
        assert len(srv.requests) == 4


def test_non_integer_answer_retried_then_error(tmp_path):
    answers = iter(["I think 4", "4"])
    with FakeChatServer(lambda b: (200, next(answers))) as srv:
        assert judge(srv.url, tmp_path).score(EXPL[:1], "t") == [4]
        assert len(srv.requests) == 2
    with FakeChatServer(lambda b: (200, "four")) as srv:
        with pytest.raises(SithError, match="answered 'four'") as err:
            judge(srv.url, tmp_path, parse_retries=2).score(EXPL[1:2], "t")
        assert len(srv.requests) == 3
        assert "\n" not in str(err.value)


def test_server_error_retried_then_ok(tmp_path):
    status = iter([500, 503, 200])
    with FakeChatServer(lambda b: (next(status), "3")) as srv:
        assert judge(srv.url, tmp_path, retries=3).score(EXPL[:1], "t") == [3]
        assert len(srv.requests) == 3


def test_client_error_fails_at_once(tmp_path):
    with FakeChatServer(lambda b: (401, "bad key")) as srv:
        with pytest.raises(SithError, match="HTTP 401"):
            judge(srv.url, tmp_path, retries=3).score(EXPL[:1], "t")
        assert len(srv.requests) == 1


def test_server_down_retry_then_one_line_error(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    j = judge(f"http://127.0.0.1:{port}/v1", tmp_path, retries=2, timeout_s=2.0)
    with pytest.raises(SithError, match="failed 3 times") as err:
        j.score(EXPL[:1], "t")
    assert "\n" not in str(err.value)
    assert j.calls_made == 3
    assert not (tmp_path / "cache.json").exists()


def test_max_calls_refused_before_any_request(tmp_path):
    with FakeChatServer(lambda b: (200, "2")) as srv:
        j = judge(srv.url, tmp_path, max_calls=2)
        with pytest.raises(SithError, match="needs 3 requests"):
            j.score(EXPL, "t")
        assert srv.requests == []
        assert j.score(EXPL[:2], "t") == [2, 2]
        assert len(srv.requests) == 2


def test_max_calls_counts_retries(tmp_path):
    with FakeChatServer(lambda b: (200, "nope")) as srv:
        with pytest.raises(SithError, match="reached max_calls"):
            judge(srv.url, tmp_path, max_calls=2, parse_retries=5).score(EXPL[:1], "t")
        assert len(srv.requests) == 2


def test_plan_cost_estimate(tmp_path):
    with FakeChatServer(lambda b: (200, "2")) as srv:
        j = judge(srv.url, tmp_path, price_in=1.0, price_out=2.0)
        plan = j.plan(EXPL + [[]], "t")
        assert (plan.n_explanations, plan.n_cached, plan.n_calls) == (4, 0, 3)
        assert plan.prompt_tokens > 100
        assert plan.cost_usd == pytest.approx((plan.prompt_tokens * 1.0 + 3 * 2 * 2.0) / 1e6)
        assert "estimated cost $" in plan.describe("m", srv.url)
        assert "unknown" in judge(srv.url, tmp_path).plan(EXPL, "t").describe("m", srv.url)


def test_corrupt_cache_is_one_line_error(tmp_path):
    (tmp_path / "cache.json").write_text("{not json")
    with pytest.raises(SithError, match="judge cache"):
        judge("http://127.0.0.1:1/v1", tmp_path)


def test_failed_run_keeps_finished_answers(tmp_path):
    def reply(body):
        return (200, "4") if "- water (" in body["messages"][-1]["content"] else (401, "no")

    with FakeChatServer(reply) as srv:
        with pytest.raises(SithError, match="HTTP 401"):
            judge(srv.url, tmp_path, concurrency=1).score(EXPL[:2], "t")
    with FakeChatServer(lambda b: (200, "1")) as srv:
        assert judge(srv.url, tmp_path).score(EXPL[:2], "t") == [4, 1]
        assert len(srv.requests) == 1  # only the failed one is asked again


def test_prompt_template_from_a_file_is_checked_and_used():
    import pytest as _pytest

    from sith.edit.judges.prompt import check_template
    from sith.errors import SithError

    msgs = build_messages([("water", 0.5)], "background?", "Concepts:\n{concepts}\nQ: {task}")
    assert msgs[1]["content"] == "Concepts:\n- water (0.500)\nQ: background?"
    for bad, needle in (("no placeholders", "must contain"), ("{concepts} {task} {x}", "bad placeholder")):
        with _pytest.raises(SithError, match=needle):
            check_template(bad)
