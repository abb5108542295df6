"""Diagnosis by tag: the benchmark loaders' tags on the real files, the per-tag counts, and the
summary.json / report.md fields of a real tiny run whose problems carry tags."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from fdd import datasets, pipeline
from fdd.datasets.synthetic import parse_question
from fdd.problems import Problem, read_problems
from fdd.rounds.diagnosis import accuracy_by_tag, counts_by_tag, inherit_tags, mark_rare
from tests.conftest import TINY, run_pipeline


def test_gsm8k_steps_count_the_calculator_annotations(shared_data):
    loaded = datasets.load("gsm8k", split="test", data_dir=str(shared_data))
    rows = [json.loads(line) for line in (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()]
    assert len(loaded.problems) == len(rows) == 1319
    for p, r in zip(loaded.problems, rows):
        assert p.tags == {"steps": r["answer"].count("<<")}
    steps = Counter(p.tags["steps"] for p in loaded.problems)
    assert steps[0] > 0 and max(steps) >= 8  # a few solutions have no annotation, a few have 8
    assert Problem.from_dict(loaded.problems[0].to_dict()).tags == loaded.problems[0].tags  # round-trips


def test_svamp_and_asdiv_types(shared_data):
    svamp = datasets.load("svamp", data_dir=str(shared_data)).problems
    raw = json.loads((shared_data / "svamp" / "SVAMP.json").read_text())
    by_id = {r["ID"]: r["Type"] for r in raw}
    assert all(p.tags["type"] == by_id[p.id].replace("Divison", "Division") for p in svamp)
    assert set(Counter(p.tags["type"] for p in svamp)) == {"Addition", "Subtraction", "Multiplication",
                                                            "Common-Division"}
    asdiv = datasets.load("asdiv", data_dir=str(shared_data)).problems
    xml = (shared_data / "asdiv" / "ASDiv.xml").read_text()
    first = re.search(r'<Problem ID="(nluds-\d+)".*?<Solution-Type>([^<]+)</Solution-Type>', xml, re.S)
    assert asdiv[0].id == first.group(1) and asdiv[0].tags == {"type": first.group(2)}
    types = Counter(p.tags["type"] for p in asdiv)
    assert len(types) > 15 and {"GCD", "Ratio", "Geometry"} <= set(types)


def test_counts_and_inheritance():
    ps = [Problem(id=f"p{i}", question="", tags={"kind": "rate" if i % 2 else "price", "steps": 1 + i % 3})
          for i in range(6)]
    ps.append(Problem(id="untagged", question=""))
    acc = accuracy_by_tag(ps, {p.id: p.id in ("p1", "p3", "p4") for p in ps})
    assert acc["kind"] == {"price": {"accuracy": pytest.approx(1 / 3), "n": 3}, "rate": {"accuracy": 2 / 3, "n": 3}}
    assert acc["steps"] == {"1": {"accuracy": 0.5, "n": 2}, "2": {"accuracy": 1.0, "n": 2},  # p0 ✗ p3 ✓, p1 ✓ p4 ✓
                            "3": {"accuracy": 0.0, "n": 2}}
    counts = counts_by_tag([(ps[0], "easy"), (ps[2], "hard"), (ps[4], "hard"), (ps[6], "easy")], ("easy", "hard"))
    assert counts["kind"] == {"price": {"easy": 1, "hard": 2}}
    kinds = [Problem(id=f"s{i}", question="", tags={"step_kinds": ks}) for i, ks in
             enumerate([["rate", "price", "rate"], ["price"], ["change", "rate"]])]
    by_kind = accuracy_by_tag(kinds, {"s0": True, "s1": False, "s2": False})["step_kinds"]
    assert by_kind == {"rate": {"accuracy": 0.5, "n": 2}, "price": {"accuracy": 0.5, "n": 2},  # membership, once each
                       "change": {"accuracy": 0.0, "n": 1}}
    assert counts_by_tag([(kinds[0], "hard")], ("easy", "hard"))["step_kinds"]["rate"] == {"easy": 0, "hard": 1}
    kid = Problem(id="k", question="", parent_id="p1")
    own = Problem(id="o", question="", parent_id="p1", tags={"kind": "compare"})
    inherit_tags([kid, own], {p.id: p for p in ps})
    assert kid.tags == ps[1].tags and kid.tags is not ps[1].tags and own.tags == {"kind": "compare"}


def _tag_synthetic(monkeypatch):
    """Stand-in for the synthetic loader's own tags: its step count and a parity kind."""
    load = datasets.load

    def tagged(name, **kw):
        loaded = load(name, **kw)
        for p in loaded.problems:
            n = len(parse_question(p.question).steps)
            p.tags = {"steps": n, "kind": "odd" if n % 2 else "even"}
        return loaded

    monkeypatch.setattr(pipeline.datasets, "load", tagged)


