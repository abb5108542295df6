"""An LLM teacher served by `transformers serve`: its quirks reproduced by the stand-in server
(FakeOpenAIServer.like_transformers_serve, tests/faulty_teacher.smollm2_like_responder) in the
default run, and the real server on the real SmolLM2-135M-Instruct in a slow test.

What the real server does differently from OpenAI's API, each handled: it ignores `n` (the client
tops up), samples nothing whatever the temperature, answers an unknown model with HTTP 400 and a
FastAPI body (the preflight names the models it serves), and cuts replies at `max_tokens` with
`finish_reason=length` (marked, and named as the rejection reason `truncated`); a teacher whose
round-0 rationales reproduce too few gold answers stops the run before training in one line."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from fdd import verify
from fdd.problems import Problem
from fdd.rationales import get_format
from fdd.teachers.openai_compat import OpenAITeacher
from tests.conftest import SHARED_DATA, TINY, run_cli
from tests.fake_openai_server import FakeOpenAIServer
from tests.faulty_teacher import smollm2_like_responder

MODEL_DIR = "/models/SmolLM2-135M-Instruct"  # the id `transformers serve DIR` lists: the path itself
TINY_DATA = [o for o in TINY if not o.startswith("dataset.")]


def write_problems(path, n: int) -> None:
    path.write_text("".join(json.dumps({"question": f"Ann has {3 + i} pens and buys {5 + i} more. How many pens "
                                                    "does she have now?", "answer": 8 + 2 * i}) + "\n"
                            for i in range(n)))


def test_weak_served_teacher_stops_before_training_naming_the_yield(tmp_path):
    data = tmp_path / "problems.jsonl"
    write_problems(data, 10)
    with FakeOpenAIServer.like_transformers_serve(MODEL_DIR, responder=smollm2_like_responder) as server:
        res = run_cli([*TINY_DATA, "dataset=jsonl", f"dataset.path={data}", "teacher=openai",
                       f"teacher.model={MODEL_DIR}", f"teacher.base_url={server.url}", "teacher.api_key=none",
                       "teacher.max_tokens=64", f"hydra.run.dir={tmp_path / 'run'}"])
        sent = server.counts["chat"]
    assert res.returncode != 0 and "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("fdd: error")]
    assert errors == [line for line in res.stderr.splitlines() if line.strip()][-1:]  # one line, the last
    # the stand-in answers 6 of these questions with no program and 4 with one cut at max_tokens
    assert re.search(r"round 0 kept 0 of 10 training problems \(yield 0\.0%, teacher\.min_yield=0\.2\); "
                     r"rejected: 6 no_rationale, 4 truncated\..*raise teacher\.max_tokens", errors[0]), errors[0]
    assert not (tmp_path / "run" / "rounds").exists()  # nothing trained
    # the replies are cached: a rerun that accepts the yield pays nothing again
    assert sent == 11  # preflight + one request per problem


def test_preflight_names_the_model_the_server_serves(tmp_path):
    with FakeOpenAIServer.like_transformers_serve(MODEL_DIR) as server:
        teacher = OpenAITeacher(model="SmolLM2-135M-Instruct", base_url=server.url, api_key="none",
                                run_dir=str(tmp_path), timeout=5)
        with pytest.raises(RuntimeError) as e:
            teacher.preflight()
        OpenAITeacher(model=MODEL_DIR, base_url=server.url, api_key="none", run_dir=str(tmp_path)).preflight()
        assert str(e.value) == (f"teacher: model 'SmolLM2-135M-Instruct' is not served at {server.url} (it "
                                f"serves: '{MODEL_DIR}'): check teacher.model")


def _two_problems(prompt: str, index: int) -> str:
    return ("Problem 1:\nQuestion: Bo has 4 cups and buys 6 more cups. How many cups now?\nProgram:\n"
            "```python\ncups = 4\nans = cups + 6\n```\n\nProblem 2:\nQuestion: Cy has 7 hats and buys 2 more hats. "
            "How many hats now?\nProgram:\n```python\nhats = 7\nbought = 2\nans = hats + bought\n```\n")


def test_the_last_problem_of_a_cut_reply_is_rejected_as_truncated(tmp_path):
    """A reply cut at max_tokens: its problems before the cut are kept, the one it was cut in (or
    after) is rejected as `truncated`, even when its program still runs to a number."""
    parent = Problem(id="p", question="Al has 3 cups and buys 5 more cups. How many cups now?", answer=8.0)
    with FakeOpenAIServer.like_transformers_serve(MODEL_DIR, responder=_two_problems) as server:
        full = OpenAITeacher(model=MODEL_DIR, base_url=server.url, api_key="none", verify="none", max_tokens=500)
        cut = OpenAITeacher(model=MODEL_DIR, base_url=server.url, api_key="none", verify="none", max_tokens=69)  # cut after `bought = 2`
        whole, = full.harder([parent], 2, 0)
        part, = cut.harder([parent], 2, 0)
    assert full.usage().extra["truncated"] == 0 and cut.usage().extra["truncated"] == 1
    assert [k.question for k in part] == [k.question for k in whole]  # the cut program still parses and runs
    pot = get_format("pot")
    kept_whole = verify.verify(whole, pot, [], parents={"p": parent})
    kept_part = verify.verify(part, pot, [], parents={"p": parent})
    assert len(kept_whole.kept) == 2 and not kept_whole.rejected
    assert [k.question for k in kept_part.kept] == [whole[0].question]
    assert kept_part.rejected == {"truncated": 1}


def test_a_cut_annotation_that_reproduces_the_gold_answer_is_kept(tmp_path):
    """Round 0 checks every rationale against the gold answer, so a cut reply whose program is
    complete is used; a cut one that is wrong is rejected as `truncated`, not `wrong`."""
    def reply(prompt: str, index: int) -> str:
        right = "8" in prompt.split("Question:")[-1]
        return f"```python\nx = 3\nans = x + {5 if right else 4}\n```\nThat is all. " + "More words. " * 50

    probs = [Problem(id="a", question="Ann has 3 pens and buys 5 more. How many pens?", answer=8.0),
             Problem(id="b", question="Ann has 3 pens and buys 4 more. How many pens?", answer=9.0),
             Problem(id="c", question="Bo has 3 pens and buys 5 more, 8 in all? How many pens?", answer=8.0)]
    with FakeOpenAIServer.like_transformers_serve(MODEL_DIR, responder=reply) as server:
        teacher = OpenAITeacher(model=MODEL_DIR, base_url=server.url, api_key="none", max_tokens=40)
        checked = verify.annotate(probs, teacher.annotate(probs), get_format("pot"))
    assert teacher.usage().extra["truncated"] == 3
    # "a": the program says 3 + 4 = 7 (its prompt holds no 8), gold 8: cut and wrong; "b": 3 + 4 = 7 vs 9;
    # "c": 3 + 5 = 8 = gold: kept although the reply was cut
    assert [p.id for p in checked.kept] == ["c"]
    assert checked.rejected == {"truncated": 2}


def test_a_server_that_ignores_n_is_topped_up_with_identical_draws(tmp_path):
    """n=3 against a server that returns one choice and samples nothing: three requests, one
    distinct rationale (the duplicates are dropped, not counted as candidates)."""
    p = Problem(id="a", question="Ann has 3 pens and buys 5 more. How many pens?", answer=8.0)
    with FakeOpenAIServer.like_transformers_serve(MODEL_DIR) as server:
        teacher = OpenAITeacher(model=MODEL_DIR, base_url=server.url, api_key="none", n=3)
        (cands,) = teacher.annotate([p])
        assert server.counts["chat"] == 3
    assert len(cands) == 1 and teacher.usage().requests == 3


# --- the real server ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_real_transformers_serve_teacher(tmp_path, smollm2_dir):
    """`transformers serve` on the real SmolLM2-135M-Instruct as teacher=openai, a handful of GSM8K
    problems: preflight, chat requests, usage, parsing, checks and verification run against it, and
    the run either completes or stops with one line naming the yield."""
    if importlib.util.find_spec("fastapi") is None:
        pytest.skip("needs transformers[serving] (pip install -e '.[dev]')")
    if not (SHARED_DATA / "gsm8k" / "train.jsonl").is_file():
        pytest.skip(f"GSM8K files not found under {SHARED_DATA}")
    model_dir = smollm2_dir
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "transformers.cli.transformers", "serve", str(model_dir),
                               "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_for(url, server)
        run = tmp_path / "run"
        res = run_cli([*TINY_DATA, "dataset=gsm8k", "dataset.limit=4", f"paths.data_dir={SHARED_DATA}",
                       "teacher=openai", f"teacher.model={model_dir}", f"teacher.base_url={url}", "teacher.api_key=none",
                       "teacher.max_tokens=96", "teacher.timeout=300", f"hydra.run.dir={run}"], timeout=1800)
        if res.returncode == 0:
            assert json.loads((run / "summary.json").read_text())["status"] == "complete"
        else:
            lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
            assert lines[-1].startswith("fdd: error: round 0 kept") and "yield" in lines[-1], res.stderr[-2000:]
            assert "Traceback" not in res.stderr
        # the same server through the teacher directly: usage, parsing and verification of new problems
        teacher = OpenAITeacher(model=str(model_dir), base_url=url, api_key="none", max_tokens=96, timeout=300)
        parent = Problem(id="p", question="Ann has 3 pens and buys 5 more. How many pens does she have now?", answer=8)
        kids = teacher.similar([parent], 1, 0)[0]
        checked = verify.verify(kids, get_format("pot"), [], parents={"p": parent},
                                  resolver=lambda ps: [] if not ps else __import__(
                                      "fdd.teachers.agreement", fromlist=["Resolver"]).Resolver(teacher, get_format("pot"), 0)(ps))
        u = teacher.usage()
        assert u.requests >= 1 and u.prompt_tokens > 0 and u.completion_tokens > 0  # the server reports usage
        assert len(checked.kept) + sum(checked.rejected.values()) == len(kids)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for(url: str, server: subprocess.Popen, timeout: float = 300) -> None:
    import urllib.request

    end = time.time() + timeout
    while time.time() < end:
        if server.poll() is not None:
            pytest.fail(f"transformers serve exited: {server.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url.removesuffix("/v1") + "/health", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail("transformers serve did not come up")
