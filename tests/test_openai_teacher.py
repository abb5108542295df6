"""The OpenAI-compatible teacher against a real HTTP server on 127.0.0.1 (tests/fake_openai_server.py):
requests, retries and injected faults, the response cache, budgets, the Batch API, configs.
Elsewhere: stops and preflight (test_teacher_stops.py), verification (test_agreement.py), the
parser (test_teacher_parse.py)."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import pickle
import subprocess
import sys
import time

import pytest

from fdd.problems import Problem
from fdd.rationales import get_format
from fdd.teachers.base import Teacher
from fdd.teachers.cache import ResponseCache
from fdd.teachers.openai_compat import OpenAITeacher, load_prompt
from fdd.teachers.retries import retry_after_seconds
from tests.conftest import ROOT, compose_cfg
from tests.fake_openai_server import FakeOpenAIServer, default_responder


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

    def crash(self, record, batch_id):  # the process dies right after the server created the batch
        raise Crash(batch_id)

    with FakeOpenAIServer() as s:
        ps = problems(4)
        t1 = make(s, tmp_path, batch_api=True, batch_poll_s=0.02)
        monkeypatch.setattr(ResponseCache, "bind_batch", crash)
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


def test_sampling_keys_reach_the_teacher_from_the_command_line(tmp_path):
    from hydra.utils import instantiate

    cfg = compose_cfg(["teacher=openai", "teacher.extra_body={mirostat_mode:0,logit_bias:{t15:-1}}", "teacher.top_k=20",
                       "teacher.server=llama_cpp", "teacher.adaptive_concurrency=false"])
    t = instantiate(cfg.teacher, rationale="pot", seed=0, run_dir=str(tmp_path))
    assert t.extra_body == {"mirostat_mode": 0, "logit_bias": {"t15": -1}} and type(t.extra_body["logit_bias"]) is dict
    assert t.sampling["top_k"] == 20 and t.server_kind == "llama_cpp" and not t._pace.adaptive


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




# --- adaptive concurrency (fdd/teachers/concurrency.py): the controller alone, no clock, no sleep ---
def reply(pace, latency: float, tokens: int = 10) -> bool:
    """One request started and answered at once (nothing else in flight)."""
    ticket = pace.start()
    slow = pace.replied(ticket, latency, tokens)
    pace.end(ticket)
    return slow


def round_trip(pace, latency: float, tokens: int = 10) -> list[bool]:
    """A full window sent together and answered with `latency` each."""
    tickets = [pace.start() for _ in range(pace.allowed)]
    slow = [pace.replied(t, latency, tokens) for t in tickets]
    for t in tickets:
        pace.end(t)
    return slow


def test_window_starts_at_one_and_doubles_per_quick_round_trip_up_to_the_limit():
    from fdd.teachers.concurrency import Pace

    pace = Pace(limit=16, timeout=60)
    seen = []
    for _ in range(6):
        seen.append(pace.allowed)
        assert not any(round_trip(pace, 2.0))
    assert seen == [1, 2, 4, 8, 16, 16]


def test_doubling_ends_when_replies_start_to_queue():
    """A server that answers one at a time: a window of w makes replies take w times as long. The
    doubling stops at the first reply over 1.5x its own time, before any reply is slow."""
    from fdd.teachers.concurrency import Pace

    pace = Pace(limit=16, timeout=600)
    for _ in range(4):
        tickets = [pace.start() for _ in range(pace.allowed)]
        slow = [pace.replied(t, 10.0 * (i + 1), 100) for i, t in enumerate(tickets)]  # served one after another
        for t in tickets:
            pace.end(t)
        assert not any(slow)
    assert not pace.slow_start and pace.allowed == 5 and not pace.backoffs  # doubling would be at 16


def test_a_timeout_halves_once_per_round_trip_and_a_queued_one_is_free():
    from fdd.teachers.concurrency import Pace

    pace = Pace(limit=16, timeout=60)
    for _ in range(4):
        round_trip(pace, 2.0)
    assert pace.allowed == 16
    tickets = [pace.start() for _ in range(16)]
    free = [pace.timed_out(t) for t in tickets[8:]]  # the back half of the queue times out
    assert pace.allowed == 8 and pace.backoffs["timeout"] == 1  # one halving, not eight
    assert free == [True] * 8  # each started behind others of ours: queueing, retried for free
    for t in tickets:
        pace.end(t)
    lone = pace.start()
    assert pace.timed_out(lone) is False and pace.allowed == 4  # alone and still too slow: a real timeout
    pace.end(lone)


def test_slow_replies_compare_with_the_servers_own_time_for_their_length():
    from fdd.teachers.concurrency import Pace

    pace = Pace(limit=8, timeout=60)
    assert not reply(pace, 8.0, tokens=100)  # a cold first request
    assert not reply(pace, 3.0, tokens=100)  # 3 s, 0.03 s per token: the server's own time undercuts it
    assert pace.base_latency == 3.0 and pace.expected(400) == 12.0 and pace.expected(10) == 3.0
    pace.window = 4.0
    t1, t2 = pace.start(), pace.start()
    assert not pace.replied(t1, 11.0, tokens=400)  # long, but as long as a 400-token reply takes alone
    assert pace.replied(t2, 10.0, tokens=10) and pace.allowed == 2  # a short reply that waited in a queue
    pace.end(t1)
    pace.end(t2)
    assert not reply(pace, 5.9)  # under a tenth of the timeout: never slow
    assert reply(pace, 31.0, tokens=2000)  # over half the timeout: slow however long the reply


def test_after_the_first_halving_the_window_grows_by_one_per_round_trip():
    from fdd.teachers.concurrency import Pace

    pace = Pace(limit=16, timeout=60)
    for _ in range(3):
        round_trip(pace, 2.0)
    t = pace.start()
    pace.timed_out(t)
    pace.end(t)
    assert pace.allowed == 4
    sizes = []
    for _ in range(4):
        round_trip(pace, 2.0)
        sizes.append(pace.allowed)
    assert sizes == [4, 5, 6, 7]  # 1/window per quick reply: a little under one per round trip


def test_a_fixed_window_never_moves():
    from fdd.teachers.concurrency import Pace

    pace = Pace(limit=8, timeout=60, adaptive=False)
    round_trip(pace, 50.0)
    t = pace.start()
    assert pace.timed_out(t) is False and pace.allowed == 8 and "fixed at 8" in pace.summary()


def test_queueing_retries_spend_no_attempt_and_are_bounded():
    import httpx
    import openai

    from fdd.teachers.retries import Backoff

    calls = {"n": 0}

    async def flaky(fail: int):
        calls["n"] += 1
        if calls["n"] <= fail:
            raise openai.APITimeoutError(request=httpx.Request("POST", "http://127.0.0.1/v1/chat/completions"))
        return "ok"

    b = Backoff(max_retries=0, base_s=0.0, max_s=0.0, max_free=3)
    assert asyncio.run(b.run(lambda: flaky(3), free=lambda e: True)) == "ok"
    assert (b.retries, b.queue_retries) == (3, 3)
    calls["n"] = 0
    with pytest.raises(openai.APITimeoutError):  # a fourth is no longer put down to queueing
        asyncio.run(b.run(lambda: flaky(4), free=lambda e: True))
