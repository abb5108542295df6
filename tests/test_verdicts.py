"""Pass-rate verdicts: thresholds, the plan's request accounting (random matches fdd), and the
pass rate computed from sampled solutions."""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from fdd.datasets import load
from fdd.problems import Problem
from fdd.rationales import get_format
from fdd.rounds import feedback, verdicts
from fdd.rounds.runner import RoundRunner
from fdd.student import evaluate
from fdd.student.evaluate import Verdict
from fdd.student.generation import Generated
from fdd.teachers.symbolic import SymbolicTeacher

FB = OmegaConf.load("conf/feedback/fdd.yaml")


def fb(**kw):
    return OmegaConf.merge(FB, kw)


def test_labels_by_thresholds():
    cfg = fb(verdict="pass_rate")
    assert [verdicts.label(r, False, cfg) for r in (0.0, 0.25, 0.75, 1.0)] == ["hard", "borderline", "borderline",
                                                                            "easy"]
    cfg = fb(verdict="pass_rate", easy_min=0.75, hard_max=0.25)
    assert [verdicts.label(r, False, cfg) for r in (0.0, 0.25, 0.5, 0.75)] == ["hard", "hard", "borderline", "easy"]
    greedy = fb()  # greedy: only the (majority / greedy) answer counts, never borderline
    assert [verdicts.label(0.5, c, greedy) for c in (True, False)] == ["easy", "hard"]
    assert verdicts.sampling(greedy) == {"samples": 1}
    assert verdicts.sampling(fb(verdict="pass_rate", samples=8, temperature=0.8)) == {"samples": 8,
                                                                                       "temperature": 0.8}


@pytest.mark.parametrize("bad,key", [({"verdict": "vote"}, "feedback.verdict"),
                                     ({"verdict": "pass_rate", "samples": 0}, "feedback.samples"),
                                     ({"verdict": "pass_rate", "easy_min": 0.2, "hard_max": 0.5}, "feedback.hard_max"),
                                     ({"verdict": "pass_rate", "borderline": "maybe"}, "feedback.borderline"),
                                     ({"verdict": "pass_rate", "temperature": 0}, "feedback.temperature")])
def test_bad_verdict_keys_are_named(bad, key):
    assert key in verdicts.check(fb(**bad))
    assert verdicts.check(fb(verdict="pass_rate")) is None


def _probs(prefix, n):
    return [Problem(id=f"{prefix}{i}", question="") for i in range(n)]


@pytest.mark.parametrize("to,harder,similar", [("both", 9, 7), ("harder", 9, 3), ("similar", 5, 7), ("skip", 5, 3)])
def test_pass_rate_plan_random_matches_fdd(to, harder, similar):
    easy, hard, border = _probs("e", 5), _probs("h", 3), _probs("b", 4)
    f = feedback.plan("fdd", easy, hard, random.Random(0), border, to)
    assert (len(f.harder), len(f.similar)) == (harder, similar)
    if to == "both":
        assert {p.id for p in f.harder} & {p.id for p in f.similar} == {f"b{i}" for i in range(4)}
    for seed in range(20):
        r = feedback.plan("random", easy, hard, random.Random(seed), border, to)
        assert (len(r.harder), len(r.similar)) == (harder, similar)  # same requests per branch
        overlap = {p.id for p in r.harder} & {p.id for p in r.similar}
        assert len(overlap) == max(0, harder + similar - 12)  # sent both ways as often as fdd does
    assert len(feedback.plan("easy_only", easy, hard, random.Random(0), border, to).harder) == harder
    assert len(feedback.plan("hard_only", easy, hard, random.Random(0), border, to).similar) == similar


def test_greedy_random_plan_is_the_old_partition():
    """Without borderline problems the random arm draws exactly as before (results stay comparable)."""
    easy, hard = _probs("e", 50), _probs("h", 30)
    new = feedback.plan("random", easy, hard, random.Random(7))
    pool = [*easy, *hard]
    random.Random(7).shuffle(pool)
    assert new.harder == pool[:50] and new.similar == pool[50:]


