"""The OpenAI-compatible teacher against a real HTTP server on 127.0.0.1 (tests/fake_openai_server.py):
requests, retries and injected faults, the response cache, preflight errors, budgets,
self-consistency, the Batch API; plus the response parser and the cot / eot answer readers."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import pickle
import random
import re
import socket
import subprocess
import sys
import time

import pytest

from fdd.feedback import verify
from fdd.problems import Problem
from fdd.rationales import eot_program, get_format
from fdd.teachers.agreement import resolver_for
from fdd.teachers.base import Teacher
from fdd.teachers.cache import ResponseCache
from fdd.teachers.openai_compat import OpenAITeacher, load_prompt
from fdd.teachers.parse import (
    extract_code,
    extract_cot,
    extract_eot,
    extract_pot,
    extract_rationale,
    parse_problems,
)
from fdd.teachers.retries import TeacherStopped, retry_after_seconds
from tests.conftest import ROOT, compose_cfg
from tests.fake_openai_server import FakeOpenAIServer, default_responder, target_question


@pytest.fixture
def server():
    with FakeOpenAIServer() as s:
        yield s


def make(server, tmp_path, **kw) -> OpenAITeacher:
    args = dict(model="fake-model", base_url=server.url, api_key="test-key", run_dir=str(tmp_path),
                concurrency=8, max_retries=3, timeout=5, backoff_base_s=0.01, backoff_max_s=0.05)
    return OpenAITeacher(**{**args, **kw})


def problems(k: int, prefix: str = "p") -> list[Problem]:
    return [Problem(id=f"{prefix}{i}", question=f"Tom has {i + 2} apples and buys {i + 5} more. How many apples now?",
                    answer=float(2 * i + 7)) for i in range(k)]


def run(texts: list[str], fmt: str = "pot") -> list[float | None]:
    return [a.value for a in get_format(fmt).answers(texts)]


# --- the three teacher calls --------------------------------------------------------------------
def test_annotate_harder_similar(server, tmp_path):
    t = make(server, tmp_path)
    assert isinstance(t, Teacher)
    t.preflight()
    ps = problems(4)
    rationales = t.annotate(ps)
    assert [len(r) for r in rationales] == [1, 1, 1, 1]
    assert run([r[0] for r in rationales]) == [p.answer for p in ps]

    for origin, call in (("harder", t.harder), ("similar", t.similar)):
        families = call(ps[:3], 2, 1)
        assert [len(f) for f in families] == [2, 2, 2]
        kids = [c for f in families for c in f]
        assert len({c.id for c in kids}) == 6
        for parent, fam in zip(ps, families):
            for i, c in enumerate(fam):
                assert (c.origin, c.parent_id, c.round, c.source, c.answer) == (origin, parent.id, 2, "teacher", None)
                assert c.id == f"{parent.id}.r1.{origin[0]}{i}"
                assert c.question != parent.question and "Question" not in c.question
        assert all(v is not None for v in run([c.rationale for c in kids]))
    u = t.usage()
    assert (u.requests, u.cached, u.failed, u.unparsed) == (4 + 3 + 3, 0, 0, 0)
    assert u.prompt_tokens > 0 and u.completion_tokens > 0
    assert server.counts["chat"] == 1 + 10  # preflight + one request per problem


def test_concurrency_is_bounded_and_used(tmp_path):
    with FakeOpenAIServer(latency=0.2) as s:
        t = make(s, tmp_path, concurrency=8)
        t0 = time.monotonic()
        assert all(t.annotate(problems(16)))
        elapsed = time.monotonic() - t0
    assert elapsed < 1.6, elapsed  # sequential would be 3.2 s; 8 at a time is 0.4 s


def test_works_inside_a_running_event_loop(server, tmp_path):
    t = make(server, tmp_path)

    async def main():
        return t.annotate(problems(2))

    assert [len(r) for r in asyncio.run(main())] == [1, 1]


# --- faults ------------------------------------------------------------------------------------
def test_every_injected_failure_is_counted(tmp_path):
    with FakeOpenAIServer(retry_after="0.3", slow_s=1.0) as s:
        t = make(s, tmp_path, timeout=0.5, max_retries=2)
        qs = ["[[429]]", "[[500]]", "[[slow]]", "[[malformed]]", "[[prose]]", "[[500*9]]", ""]
        ps = [Problem(id=f"f{i}", question=f"Ann has {i + 3} pens and gets 4 more {m}. How many pens?")
              for i, m in enumerate(qs)]
        t0 = time.monotonic()
        out = t.annotate(ps)
        elapsed = time.monotonic() - t0
        u = t.usage()
        # 429, 500, slow (timeout) and malformed body: one retry each; 500*9: retried twice, then failed
        assert u.extra["retries"] == 4 + 2
        assert (u.requests, u.failed, u.unparsed) == (7, 1, 1)
        assert [bool(r) for r in out] == [True, True, True, True, False, False, True]
        assert s.counts["chat"] == 7 + 6
        assert s.counts["fault_429"] == 1 and s.counts["fault_500"] == 1 + 3
        assert s.counts["fault_slow"] == 1 and s.counts["fault_malformed"] == 1
        assert elapsed >= 0.3  # Retry-After was honoured


def test_retry_after_parsing():
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < retry_after_seconds({"retry-after": date}) <= 31
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None and retry_after_seconds(None) is None


def test_server_ignoring_n_is_topped_up(tmp_path):
    with FakeOpenAIServer(max_choices=1) as s:
        t = make(s, tmp_path, n=3)
        out = t.annotate(problems(2))
        assert t.usage().requests == 6 and s.counts["chat"] == 6
        assert [len(r) for r in out] == [1, 1]  # the fake's three answers are identical: deduplicated
        t2 = make(s, tmp_path, n=3)
        assert t2.annotate(problems(2)) == out and t2.usage().cached == 6 and s.counts["chat"] == 6


# --- cache -------------------------------------------------------------------------------------
def test_cache_second_run_makes_no_requests(server, tmp_path):
    ps = problems(5)
    t1 = make(server, tmp_path)
    first = (t1.annotate(ps), t1.harder(ps[:2], 2, 0), t1.similar(ps[2:], 1, 0))
    hits = server.counts["chat"]
    assert hits == 10 and (tmp_path / "teacher_cache.sqlite").exists()
    t2 = make(server, tmp_path)
    second = (t2.annotate(ps), t2.harder(ps[:2], 2, 0), t2.similar(ps[2:], 1, 0))
    assert second == first
    assert server.counts["chat"] == hits
    u = t2.usage()
    assert (u.requests, u.cached, u.prompt_tokens, u.cost_usd) == (0, 10, 0, 0.0)


def test_cache_keeps_independent_draws_apart(server, tmp_path):
    t = make(server, tmp_path)
    p = problems(1)[0]
    t.harder([p], 1, 0)
    t.harder([p], 1, 1)  # a later round asks again: a fresh draw, not the cached one
    twice = t.harder([p, p], 1, 2)  # the same parent twice in one call: two draws, distinct ids
    assert t.usage().requests == 4 and t.usage().cached == 0
    assert twice[0][0].id != twice[1][0].id


def test_cache_is_written_as_responses_arrive(server, tmp_path):
    """A run cut short (here by its budget) keeps what it received; the rerun pays only the rest."""
    ps = problems(6)
    t1 = make(server, tmp_path, max_requests=4, concurrency=1)
    t1.annotate(ps)
    assert len(ResponseCache(tmp_path / "teacher_cache.sqlite")) == 4
    t2 = make(server, tmp_path)
    assert all(t2.annotate(ps))
    assert (t2.usage().requests, t2.usage().cached) == (2, 4)
    assert server.counts["chat"] == 6


_WRITER = """
import sys
from fdd.teachers.cache import ResponseCache
c = ResponseCache(sys.argv[1])
for i in range(150):
    c.put(f"{sys.argv[2]}-{i}", {"texts": [str(i)]})
    c.put(f"shared-{i}", {"texts": [sys.argv[2]]})
