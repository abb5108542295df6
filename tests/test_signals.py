"""A scheduler's stop (SIGTERM; SIGUSR1 where `stop_signals` lists it) ends a run as Ctrl-C does, in
whatever stage it is: one resume line, exit 128 + the signal's number, no sandbox worker left
behind, and a rerun of the same command ends with the data of an uninterrupted run.

The runs are the real CLI in a subprocess. A run reports each stage it enters (FDD_STAGE_TRACE,
fdd/stages.py); a test signals once the stage it wants has begun, and the stop line says which stage
the signal landed in. Stages chosen to last: training and generation of a round, teacher requests
held open by the stand-in server, and the sandbox running a program that loops until its timeout.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fdd import stages
from tests.conftest import ROOT, TINY, run_pipeline
from tests.fake_openai_server import FakeOpenAIServer, default_responder
from tests.test_resume import OVERRIDES, committed_data, run_inprocess

STOPS = "stop_signals=[SIGTERM,SIGUSR1]"  # a resumable change: the reference run leaves it out
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="watches the run's processes through /proc (Linux)")


# -- watching a run from outside --------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # state, ppid, ... (the name may hold spaces)


def descendants(pid: int) -> dict[int, str]:
    """The processes below `pid`, each with its start time (tells a reused pid apart)."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and (st := _stat(int(d.name))):
            parent[int(d.name)] = (int(st[1]), st[19])
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        for child, (ppid, start) in parent.items():
            if ppid == p and child not in out:
                out[child] = start
                todo.append(child)
    return out


def alive(pid: int, start: str) -> bool:
    st = _stat(pid)
    return st is not None and st[19] == start and st[0] != "Z"


def is_sandbox_worker(pid: int) -> bool:
    try:
        return b"fdd.sandbox.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def sandbox_at_work(pid: int) -> bool:
    """A sandbox worker of `pid` waits for programs (sleeping on its stdin): the workers are up and
    the pool is handing out programs."""
    return any(is_sandbox_worker(p) and (_stat(p) or ["?"])[0] == "S" for p in descendants(pid))


