"""The FDD loop end to end on a tiny embedded default, and its parts: teacher, plan, verification."""

from __future__ import annotations

import importlib.util
import json
import random
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from fdd import pipeline, verify
from fdd.datasets import load
from fdd.datasets.synthetic import parse_question
from fdd.problems import Problem, read_problems
from fdd.rationales import get_format
from fdd.rounds import feedback
from fdd.rounds.runner import RoundRunner
from fdd.student.evaluate import Verdict
from fdd.teachers.symbolic import SymbolicTeacher
from tests.conftest import CONF, TINY, compose_cfg, run_pipeline

RECORD_KEYS = {"id", "question", "answer", "rationale", "origin", "parent_id", "round", "source"}


def run_inprocess(tmp_path, overrides):
    return run_pipeline(tmp_path, [*TINY, *overrides])


def test_tiny_run_writes_the_run_directory_contract(tmp_path):
    summary, student = run_inprocess(tmp_path, ["rounds=2"])
    assert summary["status"] == "complete"
    assert [r["round"] for r in summary["rounds"]] == [0, 1, 2]
    for r in summary["rounds"]:
        for key in ("train_size", "easy", "hard", "added", "rejected", "teacher", "eval", "seconds"):
            assert key in r, key
        assert set(r["eval"]) == {f"synthetic_{k}" for k in range(1, 7)}
        for e in r["eval"].values():
            assert 0.0 <= e["accuracy"] <= 1.0 and e["n"] == 8
    assert summary["final"]["eval"] == summary["rounds"][-1]["eval"]
    for k in (0, 1):
        r = summary["rounds"][k]
        assert r["easy"] + r["hard"] == r["pool"] == summary["rounds"][0]["train_size"]
        assert r["teacher"]["requests"] == r["easy"] + r["hard"]
    for name in ("report.md", "accuracy.png", "student/config.json", "summary.json"):
        assert (tmp_path / name).exists(), name
    assert any((tmp_path / "student").glob("*.safetensors"))
    assert (tmp_path / "student" / "tokenizer.json").exists()
    for k in range(3):
        d = tmp_path / "rounds" / f"round_{k}"
        train = read_problems(d / "train.jsonl")
        assert len(train) == summary["rounds"][k]["train_size"]
        for line in (d / "train.jsonl").read_text().splitlines():
            assert set(json.loads(line)) - {"tags"} == RECORD_KEYS  # tags: optional diagnosis labels
        if k < 2:
            added = read_problems(d / "added.jsonl")
            assert len(added) == summary["rounds"][k]["added"]
            assert all(p.origin in ("harder", "similar") and p.round == k + 1 for p in added)
            assert len((d / "feedback.jsonl").read_text().splitlines()) == summary["rounds"][k]["pool"]
            nxt = read_problems(tmp_path / "rounds" / f"round_{k + 1}" / "train.jsonl")
            assert [p.id for p in nxt] == [p.id for p in train] + [p.id for p in added]
        # training really saw exactly this round's committed set
        assert student.seen_ids[k] == {p.id for p in train}, f"round {k}"


def test_rerunning_a_complete_run_does_nothing(tmp_path, capsys):
    run_inprocess(tmp_path, ["rounds=0"])
    before = (tmp_path / "summary.json").read_text()
    cfg = compose_cfg([*TINY, f"resume={tmp_path}", f"paths.output_dir={tmp_path}", "rounds=0"])
    pipeline.run(cfg)
    assert "already complete" in capsys.readouterr().out
    assert (tmp_path / "summary.json").read_text() == before


def test_symbolic_teacher_rationales_verify():
    problems = load("synthetic", n=200, seed=3).problems
    teacher = SymbolicTeacher(error_rate=0.0)
    checked = verify.annotate(problems, teacher.annotate(problems), get_format("pot"))
    assert len(checked.kept) == 200
    kids = [p for ks in teacher.harder(problems[:50], 2, 0) for p in ks]
    sims = [p for ks in teacher.similar(problems[:50], 2, 0) for p in ks]
    for parent, pair in zip(problems[:50], zip(kids[::2], kids[1::2])):
        n = len(parse_question(parent.question).steps)
        assert all(len(parse_question(k.question).steps) > n for k in pair)
    for parent, pair in zip(problems[:50], zip(sims[::2], sims[1::2])):
        n = len(parse_question(parent.question).steps)
        assert all(len(parse_question(s.question).steps) == n for s in pair)
    checked = verify.verify(kids + sims, get_format("pot"), [p.question for p in problems])
    assert checked.rejected.get("invalid", 0) == 0
    for p in checked.kept:  # the executed answer is the true answer of the question
        assert p.answer == parse_question(p.question).answer
    assert teacher.usage().requests == 300