"""


def test_cache_concurrent_writer_processes(tmp_path):
    path = tmp_path / "c.sqlite"
    ResponseCache(path)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), f"w{j}"], cwd=ROOT) for j in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    cache = ResponseCache(path)
    assert len(cache) == 3 * 150 + 150 and cache.get("w1-7") == {"texts": ["7"]}
    assert cache._q("PRAGMA journal_mode")[0][0] == "wal"


def test_teacher_pickles(server, tmp_path):
    t = make(server, tmp_path)
    t.annotate(problems(1))
    clone = pickle.loads(pickle.dumps(t))
    assert clone.annotate(problems(1)) == t.annotate(problems(1)) and clone.usage().cached == 1


# --- preflight -----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _preflight_error(teacher: OpenAITeacher) -> str:
    with pytest.raises(RuntimeError) as e:
        teacher.preflight()
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("teacher: ")
    return msg


def test_preflight_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("FDD_TEST_NO_SUCH_KEY", raising=False)
    with FakeOpenAIServer(api_key="right-key") as s:
        base = dict(model="fake-model", base_url=s.url, run_dir=str(tmp_path), timeout=5)
        msg = _preflight_error(OpenAITeacher(**base, api_key_env="FDD_TEST_NO_SUCH_KEY"))
        assert "no API key" in msg and "FDD_TEST_NO_SUCH_KEY" in msg
        monkeypatch.setenv("FDD_TEST_KEY", "right-key")
        OpenAITeacher(**base, api_key_env="FDD_TEST_KEY").preflight()  # the key from the environment works
        msg = _preflight_error(OpenAITeacher(**{**base, "base_url": f"http://127.0.0.1:{_free_port()}/v1"}, api_key="right-key"))
        assert "cannot reach" in msg
        msg = _preflight_error(OpenAITeacher(**{**base, "model": "no-such-model"}, api_key="right-key"))
        assert "model 'no-such-model' not found" in msg
        msg = _preflight_error(OpenAITeacher(**base, api_key="wrong-key"))
        assert "rejected the API key" in msg and "401" in msg
        msg = _preflight_error(OpenAITeacher(**{**base, "base_url": s.url[:-3]}, api_key="right-key"))
        assert "base_url" in msg


def test_preflight_survives_a_flaky_server(tmp_path):
    """20 % of requests fail (429, 500, too slow, malformed): the preflight retries like any request."""
    with FakeOpenAIServer(fail_rate=0.2, slow_s=1.0, seed=3) as s:
        for i in range(12):
            make(s, tmp_path / str(i), timeout=0.3, max_retries=6).preflight()
        assert s.counts["chat"] > 12  # some attempts failed and were retried ...
        assert sum(s.counts[f] for f in ("fault_429", "fault_500", "fault_slow", "fault_malformed")) >= 1


def test_preflight_fails_fast_on_a_refused_connection(tmp_path):
    t = OpenAITeacher(model="m", base_url=f"http://127.0.0.1:{_free_port()}/v1", api_key="k", run_dir=str(tmp_path),
                      max_retries=6, backoff_base_s=1.0)
    t0 = time.monotonic()
    msg = _preflight_error(t)
    assert "cannot reach" in msg and "(connection refused)" in msg and time.monotonic() - t0 < 1.0  # no retries


def test_preflight_stops_on_insufficient_quota(tmp_path):
    with FakeOpenAIServer(quota=0) as s:
        msg = _preflight_error(make(s, tmp_path))
        assert "quota is exhausted" in msg and s.counts["chat"] == 1  # not retried as a rate limit


# --- a teacher that stops working -----------------------------------------------------------------
def test_quota_running_out_mid_call_stops_and_resumes_without_paying_twice(tmp_path):
    ps = problems(20)
    with FakeOpenAIServer(quota=7) as s:
        t = make(s, tmp_path, concurrency=2)
        with pytest.raises(TeacherStopped) as e:
            t.annotate(ps)
        assert "\n" not in str(e.value) and "insufficient_quota" in str(e.value) and "rerun" in str(e.value)
        assert s.counts["fault_quota"] >= 1 and s.counts["served"] == 7
        s.quota = None  # credit added
        t2 = make(s, tmp_path, concurrency=2)
        out = t2.annotate(ps)
        assert run([r[0] for r in out]) == [p.answer for p in ps]
        assert t2.usage().cached == 7 and t2.usage().requests == 13
        assert max(s.served.values()) == 1 and len(s.served) == 20  # none answered (paid for) twice


@pytest.mark.parametrize("kw, expect", [({"api_key": "wrong-key"}, "rejected the API key (HTTP 401)"),
                                        ({"model": "gone-model"}, "model 'gone-model' not found")])
def test_key_or_model_failing_mid_run_stops(tmp_path, kw, expect):
    with FakeOpenAIServer(api_key="test-key") as s:
        t = make(s, tmp_path, **kw)
        with pytest.raises(TeacherStopped, match=re.escape(expect)):
            t.harder(problems(3), 1, 0)
        assert s.counts["chat"] <= 3  # not retried


def test_failure_rate_above_the_limit_stops_the_call(tmp_path):
    ps = [Problem(id=f"f{i}", question=f"Ann has {i + 3} pens and gets 4 more {'[[500*9]]' if i < 3 else ''}. "
                                        "How many pens?") for i in range(10)]
    with FakeOpenAIServer() as s:
        with pytest.raises(TeacherStopped, match=r"3 of 10 requests of teacher annotate failed.*max_failure_rate=0.2"):
            make(s, tmp_path, max_retries=1).annotate(ps)
        out = make(s, tmp_path / "b", max_retries=1, max_failure_rate=0.5).annotate(ps)
        assert [bool(r) for r in out] == [False] * 3 + [True] * 7


# --- budgets -------------------------------------------------------------------------------------
def test_max_requests_budget(server, tmp_path, caplog):
    t = make(server, tmp_path, max_requests=3, concurrency=4)
    with caplog.at_level(logging.WARNING, logger="fdd.teachers.openai_compat"):
        out = t.annotate(problems(6))
        more = t.harder(problems(2, "q"), 2, 0)
    assert sum(1 for r in out if r) == 3 and len(out) == 6 and more == [[], []]
    u = t.usage()
    assert u.requests == 3 and u.extra["budget_exhausted"] is True and u.failed == 0
    assert server.counts["chat"] == 3
    warnings = [r for r in caplog.records if "budget exhausted" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()


def test_max_cost_budget(server, tmp_path):
    t = make(server, tmp_path, concurrency=1, max_cost_usd=0.5, price_per_1k_prompt=1.0, price_per_1k_completion=1.0)
    out = t.annotate(problems(5))
    u = t.usage()  # one fake request costs ~ (200 + 30) tokens -> ~$0.23
    assert 2 <= u.requests < 5 and u.cost_usd >= 0.5 and u.extra["budget_exhausted"]
    assert sum(1 for r in out if r) == u.requests


# --- independent agreement (teacher.verify=resolve) -------------------------------------------
def _sc_responder(prompt: str, index: int) -> str:
    """New problems: 'steady' ones get consistent solutions, 'wobbly' ones do not, and 'outvoted'
    ones come with a wrong program that the solutions outvote."""
    if "Make" not in prompt:  # a solve (annotate) request
        q = target_question(prompt)
        if "wobbly" in q:
            return f"```python\nans = 100 + {index}\n```"
        return "```python\ncows = 40\nans = cows + 2\n```"
    return ("Problem 1:\nQuestion: The steady farmer has 40 cows and buys 2 more. How many cows?\n"
            "Program:\n```python\nans = 40 + 2\n```\n\n"
            "Problem 2:\nQuestion: The wobbly farmer has 40 cows and buys 2 more. How many cows?\n"
            "Program:\n```python\nans = 40 + 2\n```\n\n"
            "Problem 3:\nQuestion: The outvoted farmer has 40 cows and buys 2 more. How many cows?\n"
            "Program:\n```python\nans = 40 + 3\n```")


@pytest.mark.parametrize("k", [1, 3])
def test_resolve_votes_and_labels(tmp_path, k):
    with FakeOpenAIServer(responder=_sc_responder) as s:
        t = make(s, tmp_path, verify_samples=k)
        assert t.verify == "resolve"  # the default for LLM teachers
        (fam,) = t.harder(problems(1), 3, 0)
        assert len(fam) == 3 and all(c.answer is None for c in fam)  # generation alone labels nothing
        fmt = get_format("pot")
        checked = verify(fam, fmt, [], resolver=resolver_for(t, fmt, 0))
        u = t.usage()
        assert u.requests == 1 + 3 and s.counts["chat"] == 4  # one request (n=k) per new problem
        names = [c.question.split()[1] for c in checked.kept]
        if k == 1:  # the solution must agree with the program
            assert names == ["steady"] and dict(checked.rejected) == {"disagree": 2}
        else:  # a majority of the program's and 3 solutions' answers (3 of 4)
            assert names == ["steady", "outvoted"] and dict(checked.rejected) == {"disagree": 1}
            assert checked.kept[1].rationale == "cows = 40\nans = cows + 2"  # the program lost: replaced
        assert all(c.answer == 42.0 for c in checked.kept)
        again = make(s, tmp_path, verify_samples=k)  # a resumed run: all from the cache
        (fam2,) = again.harder(problems(1), 3, 0)
        verify(fam2, fmt, [], resolver=resolver_for(again, fmt, 0))
        assert again.usage().requests == 0 and again.usage().cached == 4 and s.counts["chat"] == 4


def test_verify_none_keeps_the_bare_behaviour(tmp_path):
    with FakeOpenAIServer(responder=_sc_responder) as s:
        t = make(s, tmp_path, verify="none")
        (fam,) = t.harder(problems(1), 3, 0)
        fmt = get_format("pot")
        assert resolver_for(t, fmt, 0) is None
        checked = verify(fam, fmt, [], resolver=resolver_for(t, fmt, 0))
        assert [c.answer for c in checked.kept] == [42.0, 42.0, 43.0] and s.counts["chat"] == 1


def test_resolve_counts_unanswered_as_unverified(tmp_path):
    with FakeOpenAIServer(responder=lambda p, i: "no code here" if "Make" not in p else _sc_responder(p, i)) as s:
        t = make(s, tmp_path)
        (fam,) = t.harder(problems(1), 3, 0)
        fmt = get_format("pot")
        checked = verify(fam, fmt, [], resolver=resolver_for(t, fmt, 0))
        assert checked.kept == [] and dict(checked.rejected) == {"unverified": 3}


# --- Batch API -----------------------------------------------------------------------------------
def test_batch_api_and_reattach(tmp_path):
    with FakeOpenAIServer() as s:
        ps = problems(5)
        s.hold_batches = True
        t1 = make(s, tmp_path, batch_api=True, batch_poll_s=0.02, batch_max_wait_s=0.2)
        with pytest.raises(RuntimeError, match="rerun"):
            t1.annotate(ps)
        assert s.counts["batches"] == 1 and s.counts["chat"] == 0
        s.hold_batches = False
        t2 = make(s, tmp_path, batch_api=True, batch_poll_s=0.02)
        out = t2.annotate(ps)
        assert s.counts["batches"] == 1 and s.counts["files"] == 1  # re-attached, not re-submitted
        assert s.counts["chat"] == 0 and s.counts["batch_items"] == 5
        assert run([r[0] for r in out]) == [p.answer for p in ps]
        assert (t2.usage().requests, t2.usage().cached) == (5, 0)
        t3 = make(s, tmp_path, batch_api=True, batch_poll_s=0.02)
        assert t3.annotate(ps) == out and t3.usage().cached == 5 and s.counts["batches"] == 1


def test_batch_crash_between_create_and_record_does_not_pay_twice(tmp_path, monkeypatch):
    class Crash(Exception):
        pass

    def crash(self, batch_id):
        raise Crash(batch_id)

    with FakeOpenAIServer() as s:
        ps = problems(4)
        t1 = make(s, tmp_path, batch_api=True, batch_poll_s=0.02)
        monkeypatch.setattr(OpenAITeacher, "_after_create", crash)
        with pytest.raises(Crash):
            t1.annotate(ps)
        assert s.counts["batches"] == 1
        monkeypatch.undo()
        t2 = make(s, tmp_path, batch_api=True, batch_poll_s=0.02)
        out = t2.annotate(ps)
        assert s.counts["batches"] == 1 and s.counts["batch_list"] >= 1  # found again by its metadata
        assert s.counts["batch_items"] == 4 and run([r[0] for r in out]) == [p.answer for p in ps]


# --- configs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["openai", "gpt_35_turbo", "gpt_4o_mini", "vllm"])
def test_teacher_configs_instantiate(name, tmp_path):
    from hydra.utils import instantiate

    cfg = compose_cfg([f"teacher={name}"])
    t = instantiate(cfg.teacher, rationale="pot", seed=0, run_dir=str(tmp_path))
    assert isinstance(t, OpenAITeacher) and t.cache.path == tmp_path / "teacher_cache.sqlite"
    if name == "gpt_35_turbo":
        assert t.model.startswith("gpt-3.5") and t.price_prompt > 0
    if name == "vllm":
        assert t.base_url == "http://localhost:8000/v1" and t.api_key_value()


def test_prompts_are_packaged_and_overridable(tmp_path):
    for fmt in ("pot", "cot", "eot"):
        for task in ("annotate", "harder", "similar"):
            text = load_prompt(fmt, task)
            assert "{question}" in text and (task == "annotate" or "{n}" in text)
    (tmp_path / "pot").mkdir()
    (tmp_path / "pot" / "harder.txt").write_text("Make {n} new problems that are harder: Question: {question}")
    assert load_prompt("pot", "harder", tmp_path).startswith("Make {n}")
    assert load_prompt("pot", "similar", tmp_path) == load_prompt("pot", "similar")
    assert default_responder("Question: 3 and 4", 0).count("ans = q0 + q1") == 1


# --- parsing -------------------------------------------------------------------------------------
POT_VARIANTS = [
    "```python\na = 3\nans = a + 4\n```",
    "Sure! Here is the program:\n```py\na = 3\nans = a + 4\n```\nThe answer is 7.",
    "```\na = 3\nans = a + 4\n```",
    "We compute it.\na = 3\nans = a + 4\nSo the answer is 7.",
    "```python\ndef solution():\n    a = 3\n    return a + 4\n```",
    "```python\na = 3\nans = a + 4",  # unterminated fence
]


@pytest.mark.parametrize("text", POT_VARIANTS)
def test_extract_pot_variants(text):
    assert run([extract_pot(text)]) == [7.0]


@pytest.mark.parametrize("text", ["", "I cannot solve this.", "```python\nthis is not python(\n```",
                                  "The answer is 7.", "\x00\x01", "```\n```", "(" * 5000])
def test_extract_pot_rejects_garbage(text):
    assert extract_pot(text) is None


def test_parse_several_problems_in_many_styles():
    numbered = ("Here are two.\n\n1. Ann has 5 apples and buys 3 more. How many now?\n```python\nans = 5 + 3\n```\n"
                "2. Bob has 10 pens and loses 4 of them. How many are left?\n```python\nans = 10 - 4\n```")
    headed = ("**Problem 1:**\n**Question:** Ann has 5 apples and buys 3 more. How many now?\n**Program:**\n"
              "```python\nans = 5 + 3\n```\n\n### Problem 2\nQuestion: Bob has 10 pens and loses 4 of them. "
              "How many are left?\nProgram:\n```python\nans = 10 - 4\n```\nHope this helps!")
    labels = ("Question: Ann has 5 apples and buys 3 more. How many now?\nProgram:\nans = 5 + 3\n\n"
              "Question: Bob has 10 pens and loses 4 of them. How many are left?\nProgram:\nans = 10 - 4\n")
    for text in (numbered, headed, labels):
        pairs = parse_problems(text, "pot")
        assert [q.split()[0] for q, _ in pairs] == ["Ann", "Bob"], text
        assert run([r for _, r in pairs]) == [8.0, 6.0]
    odd = ("### Problem 1 (harder)\nQuestion: Ann has 5 apples and buys 3 more. How many now?\n\n```python\n"
           "ans = 5 + 3\n```\n### Problem 2 (harder) Question: Bob has 10 pens and loses 4 of them. How many are "
           "left?\n```python\nans = 10 - 4\n```")
    assert [q for q, _ in parse_problems(odd, "pot")] == ["Ann has 5 apples and buys 3 more. How many now?",
                                                         "Bob has 10 pens and loses 4 of them. How many are left?"]
    assert parse_problems("No problems here, sorry.", "pot") == []
    assert parse_problems("Problem 1:\nQuestion: Too short\nProgram:\n```python\nans = 1\n```", "pot") == []
    # a numbered list inside a code block is not a problem header
    one = parse_problems("Question: Ann has 5 apples and buys 3 more. How many now?\n```python\n"
                         "# 1. start\na = 5\n# 2. buy\nans = a + 3\n```", "pot")
    assert len(one) == 1 and run([one[0][1]]) == [8.0]


def test_parse_cot_and_eot_problems():
    cot = ("Problem 1:\nQuestion: Ann has 5 apples and buys 3 more. How many now?\nSolution: 5 + 3 = 8. "
           "The answer is 8.\n\nProblem 2:\nQuestion: Bob has 10 pens and loses 4 of them. How many are left?\n"
           "Solution: 10 - 4 = 6.\nAnswer: 6")
    pairs = parse_problems(cot, "cot")
    assert [q.split()[0] for q, _ in pairs] == ["Ann", "Bob"] and run([r for _, r in pairs], "cot") == [8.0, 6.0]
    eot = ("Problem 1:\nQuestion: Tom is 4 years older than Ann. Together they are 30. How old is Tom?\n"
           "Equations:\n```\ntom = ann + 4\ntom + ann = 30\nans = tom\n```")
    (pair,) = parse_problems(eot, "eot")
    assert run([pair[1]], "eot") == [17.0]


def test_cot_answers():
    texts = ["3 + 4 = 7. The answer is 7.", "So she pays $1,250. The answer is $1,250.", "The answer is 3/4.",
             "First 5. The answer is 5. Wait, no: the answer is -2.5.", "GSM8K style\n#### 72", "no final answer"]
    assert run(texts, "cot") == [7.0, 1250.0, 0.75, -2.5, 72.0, None]
    assert get_format("cot").answers(["nothing"])[0].error == "no_answer"
    assert extract_cot("He has 3 + 4 = 7 apples. The answer is 7. I hope this helps!") == \
        "He has 3 + 4 = 7 apples. The answer is 7."
    assert extract_cot("Total: 5 + 2 = 7\n#### 7").endswith("The answer is 7.")
    assert extract_cot("I don't know.") is None


def test_eot_answers_and_safety():
    texts = [
        "```\nx = 12 + 5\ny * 2 = x\nans = y\n```",            # implicit unknown on the left
        "1. tom = ann + 4\n2. tom + ann = 30\n3. ans = tom",  # numbered lines
        "price = 2.5 * 4  # dollars\ntotal = price + 1\n",    # no ans line: the last left side
        "x * x = 49\nans = x",                                # nonlinear: the non-negative root
        "a + b = 10\na - b = 2\nans = a * b",
        "x = __import__('os').system('echo hi')\nans = x",    # not arithmetic: no equations
        "x = 1\nx = 2\nans = x",                              # inconsistent: no answer
        "Let me think about it in words only.",
    ]
    assert run(texts, "eot") == [8.5, 17.0, 11.0, 7.0, 24.0, None, None, None]
    assert extract_eot(texts[2]).endswith("ans = total")
    program = eot_program("open = 3\nans = open * 2")
    assert "open" not in program and "Symbol('s1')" in program  # user names never reach the program
    assert run([program]) == [6.0]


def test_indented_fence_in_a_markdown_list_parses():
    reply = ("Sure! Here is how to solve it:\n\n1. Count the apples:\n   ```python\n   apples = 3\n"
             "   more = 4\n   ans = apples + more\n   ```\n2. The answer is 7.\n")
    assert extract_pot(reply) == "apples = 3\nmore = 4\nans = apples + more"
    several = ("Problem 1:\n1. Question: Tom has 3 apples and buys 4 more. How many apples now?\n2. Program:\n"
               "   ```python\n   a = 3\n   ans = a + 4\n   ```\n\nProblem 2:\n- Question: Ann has 5 pens and "
               "gets 2 more. How many pens?\n- Program:\n    ```python\n    p = 5\n    ans = p + 2\n    ```")
    assert parse_problems(several, "pot") == [
        ("Tom has 3 apples and buys 4 more. How many apples now?", "a = 3\nans = a + 4"),
        ("Ann has 5 pens and gets 2 more. How many pens?", "p = 5\nans = p + 2")]


def test_extract_code_prefers_valid_fences():
    text = "```text\nnot code\n```\n```python\nans = 1\n```"
    assert extract_code(text) == "ans = 1"
    assert re.search(r"ans = 1", extract_code("ans = 1\nThat is all.") or "")


def test_parsers_never_raise_on_noise():
    rng = random.Random(0)
    pieces = ["```", "```python", "Problem 1:", "2.", "Question:", "Program:", "ans =", "= =", "(", "\n", "  ",
              "The answer is", "#### 5", "x = 1", "def f(:", "\x00", "**", "Solution:", "1)", "é", "?" * 3]
    for _ in range(300):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        for fmt in ("pot", "cot", "eot"):
            parse_problems(text, fmt)
            extract_rationale(text, fmt)