class Run:
    """`python -m fdd.run ARGS` in the background, its stages traced to a file of its own."""

    def __init__(self, args: list[str], workdir: Path, name: str, env: dict | None = None):
        self.trace, self.err_path, self.out_path = (workdir / f"{name}.{x}" for x in ("trace", "err", "out"))
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "FDD_STAGE_TRACE": str(self.trace), **(env or {})}
        with open(self.err_path, "w") as err, open(self.out_path, "w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "fdd.run", *args], cwd=ROOT, env=full_env,
                                         stdout=out, stderr=err)

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait_for_stage(self, prefix: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.trace.exists() and any(s.startswith(prefix) for s in self.trace.read_text().splitlines()):
                return
            if self.proc.poll() is not None:
                pytest.fail(f"run ended ({self.proc.returncode}) before {prefix!r}: {self.stderr[-3000:]}")
            time.sleep(0.01)
        self.proc.kill()
        pytest.fail(f"no stage {prefix!r} within {timeout} s")

    def stop(self, sig: signal.Signals, prefix: str, ready: Callable[[], bool] | None = None) -> list[int]:
        """Signal the run once stage `prefix` has begun (and `ready()` holds); check that it stopped
        there as Ctrl-C stops a run. Returns the sandbox workers it had when signalled."""
        self.wait_for_stage(prefix)
        while ready is not None and not ready():
            time.sleep(0.01)
        below = descendants(self.proc.pid)
        workers = [p for p in below if is_sandbox_worker(p)]
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"{sig.name} did not stop the run within 60 s in {prefix!r}")
        took, err = time.monotonic() - t0, self.stderr
        assert rc == 128 + sig, (rc, err[-3000:])
        lines = [ln for ln in err.splitlines() if ln.startswith("fdd:")]
        assert len(lines) == 1, err[-3000:]
        assert lines[0].startswith(f"fdd: interrupted by {sig.name} in {prefix}"), lines[0]
        assert "rerun the same command (or resume=" in lines[0], lines[0]
        assert "Traceback" not in err and "Task exception" not in err, err[-3000:]
        assert took < 20, f"{took:.1f} s from {sig.name} to exit"  # seconds, on a loaded 2-core machine
        deadline = time.monotonic() + 5
        while (left := [p for p, s in below.items() if alive(p, s)]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left, f"processes left behind: {left}"
        return workers


def run_data(run_dir: Path, teacher_counts: bool = True) -> dict:
    """What a resumed run must reproduce (tests/test_resume.py), training's clock readings aside; and
    with an LLM teacher its request counts (a rerun reads the responses from its cache)."""
    data = committed_data(run_dir)
    for r in data["summary"]["rounds"]:
        for key in ("seconds", "tokens_per_s", "mfu"):
            r.get("training", {}).pop(key, None)
        if not teacher_counts:
            r.pop("teacher", None)
    if not teacher_counts:
        data["summary"]["seed"].pop("teacher")
    return data


def finish(args: list[str], workdir: Path, name: str, env: dict | None = None) -> str:
    done = Run(args, workdir, name, env)
    assert done.proc.wait(timeout=600) == 0, done.stderr[-3000:]
    return done.out_path.read_text() + done.stderr


# -- the embedded default: training, generation in and outside Lightning ---------------------------
@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    run_dir = tmp_path_factory.mktemp("reference")
    run_inprocess(run_dir)
    return run_data(run_dir)


@needs_proc
def test_stops_in_training_and_generation_then_resumes_to_the_uninterrupted_data(reference, tmp_path):
    run_dir = tmp_path / "run"
    args = [*OVERRIDES, STOPS, f"hydra.run.dir={run_dir}"]
    # training (Lightning installs its own SIGTERM handler during fit: fdd's must still stop it)
    Run(args, tmp_path, "train").stop(signal.SIGTERM, "round 1, training (optimizer step")
    assert json.loads((run_dir / "state.json").read_text())["committed"] == 0
    # generation at round 1's boundary, inside trainer.fit; SIGUSR1 as SLURM sends it before the time limit
    Run(args, tmp_path, "generate").stop(signal.SIGUSR1, "round 1, generating for the feedback pool")
    state = json.loads((run_dir / "state.json").read_text())
    assert state["trained"] == 1 and state["committed"] == 0  # round 1's weights kept, its boundary not
    # the same boundary redone on resume, before Lightning starts
    Run(args, tmp_path, "resume").stop(signal.SIGTERM, "round 1, generating for the feedback pool")
    assert "resuming: round 1 was trained" in finish(args, tmp_path, "finish")
    assert run_data(run_dir) == reference
    assert not list(run_dir.rglob("*.tmp")) and not list(run_dir.glob(".student.*"))


@pytest.mark.slow
@needs_proc
def test_sigterm_at_random_moments_then_resume(reference, tmp_path):
    """The check the issue names: SIGTERM at a random moment, rerun, the uninterrupted data."""
    rng = random.Random(0)
    for trial in range(6):
        run_dir = tmp_path / f"trial{trial}"
        args = [*OVERRIDES, f"hydra.run.dir={run_dir}"]
        run = Run(args, tmp_path, f"trial{trial}")
        time.sleep(rng.uniform(2, 20))
        run.proc.send_signal(signal.SIGTERM)
        rc, err = run.proc.wait(timeout=60), run.stderr
        started = run.trace.exists() and run.trace.read_text().strip()
        if rc == 0:  # it finished first
            continue
        if started or rc != -signal.SIGTERM:  # before fdd takes the signal, the default action ends it
            assert rc == 143 and err.count("rerun the same command") == 1, err[-3000:]
            assert "Traceback" not in err, err[-3000:]
        finish(args, tmp_path, f"trial{trial}.finish")
        assert run_data(run_dir) == reference, f"trial {trial}"


@pytest.mark.slow
@needs_proc
def test_sigterm_to_rank_zero_stops_every_ddp_rank(tmp_path):
    """Two CPU processes (Lightning's launcher starts rank 1 at trainer.fit): SIGTERM to rank 0 in
    training stops both, rank 0 alone prints the resume line, and the rerun completes."""
    run_dir = tmp_path / "run"
    args = ["trainer=ddp", "trainer.devices=2", *OVERRIDES, "rounds=1", f"hydra.run.dir={run_dir}"]
    run = Run(args, tmp_path, "ddp")
    run.wait_for_stage("round 1, training")  # both ranks write the trace: rank 1 exists by now
    assert len([p for p in descendants(run.proc.pid) if not is_sandbox_worker(p)]) >= 1  # rank 1
    run.stop(signal.SIGTERM, "round 1, training (optimizer step")  # every process below it gone too
    assert "resuming from round 1" in finish(args, tmp_path, "finish")
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "complete"


# -- an LLM teacher: requests in flight, then the sandbox checking its programs --------------------
SPIN = "[[spin]]"  # the stand-in teacher answers this question with a program that loops until the timeout


def spinning_responder(hold: threading.Event, held: list) -> Callable[[str, int], str]:
    def respond(prompt: str, index: int) -> str:
        if "Reply with OK" not in prompt and not hold.is_set():  # the preflight passes
            held.append(1)
            hold.wait(120)
        if SPIN in prompt and "Make " not in prompt:
            return "```python\nx = 0\nwhile True:\n    x += 1\nans = x\n```"
        return default_responder(prompt, index)
    return respond


def write_problems(path: Path, n: int = 16) -> None:
    with path.open("w") as f:
        for i in range(n):
            a, b = 3 + i, 5 + 2 * i
            question = f"Ann has {a} pens and buys {b} more. How many pens does Ann have now?"
            question += f" {SPIN}" if i == n // 2 else ""
            f.write(json.dumps({"question": question, "answer": a + b}) + "\n")


@needs_proc
def test_stops_with_teacher_requests_in_flight_and_in_the_sandbox_then_resumes(tmp_path, monkeypatch):
    data = tmp_path / "problems.jsonl"
    write_problems(data)
    hold, held = threading.Event(), []
    tiny = [o for o in TINY if not o.startswith("dataset.")]
    over = [*tiny, "rounds=0", "dataset=jsonl", f"dataset.path={data}", "teacher=openai",
            "teacher.model=fake-model"]
    env = {"OPENAI_API_KEY": "k"}
    with FakeOpenAIServer(responder=spinning_responder(hold, held)) as server:
        over.append(f"teacher.base_url={server.url}")
        hold.set()
        monkeypatch.setenv("OPENAI_API_KEY", "k")
        run_pipeline(tmp_path / "reference", over)
        reference = run_data(tmp_path / "reference", teacher_counts=False)
        hold.clear()

        run_dir = tmp_path / "run"
        args = [*over, STOPS, f"hydra.run.dir={run_dir}"]
        # the server holds every annotation request: SIGTERM while they are in flight in the asyncio loop
        Run(args, tmp_path, "requests", env).stop(signal.SIGTERM, "round 0, annotation by the teacher",
                                                 ready=lambda: held)
        hold.set()
        assert not json.loads((run_dir / "state.json").read_text()).get("seeded")
        # the sandbox runs the teacher's programs, one of which loops for the sandbox's whole timeout
        checking = Run(args, tmp_path, "sandbox", env)
        workers = checking.stop(signal.SIGTERM, "round 0, checking the annotations",
                                ready=lambda: sandbox_at_work(checking.proc.pid))
        assert workers, "no sandbox worker was running"  # they were, and none is left (stop checks)
        finish(args, tmp_path, "finish", env)
    assert run_data(run_dir, teacher_counts=False) == reference


# -- the pieces, without a run ---------------------------------------------------------------------
def test_the_innermost_stage_names_an_error_and_a_lazy_label_is_read_then():
    step = [3]
    with pytest.raises(ValueError) as info:
        with stages.stage("round 1"):
            depth = stages.enter(lambda: f"training (optimizer step {step[0]})")
            with stages.stage(None):
                step[0] = 7
                raise ValueError("boom")
    assert stages.where(info.value) == "round 1, training (optimizer step 7)"
    assert stages.path() == "" and depth == 1  # every stage closed on the way out
    try:
        with stages.stage("round 2"):
            try:
                with stages.stage("committing"):
                    raise OSError("disk full")
            except OSError as e:
                raise RuntimeError("could not commit") from e
    except RuntimeError as e:
        assert stages.where(e) == "round 2, committing"  # the cause's stage, deeper than the wrapper's
        assert "fdd stage: round 2, committing" in e.__cause__.__notes__


def test_a_stop_that_was_swallowed_is_raised_again_at_the_next_stage(monkeypatch):
    monkeypatch.setattr(stages, "_stopping", None)
    with pytest.raises(stages.Stopped) as info:
        stages._on_signal(signal.SIGTERM, None)
    assert info.value.signum == signal.SIGTERM and stages.exit_code(info.value) == 143
    with pytest.raises(stages.Stopped):
        with stages.stage("round 1"):
            pass
    assert stages.exit_code(KeyboardInterrupt()) == 130


@pytest.mark.parametrize("names, want", [(["SIGTERM"], [signal.SIGTERM]), (["term", "USR1"], [signal.SIGTERM,
                                         signal.SIGUSR1]), ([10], [signal.SIGUSR1]), ([], [])])
def test_stop_signal_names(names, want):
    assert stages.parse_signals(names) == want


@pytest.mark.parametrize("name, needle", [("SIGKILL", "cannot stop a run cleanly"),
                                          ("SIGCHLD", "cannot stop"), ("SIGFOO", "unknown signal 'SIGFOO'")])
def test_bad_stop_signal_names(name, needle):
    with pytest.raises(ValueError, match=needle):
        stages.parse_signals([name])


def test_a_second_signal_while_stopping_exits_at_once():
    code = ("import os, signal, time\nfrom fdd import stages\nstages.stop_on([signal.SIGTERM])\n"
            "try:\n    os.kill(os.getpid(), signal.SIGTERM)\n    time.sleep(30)\n"
            "except stages.Stopped:\n    os.kill(os.getpid(), signal.SIGTERM)\n    time.sleep(30)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.startswith("fdd: interrupted by SIGTERM again; stopped at once"), proc.stderr
