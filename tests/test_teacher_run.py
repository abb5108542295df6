"""A whole FDD run with an LLM teacher over HTTP: faults counted, nothing paid twice."""

from __future__ import annotations

import json

from tests.conftest import TINY, run_cli
from tests.fake_openai_server import FakeOpenAIServer

FAULTS = ["[[429]]", "[[500]]", "[[slow]]", "[[malformed]]", "[[prose]]"]


def write_problems(path, n=30):
    with path.open("w") as f:
        for i in range(n):
            a, b = 3 + i, 5 + 2 * i
            marker = FAULTS[i % len(FAULTS)] if i % 3 == 0 else ""
            f.write(json.dumps({"question": f"Ann has {a} pens and buys {b} more. How many pens now? {marker}",
                                "answer": a + b}) + "\n")


def test_run_with_openai_teacher_counts_faults_and_resumes_free(tmp_path):
    data = tmp_path / "problems.jsonl"
    write_problems(data)
    run_dir = tmp_path / "run"
    tiny = [o for o in TINY if not o.startswith("dataset.")]
    with FakeOpenAIServer(slow_s=3.0) as server:
        args = [*tiny, "rounds=1", "dataset=jsonl", f"dataset.path={data}", "teacher=openai",
                "teacher.model=fake-model", f"teacher.base_url={server.url}", "teacher.timeout=1",
                "teacher.max_retries=3", f"hydra.run.dir={run_dir}"]
        env = {"OPENAI_API_KEY": "test-key"}
        first = run_cli(args, env=env)
        assert first.returncode == 0, first.stderr[-3000:]
        sent = server.counts["chat"]
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "complete"
        seed = summary["seed"]
        assert seed["kept"] >= 20  # the fake teacher adds up the numbers: right for these problems
        assert seed["rejected_by"].get("no_rationale", 0) >= 2  # prose answers are dropped and counted
        r0 = summary["rounds"][0]["teacher"]
        assert r0["requests"] == summary["rounds"][0]["easy"] + summary["rounds"][0]["hard"]

        def total(key):
            return seed["teacher"].get(key, 0) + sum(r["teacher"].get(key, 0) for r in summary["rounds"])

        assert total("retries") >= 4  # 429 / 500 / timeout / malformed first attempts were retried
        assert total("unparsed") >= 2  # prose with no code
        for fault in ("fault_429", "fault_500", "fault_slow", "fault_malformed"):
            assert server.counts[fault] >= 1, fault
        assert (run_dir / "teacher_cache.sqlite").exists()

        again = run_cli(args, env=env)
        assert again.returncode == 0 and "already complete" in again.stdout
        after = server.counts["chat"]
        assert after == sent, "re-running a finished run sent requests"


def test_unreachable_teacher_fails_before_training_in_one_line(tmp_path):
    tiny = [o for o in TINY if not o.startswith("dataset.")]
    data = tmp_path / "problems.jsonl"
    write_problems(data, 5)
    proc = run_cli([*tiny, "dataset=jsonl", f"dataset.path={data}", "teacher=openai",
                    "teacher.base_url=http://127.0.0.1:9/v1", f"hydra.run.dir={tmp_path / 'run'}"],
                   env={"OPENAI_API_KEY": "k"})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len([ln for ln in proc.stderr.splitlines() if ln.startswith("fdd: error")]) == 1
    assert not (tmp_path / "run" / "rounds").exists()


def test_missing_api_key_fails_in_one_line(tmp_path):
    tiny = [o for o in TINY if not o.startswith("dataset.")]
    data = tmp_path / "problems.jsonl"
    write_problems(data, 5)
    with FakeOpenAIServer() as server:
        proc = run_cli([*tiny, "dataset=jsonl", f"dataset.path={data}", "teacher=openai",
                        f"teacher.base_url={server.url}", f"hydra.run.dir={tmp_path / 'run'}"],
                       env={"OPENAI_API_KEY": ""})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("fdd: error")]
    assert len(line) == 1 and "OPENAI_API_KEY" in line[0], proc.stderr[-2000:]
