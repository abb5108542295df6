"""Where the student goes wrong (fdd/rounds/diagnosis.py `first_wrong_steps`), the attempt-aware feedback
built on it (`feedback.show_attempt`: the symbolic teacher's focused similar problems, the LLM
prompts that show the attempt), and both in a real tiny run's summary.json and report.md."""

from __future__ import annotations

import json
import random

from fdd.datasets import load
from fdd.datasets import synthetic as fam
from fdd.problems import Problem, read_problems
from fdd.rounds.diagnosis import FirstWrong, first_wrong_counts, first_wrong_steps
from fdd.teachers.base import Attempt
from fdd.teachers.openai_compat import OpenAITeacher
from fdd.teachers.symbolic import SymbolicTeacher
from fdd.teachers.templates import describe_attempt
from fdd.tracking import round_metrics
from tests.conftest import TINY, run_pipeline
from tests.fake_openai_server import FakeOpenAIServer

REFERENCE = "cups = 12\nboxes = cups * 3\nleft = boxes - 5\nhalf = left / 2\nans = half"


def ref(tags: dict | None = None) -> Problem:
    return Problem(id="p", question="q", answer=15.5, rationale=REFERENCE, tags=tags)


def test_first_wrong_step_by_value():
    cases = [
        ("cups = 12\nboxes = cups * 3\nans = boxes - 4", None, FirstWrong("wrong_value", 2, "sub", 3, "left = boxes - 5")),
        ("x = 12 * 3\ny = x - 5\nans = y * 2", None, FirstWrong("wrong_value", 3, "div", 3, "half = left / 2")),
        ("a = 12 + 3\nans = a", None, FirstWrong("wrong_value", 1, "mul", 3, "boxes = cups * 3")),
        ("x = 36\ny = 31\nz = 15.5\nans = y", None, FirstWrong("wrong_value", None, None, 3)),  # every value is there
        ("b = 36\nc = b - 5\nd = nope + 1\nans = d", "runtime", FirstWrong("runtime", 3, "div", 3, "half = left / 2")),
        ("Ann has 3 cups", "syntax", FirstWrong("syntax", None, None, 3)),
    ]
    got = first_wrong_steps([(ref(), out, err) for out, err, _ in cases])
    assert got == [want for _, _, want in cases]


def test_kind_comes_from_step_kinds_when_the_counts_agree():
    tagged = ref({"step_kinds": ["group", "change", "fraction"]})
    short = ref({"step_kinds": ["group", "change"]})  # not one kind per step: the operation instead
    a, b = first_wrong_steps([(tagged, "ans = 36", None), (short, "ans = 36", None)])
    assert (a.position, a.kind) == (2, "change") and (b.position, b.kind) == (2, "sub")


def test_reference_values_are_cached_between_rounds():
    calls: list[int] = []

    def counting(programs):
        from fdd.sandbox import execute

        calls.append(len(programs))
        return execute(programs)

    cache: dict = {}
    first_wrong_steps([(ref(), "ans = 36", None)], execute=counting, reference_cache=cache)
    first_wrong_steps([(ref(), "ans = 36", None)], execute=counting, reference_cache=cache)
    assert calls == [3 + 1, 1]  # 3 reference steps probed once; the student's one assignment each time


def test_counts():
    ds = [FirstWrong("wrong_value", 2, "rate", 3), FirstWrong("syntax", None, None, 3),
          FirstWrong("runtime", 1, "rate", 2)]
    assert first_wrong_counts(ds) == {"failures": 3, "failure": {"wrong_value": 1, "syntax": 1, "runtime": 1},
                                      "first_wrong_kind": {"rate": 2},
                                      "first_wrong_position": {"2": 1, "none": 1, "1": 1}}


