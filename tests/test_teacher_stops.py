"""A teacher that stops working stops the run cleanly (quota, key, model, failure rate), and the
preflight tells a dead server from a flaky one (fdd/teachers/retries.py, preflight.py)."""

from __future__ import annotations

import re
import socket
import time

import pytest

from fdd.problems import Problem
from fdd.teachers.openai_compat import OpenAITeacher
from fdd.teachers.retries import TeacherStopped
from tests.fake_openai_server import FakeOpenAIServer
from tests.test_openai_teacher import make, problems, run


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