def test_solve_computes_the_pass_rate(monkeypatch):
    problems = [Problem(id="a", question="qa", answer=3.0), Problem(id="b", question="qb", answer=5.0)]
    texts = [["ans = 3", "ans = 1 + 2", "ans = 4", "ans = undefined"], ["ans = 1", "ans = 5", "ans = 1", "ans = 2"]]
    ends = [["eos", "done", "limit", "eos"], ["eos"] * 4]
    gens = [[Generated(t, e) for t, e in zip(ts, es)] for ts, es in zip(texts, ends)]
    monkeypatch.setattr(evaluate, "generate", lambda model, tok, qs, samples=1, **kw: gens)
    a, b = evaluate.solve(None, None, problems, get_format("pot"), samples=4)
    assert (a.pass_rate, a.correct) == (0.5, True)  # 2 of 4 right; the majority (3) is right
    assert (b.pass_rate, b.correct) == (0.25, False)  # 1 of 4 right; the majority (1) is wrong
    assert (a.cut, b.cut) == (1, 0)  # samples cut at the token limit, counted per problem


@pytest.mark.parametrize("arm", ["fdd", "random"])
def test_augment_with_pass_rates(arm):
    """4 easy, 3 hard, 3 borderline: fdd and random both send 4 + 3 + 2·3 requests."""
    seeds = load("synthetic", n=10, seed=5).problems
    rates = [1.0] * 4 + [0.0] * 3 + [0.25, 0.5, 0.75]
    cfg = fb(name=arm, verdict="pass_rate", samples=4)
    runner = RoundRunner(teacher=SymbolicTeacher(error_rate=0.0), store=None,
                         data=SimpleNamespace(problems=list(seeds)), fmt=get_format("pot"), feedback=cfg,
                         eval_sets={}, eval_cfg=None, rounds=2, epochs_per_round=1, seed=0, seeds=seeds)
    asked = {}

    def solve(trainer, student, probs, desc, samples=1, temperature=0.7):
        asked.update(samples=samples, temperature=temperature)
        return [Verdict(p.id, "", None, None, r > 0.5, r) for p, r in zip(probs, rates)]

    runner._solve = solve
    teacher, asked_for = runner.teacher, {"harder": set(), "similar": set()}
    def recording(task):  # the parents each branch was asked about (static checks may drop children)
        call = getattr(teacher, task)

        def ask(problems, n, round):
            asked_for[task] |= {p.id for p in problems}
            return call(problems, n, round)
        return ask

    for task in asked_for:
        setattr(teacher, task, recording(task))
    records, added, stats = runner.augment(runner.feedback_verdicts(None, None, 0), 0)
    assert asked == {"samples": 4, "temperature": 1.0}
    assert (stats["easy"], stats["hard"], stats["borderline"]) == (4, 3, 3)
    assert stats["teacher"]["requests"] == 4 + 3 + 2 * 3
    assert [r["verdict"] for r in records] == ["easy"] * 4 + ["hard"] * 3 + ["borderline"] * 3
    assert [r["pass_rate"] for r in records] == rates
    if arm == "fdd":
        border = {p.id for p in seeds[7:]}
        assert asked_for["harder"] >= border and asked_for["similar"] >= border


@pytest.mark.slow
def test_pass_rate_run_resumes_with_the_same_samples(tmp_path, monkeypatch):
    """A real tiny run with pass-rate verdicts: rates are multiples of 1/samples, borderline is
    counted, requests add up; a crash after the verdicts resumes with the very same samples."""
    import json

    from tests.conftest import TINY, crash_at, run_pipeline

    args = [*TINY, "rounds=1", "feedback=pass_rate", "feedback.samples=3"]
    ref, _ = run_pipeline(tmp_path / "ref", args)
    r0 = ref["rounds"][0]
    records = [json.loads(x) for x in (tmp_path / "ref/rounds/round_0/feedback.jsonl").read_text().splitlines()]
    assert all(round(3 * r["pass_rate"]) == pytest.approx(3 * r["pass_rate"]) for r in records)
    assert Counter(r["verdict"] for r in records) == {k: r0[k] for k in ("easy", "hard", "borderline") if r0[k]}
    assert r0["teacher"]["requests"] == r0["easy"] + r0["hard"] + 2 * r0["borderline"]
    crash_at("augment:0", lambda: run_pipeline(tmp_path / "crash", args), tmp_path / "crash", monkeypatch)
    run_pipeline(tmp_path / "crash", args)
    for name in ("feedback.jsonl", "added.jsonl"):
        assert (tmp_path / "crash/rounds/round_0" / name).read_bytes() == (tmp_path / "ref/rounds/round_0" / name).read_bytes()
