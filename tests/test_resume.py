"""Crash anywhere, resume, and end with exactly the data of an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fdd import pipeline
from fdd.store import RunLocked, RunStore
from tests.conftest import ROOT, TINY, compose_cfg, crash_at, run_cli, without_timings

OVERRIDES = [*TINY, "rounds=2"]


def run_inprocess(run_dir: Path, extra: list[str] = ()) -> float:
    cfg = compose_cfg([*OVERRIDES, f"resume={run_dir}", f"paths.output_dir={run_dir}", *extra])
    return pipeline.run(cfg)


def committed_data(run_dir: Path) -> dict:
    """Everything a resumed run must reproduce byte for byte (timings aside)."""
    out = {}
    for path in sorted((run_dir / "rounds").rglob("*.jsonl")):
        out[str(path.relative_to(run_dir))] = path.read_bytes()
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["rounds"] = without_timings(summary["rounds"])
    out["summary"] = summary
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    run_dir = tmp_path_factory.mktemp("reference")
    run_inprocess(run_dir)
    return committed_data(run_dir)


@pytest.mark.parametrize("stage", ["annotate:0", "train:1", "checkpoint:0", "feedback:1", "augment:0",
                                   "commit:1", "evaluate:2"])
def test_crash_at_each_stage_then_resume_matches_uninterrupted(stage, reference, tmp_path, monkeypatch):
    crash_at(stage, lambda: run_inprocess(tmp_path), tmp_path, monkeypatch)
    run_inprocess(tmp_path)
    assert committed_data(tmp_path) == reference


def test_checkpoints_are_written_straight_to_the_file(reference, tmp_path, monkeypatch):
    """fdd's DirectCheckpointIO writes each round's checkpoint, not Lightning's writer (which first
    copies the whole checkpoint into memory), and a resume from it ends as the uninterrupted run."""
    from lightning.fabric.plugins.io import torch_io

    def buffered(*_a, **_k):
        raise AssertionError("Lightning's in-memory checkpoint writer was used")

    monkeypatch.setattr(torch_io, "_atomic_save", buffered)
    crash_at("evaluate:1", lambda: run_inprocess(tmp_path), tmp_path, monkeypatch)
    assert json.loads((tmp_path / "state.json").read_text())["trained"] == 1
    run_inprocess(tmp_path)
    assert committed_data(tmp_path) == reference


def test_sigkill_mid_training_then_resume(reference, tmp_path):
    args = [*OVERRIDES, f"hydra.run.dir={tmp_path}"]
    crashed = run_cli(args, env={"FDD_KILL_AT": "train:1"})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    assert json.loads((tmp_path / "state.json").read_text())["committed"] == 0
    resumed = run_cli(args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from round 1" in resumed.stderr + resumed.stdout
    assert committed_data(tmp_path) == reference
    again = run_cli(args)
    assert again.returncode == 0 and "already complete" in again.stdout


def test_sigint_stops_cleanly_and_says_how_to_resume(tmp_path):
    args = [*OVERRIDES, "rounds=3", "epochs_per_round=3", f"hydra.run.dir={tmp_path}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Ctrl-C's default action, whatever this process inherited: a job started in the background
    # (`cmd &`, nohup) runs with SIGINT ignored, which its children inherit and rightly keep
    proc = subprocess.Popen([sys.executable, "-m", "fdd.run", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    state = tmp_path / "state.json"
    while time.time() < deadline and not (state.exists() and json.loads(state.read_text())["committed"] >= 0):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]  # the shell's code for Ctrl-C, in training or not
    assert err.count("rerun the same command") == 1 and f"resume={tmp_path}" in err
    assert "Traceback" not in err
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["committed"] >= 0
    resumed = run_cli(args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "complete"


def test_second_writer_is_refused_with_the_other_pid(tmp_path):
    first = RunStore(tmp_path)
    first.lock()
    try:
        with pytest.raises(RunLocked, match=f"pid {os.getpid()}"):
            RunStore(tmp_path).lock()
    finally:
        first.unlock()


def test_changed_config_is_refused_naming_the_keys(tmp_path):
    run_inprocess(tmp_path, ["rounds=0"])
    (tmp_path / "summary.json").write_text(
        (tmp_path / "summary.json").read_text().replace('"complete"', '"running"'))
    with pytest.raises(pipeline.UserError, match="feedback.harder_per_easy"):
        run_inprocess(tmp_path, ["rounds=0", "feedback.harder_per_easy=3"])


def test_a_newer_fdds_keys_resume_but_a_changed_one_does_not(tmp_path):
    """A key the run did not start with resumes at its default (a newer fdd's); one the run had as a null
    that is now a mapping is a change."""
    store = RunStore(tmp_path)
    pipeline.check_config(store, compose_cfg([]))
    state = store.state()
    state["config"].pop("teacher.error_rate")  # as if the run began before the key existed
    store.write_state(config=state["config"])
    pipeline.check_config(store, compose_cfg([]))  # resumes
    with pytest.raises(pipeline.UserError, match="dataset.kind_weights.rate"):
        pipeline.check_config(store, compose_cfg(["dataset.kind_weights={rate: 0.05}"]))


@pytest.mark.slow
def test_ten_random_sigkills_of_the_default_loop(reference, tmp_path):
    """Kill at random moments (wall clock), resume until done; data must equal the reference."""
    rng = random.Random(0)
    for trial in range(10):
        run_dir = tmp_path / f"trial{trial}"
        args = [*OVERRIDES, f"hydra.run.dir={run_dir}"]
        proc = subprocess.Popen([sys.executable, "-m", "fdd.run", *args], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(3, 25))
        proc.kill()
        proc.wait()
        done = run_cli(args)
        assert done.returncode == 0, done.stderr[-2000:]
        assert committed_data(run_dir) == reference, f"trial {trial}"