def test_teacher_errors_are_rejected_and_counted():
    problems = load("synthetic", n=400, seed=4).problems
    teacher = SymbolicTeacher(error_rate=0.5, seed=1)
    checked = verify.annotate(problems, teacher.annotate(problems), get_format("pot"))
    assert 100 < checked.rejected["wrong"] < 300
    assert len(checked.kept) + checked.rejected["wrong"] == 400
    for p in checked.kept:
        assert p.answer == parse_question(p.question).answer


def test_verification_rejects_planted_bad_problems():
    fmt = get_format("pot")
    known = ["Ava has 3 apples. How many apples are left?"]
    mk = lambda i, q, r: Problem(id=f"n{i}", question=q, rationale=r, origin="similar")  # noqa: E731
    cands = [
        mk(0, "Ben has 5 cups. Ben loses 2 cups. How many cups are left?", "cups = 5\ncups = cups - 2\nans = cups"),
        mk(1, "Bad program one?", "ans = undefined_name + 1"),
        mk(2, "Bad program two?", "this is not python"),
        mk(3, "Infinite answer?", "ans = float('inf')"),
        mk(4, "ava has 3 apples! how many apples are left", "ans = 3"),       # duplicate of a known question
        mk(5, "Ben has 5 cups.  Ben loses 2 cups. How many cups are left?", "ans = 3"),  # duplicate within batch
        mk(6, "Leaked eval question about 7 keys?", "ans = 7"),
    ]

    class Decon:
        def check(self, q):
            return "exact" if q.startswith("Leaked") else None

    checked = verify.verify(cands, fmt, known, Decon())
    assert [p.id for p in checked.kept] == ["n0"]
    assert checked.kept[0].answer == 3.0
    assert checked.rejected == {"invalid": 3, "duplicate": 2, "contaminated": 1}


@pytest.mark.parametrize("arm,harder,similar", [
    ("fdd", 6, 4), ("random", 6, 4), ("easy_only", 6, 0), ("hard_only", 0, 4), ("none", 0, 0)])
def test_each_arm_makes_the_expected_teacher_requests(arm, harder, similar):
    """6 easy / 4 hard: fdd and random both send 10 requests; the branches only theirs."""
    seeds = load("synthetic", n=10, seed=5).problems
    easy_ids = {p.id for p in seeds[:6]}
    teacher = SymbolicTeacher(error_rate=0.0)
    fb = OmegaConf.create({"name": arm, "pool": "seed", "harder_per_easy": 3, "similar_per_hard": 2})
    runner = RoundRunner(teacher=teacher, store=None, data=SimpleNamespace(problems=list(seeds)),
                         fmt=get_format("pot"), feedback=fb, eval_sets={}, eval_cfg=None, rounds=2,
                         epochs_per_round=1, seed=0, seeds=seeds)
    runner._solve = lambda trainer, student, probs, desc, samples=1, temperature=0.7: [
        Verdict(p.id, "", None, None, p.id in easy_ids) for p in probs]
    _, added, stats = runner.augment(runner.feedback_verdicts(None, None, 0), 0)
    assert stats["teacher"]["requests"] == harder + similar
    if arm != "none":
        assert (stats["easy"], stats["hard"]) == (6, 4)
    assert stats["requested"] == 3 * harder + 2 * similar
    if arm == "fdd":
        assert {p.parent_id for p in added if p.origin == "harder"} <= easy_ids
        assert not {p.parent_id for p in added if p.origin == "similar"} & easy_ids


def test_random_arm_ignores_the_verdicts():
    easy = [Problem(id=f"e{i}", question="") for i in range(50)]
    hard = [Problem(id=f"h{i}", question="") for i in range(30)]
    p = feedback.plan("random", easy, hard, random.Random(0))
    assert (len(p.harder), len(p.similar)) == (50, 30)
    assert any(x.id.startswith("h") for x in p.harder) and any(x.id.startswith("e") for x in p.similar)


def test_every_config_option_composes():
    groups = {g.name: sorted(f.stem for f in g.glob("*.yaml")) for g in CONF.iterdir() if g.is_dir()}
    assert {"teacher", "student", "dataset", "eval", "feedback", "trainer", "logger"} <= set(groups)
    try:
        optuna = importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None
    except ModuleNotFoundError:
        optuna = False
    for group, options in groups.items():
        for option in options:
            if (group, option) == ("sweep", "optuna") and not optuna:
                continue  # needs the optional `optuna` extra (hydra-optuna-sweeper)
            cfg = compose_cfg([f"{group}={option}"])
            assert cfg.rounds >= 0, (group, option)
