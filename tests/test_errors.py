"""Bad input: one line naming the problem, a non-zero exit, no traceback, nothing committed lost."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT, TINY, run_cli


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("fdd: error:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("override, needle", [("rounds=-1", "rounds must be >= 0"),
                                              ("feedback.verdict=vote", "feedback.verdict must be one of"),
                                              ("stop_signals=[SIGTERM,SIGKILL]",
                                               "stop_signals: SIGKILL cannot stop a run cleanly")])
def test_a_bad_config_fails_before_any_model_library_loads(tmp_path, override, needle):
    """fdd/validation.py runs before Lightning and torch are imported (they take seconds to load)."""
    proc = run_cli(["-X", "importtime", "-m", "fdd.run", override, f"hydra.run.dir={tmp_path}"], module=None)
    one_line_error(proc, needle)
    loaded = {ln.split("|")[-1].strip().split(".")[0] for ln in proc.stderr.splitlines() if ln.startswith("import time:")}
    assert "omegaconf" in loaded and "fdd" in loaded  # the import log is there, and was read
    assert not loaded & {"torch", "lightning", "transformers"}, sorted(loaded & {"torch", "lightning", "transformers"})


def test_unknown_option_uses_hydras_message(tmp_path):
    proc = run_cli(["no_such_key=1", f"hydra.run.dir={tmp_path}"])
    assert proc.returncode != 0
    assert "no_such_key" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_group_option(tmp_path):
    proc = run_cli(["feedback=bogus", f"hydra.run.dir={tmp_path}"])
    assert proc.returncode != 0
    assert "bogus" in proc.stderr and "Traceback" not in proc.stderr


def test_student_that_cannot_be_built(tmp_path):
    proc = run_cli([*TINY, "student.model.num_heads=0", f"hydra.run.dir={tmp_path}"])
    one_line_error(proc)


def test_unwritable_output_dir():
    proc = run_cli([*TINY, "hydra.run.dir=/proc/fdd-run"])
    one_line_error(proc, "/proc/fdd-run")


@pytest.mark.parametrize("content,needle", [
    ('{"q": "What is 1 + 1?", "a": 2}\n{"q": "broken\n', ":2: not valid JSON"),
    ('{"q": "What is 1 + 1?", "a": 2}\n{"q": "Where is the answer?"}\n', "missing answer field 'a'"),
    ('{"q": "What is 1 + 1?", "a": 2}\n{"q": "How many?", "a": "lots"}\n', "lots"),
])
def test_malformed_dataset_file(tmp_path, content, needle):
    data = tmp_path / "bad.jsonl"
    data.write_text(content)
    tiny = [o for o in TINY if not o.startswith("dataset.")]
    proc = run_cli([*tiny, "dataset=jsonl", f"dataset.path={data}", "dataset.question_field=q",
                    "dataset.answer_field=a", f"hydra.run.dir={tmp_path / 'run'}"])
    one_line_error(proc, needle)


def test_disk_full_while_writing_a_round_keeps_what_was_committed(tmp_path):
    """Writes past a file-size limit fail (EFBIG stands in for ENOSPC); resuming then completes."""
    run_dir = tmp_path / "run"
    args = [*TINY, "rounds=2", f"hydra.run.dir={run_dir}"]

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    proc = subprocess.run([sys.executable, "-m", "fdd.run", *args], cwd=ROOT, capture_output=True, text=True,
                          preexec_fn=small_files, timeout=300)
    one_line_error(proc, "File too large")
    state = json.loads((run_dir / "state.json").read_text())
    for k in range(state["committed"] + 2):  # every committed set (and the next round's) reads back
        path = run_dir / "rounds" / f"round_{k}" / "train.jsonl"
        if path.exists():
            [json.loads(line) for line in path.read_text().splitlines()]
    assert not list(run_dir.rglob("*.tmp")), "temporary files left behind"
    done = run_cli(args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "complete"


def test_an_unexpected_error_names_its_stage_and_the_rerun_resumes(tmp_path):
    """An exception in round 0's generation (as generation past a student's positions raised an
    IndexError) ends in one line naming the round and the sets; the weights trained are kept."""
    args = [*TINY, "rounds=0", f"hydra.run.dir={tmp_path}"]
    proc = run_cli(args, env={"FDD_FAIL_AT": "round 0, generating"})
    assert proc.returncode == 2
    line = one_line_error(proc, "RuntimeError: injected failure",
                          "; rerun the same command to resume from the last committed round")
    assert line.startswith("fdd: error: in round 0, generating for synthetic_1, synthetic_2"), line
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["trained"] == 0 and state["committed"] == -1
    done = run_cli(args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "round 0 was trained" in done.stdout + done.stderr  # not retrained: its boundary redone
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "complete"


def test_fdd_debug_shows_the_traceback_with_the_stage(tmp_path):
    proc = run_cli([*TINY, f"hydra.run.dir={tmp_path}"],
                   env={"FDD_FAIL_AT": "building the student", "FDD_DEBUG": "1"})
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "RuntimeError: injected failure" in proc.stderr, proc.stderr[-3000:]
    assert "fdd stage: building the student" in proc.stderr, proc.stderr[-3000:]
    assert not [ln for ln in proc.stderr.splitlines() if ln.startswith("fdd: error")]
