"""A whole FDD run with an LLM teacher over HTTP: faults counted, nothing paid twice."""

from __future__ import annotations

import json

import pytest

from fdd.problems import read_problems
from fdd.rationales import get_format
from fdd.teachers.parse import parse_problems
from tests.conftest import TINY, run_cli, run_pipeline
from tests.fake_openai_server import FakeOpenAIServer
from tests.faulty_teacher import faulty_responder, true_answer

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


def _clean_problems(path, n=40):
    with path.open("w") as f:
        for i in range(n):
            a, b = 3 + i, 5 + 2 * i
            f.write(json.dumps({"question": f"Ann has {a} pens and buys {b} more. How many pens does Ann have now?",
                                "answer": a + b}) + "\n")


def _recording(responder, served: dict):
    """The responder, noting every new problem it serves (question -> program)."""
    def respond(prompt: str, index: int) -> str:
        text = responder(prompt, index)
        if "Make" in prompt:
            served.update(dict(parse_problems(text, "pot")))
        return text
    return respond


def test_resolve_keeps_right_answers_from_a_teacher_whose_programs_are_often_wrong(tmp_path, monkeypatch):
    """30 % of the new problems come with a subtly wrong program; asked to solve, the teacher is right."""
    data, run_dir = tmp_path / "problems.jsonl", tmp_path / "run"
    _clean_problems(data, 30)
    served: dict[str, str] = {}
    tiny = [o for o in TINY if not o.startswith(("dataset.", "feedback."))]
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with FakeOpenAIServer(responder=_recording(faulty_responder(wrong=0.3), served)) as server:
        run_pipeline(run_dir, [*tiny, "rounds=1", "dataset=jsonl", f"dataset.path={data}", "teacher=openai",
                               "teacher.model=fake-model", f"teacher.base_url={server.url}",
                               "feedback.harder_per_easy=2", "feedback.similar_per_hard=2"])
    truth = {q: true_answer(q) for q in served}
    programs = list(served.values())
    right = {q for q, a in zip(served, get_format("pot").answers(programs)) if a.value == truth[q]}
    assert 0.2 < 1 - len(right) / len(served) < 0.4  # the stand-in really is wrong about 30 % of the time
    kept = read_problems(run_dir / "rounds" / "round_0" / "added.jsonl")
    correct = [p for p in kept if p.answer == true_answer(p.question)]
    assert len(correct) >= 0.98 * len(kept)
    assert len([p for p in correct if p.question in right]) >= 0.6 * len(right)
    entry = json.loads((run_dir / "summary.json").read_text())["rounds"][0]
    caught = entry["rejected_by"].get("disagree", 0) + entry["rejected_by"].get("literal", 0)
    assert caught >= len(served) - len(right)  # every wrong program (a dropped step may leave `ans = q0`)
    v = entry["teacher"]["verify"]
    assert v["requests"] == entry["added"] + entry["rejected_by"].get("disagree", 0) + \
        entry["rejected_by"].get("unverified", 0) and v["prompt_tokens"] > 0 and "cost_usd" in v
    assert entry["teacher"]["requests"] == entry["easy"] + entry["hard"]  # generation counted apart


@pytest.mark.slow  # two CLI runs (~40 s idle); test_openai_teacher covers the same stop at the teacher level
def test_quota_running_out_mid_run_stops_in_one_line_and_resumes_without_redoing_work(tmp_path):
    data, run_dir = tmp_path / "problems.jsonl", tmp_path / "run"
    _clean_problems(data, 30)
    tiny = [o for o in TINY if not o.startswith("dataset.")]
    with FakeOpenAIServer(quota=30 + 12) as server:  # round 0's annotation, then part of round 0's boundary
        args = [*tiny, "rounds=1", "dataset=jsonl", f"dataset.path={data}", "teacher=openai",
                "teacher.model=fake-model", f"teacher.base_url={server.url}", f"hydra.run.dir={run_dir}"]
        first = run_cli(args, env={"OPENAI_API_KEY": "k"})
        assert first.returncode != 0 and "Traceback" not in first.stderr
        errors = [ln for ln in first.stderr.splitlines() if ln.startswith("fdd: error")]
        assert len(errors) == 1 and "insufficient_quota" in errors[0], first.stderr[-3000:]
        state = json.loads((run_dir / "state.json").read_text())
        assert state["seeded"] and state["committed"] == -1 and state["trained"] == 0
        seed_set = (run_dir / "rounds" / "round_0" / "train.jsonl").read_bytes()
        assert server.counts["served"] == 42
        server.quota = None  # the quota returns
        again = run_cli(args, env={"OPENAI_API_KEY": "k"})
        assert again.returncode == 0, again.stderr[-3000:]
        assert "round 0 was trained" in again.stdout + again.stderr  # not retrained
        twice = [k for k, n in server.served.items() if n > 1]
        assert twice == ["n=1 Reply with OK."], twice  # only the 1-token preflight is sent again, by design
        assert (run_dir / "rounds" / "round_0" / "train.jsonl").read_bytes() == seed_set
        assert json.loads((run_dir / "summary.json").read_text())["status"] == "complete"
