"""steps_per_round: a fixed number of optimizer steps per round, whatever the set's size, so arms
whose sets grow differently train at equal compute; the sampler's batches and a real two-arm run."""

from __future__ import annotations

import json

import pytest

from fdd.student.data import RoundBatches
from tests.conftest import TINY, crash_at, run_pipeline, without_timings


@pytest.mark.parametrize("n", [5, 40, 100])
def test_sampler_draws_exactly_steps_full_batches(n):
    s = RoundBatches(list(range(n)), batch_size=16, seed=3, steps=7)
    batches = s.batches()
    assert len(s) == len(batches) == 7
    assert all(len(b) == min(16, n) for b in batches)  # full batches: equal compute per step
    flat = [i for b in batches for i in b]
    assert set(flat) == set(range(n)) if 7 * min(16, n) >= n else len(set(flat)) == len(flat)
    counts = [flat.count(i) for i in range(n)]
    assert max(counts) - min(counts) <= 1 + (n <= 16)  # passes over the set, not a biased draw
    assert batches == RoundBatches(list(range(n)), 16, seed=3, steps=7).batches()  # resumable: seed alone
    assert batches != RoundBatches(list(range(n)), 16, seed=4, steps=7).batches()


def test_sampler_steps_with_bucketing_and_ranks():
    lengths = [i % 37 for i in range(90)]
    b = RoundBatches(lengths, 16, seed=1, bucket=True, window=2, steps=11)
    assert len(b.batches()) == 11
    ranks = [RoundBatches(lengths, 16, seed=1, steps=5, rank=r, world=2).batches() for r in range(2)]
    assert [len(x) for x in ranks] == [5, 5]  # every rank the same number of steps
    assert RoundBatches([], 16, seed=1, steps=5).batches() == []


def _steps(summary):
    return [r["training"]["optimizer_steps"] for r in summary["rounds"]]


def test_arms_with_different_sets_do_equal_steps(tmp_path):
    """fdd's set grows, none's does not: with steps_per_round both train 3 steps every round."""
    common = [*TINY, "rounds=1", "steps_per_round=3", "epochs_per_round=2"]
    grown, _ = run_pipeline(tmp_path / "fdd", [*common, "feedback=fdd"])
    flat, _ = run_pipeline(tmp_path / "none", [*common, "feedback=none"])
    sizes = [r["train_size"] for r in grown["rounds"]], [r["train_size"] for r in flat["rounds"]]
    assert sizes[0][-1] > sizes[0][0] and len(set(sizes[1])) == 1  # the sets really differ
    assert _steps(grown) == _steps(flat) == [3, 3]


@pytest.mark.slow
def test_resume_with_steps_per_round(tmp_path, monkeypatch):
    """A crash in round 1's training resumes from round 0's checkpoint and ends as an uninterrupted
    run; without steps_per_round the step count follows the set (ceil(train_size / batch_size))."""
    plain, _ = run_pipeline(tmp_path / "plain", [*TINY, "rounds=1", "feedback=fdd"])
    assert _steps(plain) == [-(-r["train_size"] // 16) for r in plain["rounds"]]
    args = [*TINY, "rounds=1", "steps_per_round=4"]
    ref, _ = run_pipeline(tmp_path / "ref", args)
    crash_at("train:1", lambda: run_pipeline(tmp_path / "crash", args), tmp_path / "crash", monkeypatch)
    again, _ = run_pipeline(tmp_path / "crash", args)
    assert _steps(again) == _steps(ref) == [4, 4]
    assert without_timings(again["rounds"]) == without_timings(ref["rounds"])
    train = [(tmp_path / d / "rounds" / "round_1" / "train.jsonl").read_text() for d in ("ref", "crash")]
    assert train[0] == train[1] and json.loads(train[0].splitlines()[0])["id"]
