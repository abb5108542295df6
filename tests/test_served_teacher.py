"""LLM teachers on local servers. `transformers serve`: its quirks reproduced by the stand-in server
(FakeOpenAIServer.like_transformers_serve, tests/faulty_teacher.smollm2_like_responder) in the
default run, and the real server on the real SmolLM2-135M-Instruct in a slow test. llama.cpp
(llama-cpp-python's server and llama-server), vLLM and Ollama: identified, their silent sampling
defaults switched off, a model name they do not list refused before training, and a server that
answers one request at a time not flooded into timeouts (the real llama.cpp server is in
tests/test_local_server.py).

What the real server does differently from OpenAI's API, each handled: it ignores `n` (the client
tops up), samples nothing whatever the temperature, answers an unknown model with HTTP 400 and a
FastAPI body (the preflight names the models it serves), and cuts replies at `max_tokens` with
`finish_reason=length` (marked, and named as the rejection reason `truncated`); a teacher whose
round-0 rationales reproduce too few gold answers stops the run before training in one line."""

from __future__ import annotations

import importlib.util
import json
import logging
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
from fdd.teachers.retries import TeacherStopped
from tests.conftest import SHARED_DATA, TINY, run_cli
from tests.fake_openai_server import LLAMA_CPP_PYTHON_DEFAULTS, FakeOpenAIServer
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
        assert str(e.value) == (f"teacher: model 'SmolLM2-135M-Instruct' not found at {server.url} (it "
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


# --- llama.cpp, vLLM, Ollama: what fdd sends ----------------------------------------------------
GGUF = "/models/qwen2.5-0.5b-instruct-q4_k_m.gguf"  # the id llama-cpp-python lists: the path it was started with


def gsm_like(k: int) -> list[Problem]:
    return [Problem(id=f"q{i}", question=f"Ann has {i + 3} pens and buys {i + 5} more. How many pens now?",
                    answer=float(2 * i + 8)) for i in range(k)]


def yield_of(teacher: OpenAITeacher, probs: list[Problem]) -> int:
    return len(verify.annotate(probs, teacher.annotate(probs), get_format("pot")).kept)


@pytest.mark.parametrize("flavour", ["python", "server"])
def test_llama_cpp_penalties_are_switched_off(tmp_path, flavour, caplog):
    """The stand-in applies llama.cpp's defaults to what a request leaves out, and its repeat penalty
    costs the program its last operand: with fdd's neutral fields every answer is right; sending
    nothing extra (teacher.server=other) lets llama-cpp-python's penalty through."""
    probs = gsm_like(6)
    with FakeOpenAIServer.like_llama_cpp(GGUF, flavour=flavour) as server:
        with caplog.at_level(logging.INFO, logger="fdd.teachers.openai_compat"):
            neutral = OpenAITeacher(model=GGUF, base_url=server.url, api_key="none", temperature=0.0,
                                    run_dir=str(tmp_path / "a"))
            assert yield_of(neutral, probs) == 6
        assert server.sampling == [{"repeat_penalty": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0}] * 6
        line = next(r.getMessage() for r in caplog.records if "fdd sends" in r.getMessage())
        assert ("llama-cpp-python" if flavour == "python" else "llama-server") in line
        assert "repeat_penalty=1, top_k=0, top_p=1, min_p=0" in line
        server.sampling.clear()
        bare = OpenAITeacher(model=GGUF, base_url=server.url, api_key="none", temperature=0.0, server="other",
                             run_dir=str(tmp_path / "b"))
        got = yield_of(bare, probs)
    defaults = LLAMA_CPP_PYTHON_DEFAULTS if flavour == "python" else {**LLAMA_CPP_PYTHON_DEFAULTS, "repeat_penalty": 1.0}
    assert server.sampling == [defaults] * 6
    assert got == (0 if flavour == "python" else 6)  # llama-server's own default penalty is 1.0


def test_user_knobs_and_extra_body_win_over_fdds_choice(tmp_path, caplog):
    with FakeOpenAIServer.like_llama_cpp(GGUF) as server:
        with caplog.at_level(logging.INFO, logger="fdd.teachers.openai_compat"):
            t = OpenAITeacher(model=GGUF, base_url=server.url, api_key="none", top_k=20, repetition_penalty=1.05,
                              extra_body={"repeat_penalty": 1.02, "mirostat_mode": 0}, run_dir=str(tmp_path))
            t.preflight()
            t.annotate(gsm_like(1))
    sent = server.received[-1]
    assert (sent["top_k"], sent["repeat_penalty"], sent["mirostat_mode"], sent["min_p"]) == (20, 1.02, 0, 0.0)
    assert server.received[0]["repeat_penalty"] == 1.02  # the preflight sends the same fields
    line = next(r.getMessage() for r in caplog.records if "extra_body" in r.getMessage())
    assert "set by teacher: top_k=20, repeat_penalty=1.05" in line and '"mirostat_mode": 0' in line


@pytest.mark.parametrize("bad, msg", [({"extra_body": {"temperature": 0}}, "use teacher.temperature"),
                                      ({"extra_body": {"model": "x"}}, "use teacher.model"),
                                      ({"extra_body": [1, 2]}, "must be a mapping"),
                                      ({"top_k": "forty"}, "teacher.top_k must be a number"),
                                      ({"server": "lmstudio"}, "teacher.server must be one of")])
def test_bad_sampling_config_is_one_line(bad, msg):
    with pytest.raises(ValueError, match=msg) as e:
        OpenAITeacher(model="m", api_key="k", **bad)
    assert "\n" not in str(e.value)


def test_vllm_gets_its_own_field_names(tmp_path):
    with FakeOpenAIServer(models=("Qwen/Qwen2.5-7B-Instruct",), owned_by="vllm",
                          routes={"/version": {"version": "0.11.0"}}) as server:
        t = OpenAITeacher(model="Qwen/Qwen2.5-7B-Instruct", base_url=server.url, api_key="none", min_p=0.1)
        t.annotate(gsm_like(1))
        assert t.server().version == "0.11.0"
    sent = server.received[-1]
    assert {k: sent.get(k) for k in ("repetition_penalty", "top_k", "top_p", "min_p", "repeat_penalty")} == \
        {"repetition_penalty": 1.0, "top_k": -1, "top_p": 1.0, "min_p": 0.1, "repeat_penalty": None}


def test_transformers_serve_gets_a_generation_config_and_no_unknown_field(tmp_path):
    with FakeOpenAIServer.like_transformers_serve(MODEL_DIR) as server:  # answers an unknown field with 422
        t = OpenAITeacher(model=MODEL_DIR, base_url=server.url, api_key="none", run_dir=str(tmp_path))
        t.preflight()
        assert all(t.annotate(gsm_like(2)))
    sent = server.received[-1]
    assert json.loads(sent["generation_config"]) == {"repetition_penalty": 1.0} and sent["top_p"] == 1.0


def test_an_unidentified_server_gets_nothing_extra(tmp_path):
    with FakeOpenAIServer() as server:
        t = OpenAITeacher(model="fake-model", base_url=server.url, api_key="none", run_dir=str(tmp_path))
        t.preflight()
        t.annotate(gsm_like(1))
        assert t.server().kind == "other"
    assert set(server.received[-1]) == {"model", "n", "temperature", "max_tokens"}


def test_ollama_names_and_its_penalty(tmp_path, caplog):
    """Ollama lists `name:tag` and resolves `llama3` to `llama3:latest`; its OpenAI endpoint reads no
    repeat penalty, so fdd sends none and says how to switch it off."""
    with FakeOpenAIServer.like_ollama(("llama3:latest", "qwen2.5:0.5b"), parameters='stop "<|im_end|>"') as server:
        url = server.url
        with caplog.at_level(logging.INFO):
            OpenAITeacher(model="llama3", base_url=server.url, api_key="none", run_dir=str(tmp_path)).preflight()
        warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("repeat_penalty 1.1" in w and "PARAMETER repeat_penalty 1" in w for w in warning), warning
        assert "repeat_penalty" not in server.received[-1] and "top_k" not in server.received[-1]
        with pytest.raises(RuntimeError) as e:
            OpenAITeacher(model="qwen2.5", base_url=server.url, api_key="none", run_dir=str(tmp_path)).preflight()
    assert str(e.value) == (f"teacher: model 'qwen2.5' not found at {url} (it serves: 'qwen2.5:0.5b', "
                            "'llama3:latest'): check teacher.model")


def test_a_teacher_that_echoes_its_prompt_adds_nothing(tmp_path):
    """A base model that writes its prompt back (seen from Gemma 3 270M): the parser finds the prompt's
    worked examples, with their right programs, as new problems; none may be kept."""
    parent = gsm_like(1)[0]
    with FakeOpenAIServer.like_llama_cpp(GGUF, responder=lambda prompt, i: prompt) as server:
        teacher = OpenAITeacher(model=GGUF, base_url=server.url, api_key="none", run_dir=str(tmp_path))
        (kids,) = teacher.similar([parent], 2, 0)
    assert {k.question.split(".")[0] for k in kids} == {"A farmer fills 6 crates with 15 apples each",
                                                        "Lena has 3 shelves with 25 books on each shelf"}
    checked = verify.verify(kids, get_format("pot"), [parent], parents={parent.id: parent}, examples=teacher.examples())
    assert checked.kept == [] and checked.rejected == {"copies_prompt": 2}


@pytest.mark.parametrize("flavour", ["python", "server"])
def test_preflight_refuses_a_model_llama_cpp_would_answer_anyway(tmp_path, flavour):
    with FakeOpenAIServer.like_llama_cpp(GGUF, flavour=flavour) as server:
        url = server.url
        with pytest.raises(RuntimeError) as e:
            OpenAITeacher(model="no-such-model", base_url=server.url, api_key="none", run_dir=str(tmp_path)).preflight()
        OpenAITeacher(model=GGUF, base_url=server.url, api_key="none", run_dir=str(tmp_path)).preflight()
        assert server.counts["chat"] == 2  # the server answered both: only its list tells the wrong name
    assert str(e.value) == (f"teacher: model 'no-such-model' not found at {url} (it serves: '{GGUF}'; "
                            "it answers any name with that model, so a wrong one goes unnoticed): check teacher.model")


def test_a_server_without_a_model_list_is_not_refused(tmp_path, caplog):
    with FakeOpenAIServer(list_models=False) as server:
        with caplog.at_level(logging.INFO, logger="fdd.teachers.preflight"):
            OpenAITeacher(model="fake-model", base_url=server.url, api_key="none", run_dir=str(tmp_path)).preflight()
    assert any("could not check teacher.model='fake-model'" in r.getMessage() and "HTTP 404" in r.getMessage()
               for r in caplog.records)


def test_model_names_as_each_server_lists_them():
    from fdd.teachers.servers import Server, is_served

    ollama = Server("ollama", "", models=[{"id": "llama3:latest"}, {"id": "qwen2.5:0.5b"}])
    assert [is_served(m, ollama) for m in ("llama3", "library/llama3", "LLAMA3:latest", "llama3:8b", "qwen2.5")] == \
        [True, True, True, False, False]
    llama_server = Server("llama_cpp", "", models=[{"id": "/m/q.gguf", "aliases": ["qwen"]}])
    assert is_served("qwen", llama_server) and not is_served("q.gguf", llama_server)
    assert is_served("gpt-4o", Server("other", "", models=[{"id": "*"}])) is None  # a proxy's wildcard: no check
    assert is_served("x", Server("other", "", models=None)) is None


# --- a server that answers one request at a time ---------------------------------------------------
def test_one_at_a_time_server_does_not_turn_queueing_into_a_failed_run(tmp_path, caplog):
    """16 requests against a server that serves one at a time (0.2 s each) with a 1 s timeout: sent 16 at
    once, the queue times out and the call fails; the adaptive window finds what the server takes."""
    probs = gsm_like(16)
    kw = dict(model=GGUF, api_key="none", concurrency=16, timeout=1.0, max_retries=1, backoff_base_s=0.01,
              backoff_max_s=0.02)
    with FakeOpenAIServer.like_llama_cpp(GGUF, latency=0.2) as server:
        fixed = OpenAITeacher(base_url=server.url, adaptive_concurrency=False, run_dir=str(tmp_path / "a"), **kw)
        with pytest.raises(TeacherStopped, match=r"of 16 requests of teacher annotate failed after retries"):
            fixed.annotate(probs)
        with caplog.at_level(logging.INFO, logger="fdd.teachers.openai_compat"):
            adaptive = OpenAITeacher(base_url=server.url, run_dir=str(tmp_path / "b"), **kw)
            assert yield_of(adaptive, probs) == 16
    u = adaptive.usage()
    assert (u.requests, u.failed) == (16, 0)
    line = next(r.getMessage() for r in caplog.records if "concurrency settled at" in r.getMessage())
    assert line.startswith("teacher annotate: 16 requests sent; concurrency settled at ")
    assert adaptive._pace.allowed <= 4  # 0.2 s per reply, alone: at most 4 fit in half the timeout


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