def test_tiny_run_reports_by_tag(tmp_path, monkeypatch):
    _tag_synthetic(monkeypatch)
    summary, _ = run_pipeline(tmp_path, [*TINY, "rounds=1"])
    r0 = summary["rounds"][0]
    for name, e in r0["eval"].items():  # synthetic_k holds k-step problems
        k = int(name.rsplit("_", 1)[1])
        assert e["by_tag"]["steps"] == {str(k): {"accuracy": e["accuracy"], "n": e["n"]}}
    pool = r0["pool_by_tag"]["kind"]
    assert sum(c["easy"] for c in pool.values()) == r0["easy"]
    assert sum(c["hard"] for c in pool.values()) == r0["hard"]
    asked = r0["requests_by_tag"]["kind"]  # each request counted once, by its parent's kind
    assert sum(c["harder"] + c["similar"] for c in asked.values()) == r0["teacher"]["requests"]
    assert {k: c["similar"] for k, c in asked.items()} == {k: c["hard"] for k, c in pool.items()}  # fdd: hard → similar
    added = r0["added_by_tag"]["steps"]
    assert sum(c["harder"] + c["similar"] for c in added.values()) == r0["added"]
    assert {o: sum(c[o] for c in added.values()) for o in ("harder", "similar")} == {
        o: r0["added_by"].get(o, 0) for o in ("harder", "similar")}
    kids = read_problems(tmp_path / "rounds" / "round_0" / "added.jsonl")
    assert kids and all(p.tags for p in kids)  # the teacher's own tags, or the parent's
    md = (tmp_path / "report.md").read_text()
    assert "### synthetic_3 by steps" in md and "### Feedback pool by tag" in md and "kind=odd" in md
    assert "### Verified additions by tag" in md and "### Requests by the parent's tag" in md
    assert "### The feedback chain at round 0" in md


def test_a_skewed_testbed_reports_its_rare_kinds(tmp_path):
    """dataset=synthetic_skewed: every link of the chain is also counted by rare_kind (yes: the problem
    holds a kind the training set made rare), evaluation sets included."""
    probs = [Problem(id="a", question="", tags={"step_kinds": ["rate", "change"]}),
             Problem(id="b", question="", tags={"step_kinds": ["change"]}), Problem(id="c", question="")]
    mark_rare(probs, {"rate", "group"})
    assert [p.tags.get("rare_kind") for p in probs] == ["yes", "no", None]
    summary, _ = run_pipeline(tmp_path, [*TINY, "rounds=1", "dataset=synthetic_skewed", "dataset.n=200"])
    r0 = summary["rounds"][0]
    for block in ("pool_by_tag", "requests_by_tag", "added_by_tag"):
        assert set(r0[block]["rare_kind"]) <= {"yes", "no"} and r0[block]["rare_kind"], block
    pool = r0["pool_by_tag"]["rare_kind"]
    assert sum(c["easy"] + c["hard"] for c in pool.values()) == r0["easy"] + r0["hard"]
    six = r0["eval"]["synthetic_6"]["by_tag"]["rare_kind"]  # six uniform steps: nearly all hold a rare kind
    assert six["yes"]["n"] > six.get("no", {"n": 0})["n"]