def test_symbolic_similar_from_a_diagnosed_step_exercises_that_kind():
    """For every parent and every diagnosed (position, kind), the focused similar problem has the
    parent's step count, the parent's kinds before the position and the diagnosed kind from it on;
    it is a pure function of (seed, task, round, parent) and the attempt."""
    parents = load("synthetic", n=60, seed=11, min_steps=2, max_steps=4).problems
    teacher = SymbolicTeacher(error_rate=0.0, seed=3)
    rng = random.Random(0)
    attempts = {}
    for p in parents:  # a diagnosed kind is the parent's own kind at that step (its step_kinds tag)
        steps = p.tags["step_kinds"]
        pos = rng.randrange(1, len(steps) + 1)
        attempts[p.id] = Attempt("x = 1", False, "wrong_value", pos, steps[pos - 1], None, len(steps))
    kids = teacher.similar(parents, 1, 0, attempts=attempts)
    assert kids == SymbolicTeacher(error_rate=0.0, seed=3).similar(parents, 1, 0, attempts=attempts)
    plain = teacher.similar(parents, 1, 0)
    repeated = 0
    for p, (kid,), (same,) in zip(parents, kids, plain):
        a, kinds = attempts[p.id], kid.tags["step_kinds"]
        assert len(kinds) == len(p.tags["step_kinds"])
        assert kinds[:a.position] == p.tags["step_kinds"][:a.position]  # the diagnosed kind at its position
        repeated += set(kinds[a.position - 1:]) == {a.kind}  # and after it, where the story allows
        assert same.tags["step_kinds"] == p.tags["step_kinds"]  # without the attempt: plain similar
    assert repeated >= 45
    assert sum(k.tags["step_kinds"] != s.tags["step_kinds"] for (k,), (s,) in zip(kids, plain)) >= 15
    # a failure without a diagnosed step, and harder variations, are as without the attempt
    blind = {p.id: Attempt("?", False, "syntax") for p in parents}
    assert teacher.similar(parents, 1, 0, attempts=blind) == plain
    assert teacher.harder(parents, 1, 0, attempts=attempts) == teacher.harder(parents, 1, 0)


def test_llm_prompt_shows_the_attempt_and_the_step(tmp_path):
    seen: list[str] = []

    def record(prompt: str, index: int) -> str:
        seen.append(prompt)
        return "Problem 1:\nQuestion: Bo has 4 cups and buys 6 more cups. How many cups now?\nProgram:\n" \
               "```python\ncups = 4\nans = cups + 6\n```"

    parent = Problem(id="p", question="Al has 3 cups and buys 5 more cups. How many cups now?", answer=8.0)
    other = Problem(id="o", question="Cy has 2 hats and buys 7 more hats. How many hats now?", answer=9.0)
    attempt = Attempt("cups = 3\nans = cups - 5", False, "wrong_value", 1, "add", "total = cups + 5", 1)
    with FakeOpenAIServer(responder=record) as server:
        teacher = OpenAITeacher(model="fake-model", base_url=server.url, api_key="k", verify="none")
        teacher.similar([parent, other], 1, 0, attempts={"p": attempt})
    shown = next(s for s in seen if "Al has 3 cups" in s)
    assert "cups = 3\nans = cups - 5" in shown and "`total = cups + 5` (step 1 of 1, add)" in shown
    assert "exercise the step the student got wrong" in shown
    plain = next(s for s in seen if "Cy has 2 hats" in s)  # no attempt for it: the plain prompt
    assert "student" not in plain
    assert describe_attempt(Attempt("", False, "syntax")) == "The student's program is not valid Python."


def test_tiny_run_reports_where_the_student_goes_wrong(tmp_path):
    summary, _ = run_pipeline(tmp_path, [*TINY, "rounds=1", "feedback.show_attempt=true"])
    d = summary["rounds"][0]["diagnosis"]
    r0 = summary["rounds"][0]
    assert d["failures"] == sum(d["failure"].values()) == r0["hard"]  # greedy: a failure is a hard problem
    assert sum(d["first_wrong_position"].values()) == d["failures"]
    assert sum(d["first_wrong_kind"].values()) == d["failures"] - d["first_wrong_position"].get("none", 0)
    assert set(d["first_wrong_kind"]) <= set(fam.KINDS)  # synthetic problems: the step kinds
    records = [json.loads(line) for line in (tmp_path / "rounds" / "round_0" / "feedback.jsonl").read_text().splitlines()]
    assert all(("diagnosis" in r) == (not r["correct"]) for r in records)
    md = (tmp_path / "report.md").read_text()
    assert "## Where the student goes wrong" in md and "wrong value %" in md
    metrics = round_metrics(r0)  # what W&B / CSV / TensorBoard get
    assert metrics["round/diagnosis/failures"] == d["failures"]
    assert {f"round/diagnosis/first_wrong_kind/{k}" for k in d["first_wrong_kind"]} <= set(metrics)
    assert all(r["sent"] == (["harder"] if r["verdict"] == "easy" else ["similar"]) for r in records)  # fdd's routing
    # with show_attempt, the symbolic similar problems of diagnosed parents hold the diagnosed kind
    by_id = {r["id"]: r["diagnosis"] for r in records if "diagnosis" in r}
    kids = [k for k in read_problems(tmp_path / "rounds" / "round_0" / "added.jsonl") if k.origin == "similar"]
    checked = 0
    for kid in kids:
        diag = by_id.get(kid.parent_id)
        if diag and diag["position"]:
            assert kid.tags["step_kinds"][diag["position"] - 1] == diag["kind"]
            checked += 1
    assert checked > 0
