"""The synthetic family (kinds, sentences, parse-back, exact values) and the symbolic teacher's
faithful `similar` (same kinds and operations) and `harder` (same story, more steps)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from fdd import verify
from fdd.datasets import load
from fdd.datasets import synthetic as fam
from fdd.rationales import get_format
from fdd.teachers.symbolic import SymbolicTeacher


@pytest.fixture(scope="module")
def specs() -> list[fam.Spec]:
    rng = random.Random(0)
    return [fam.random_spec(rng, k) for k in range(1, 7) for _ in range(250)]


def test_questions_parse_back_exactly_and_every_sentence_is_used(specs):
    for spec in specs:
        assert fam.parse_question(fam.render_question(spec)) == spec
    used = {s.template for spec in specs for s in spec.steps}
    assert used == set(range(len(fam.TEMPLATES)))  # no dead sentence template
    assert {(s.kind, s.op) for spec in specs for s in spec.steps} >= {
        ("compare", "div"), ("price", "rsub"), ("percent", "up"), ("group", "sum"), ("convert", "mul"),
        ("convert", "div"), ("rate", "div"), ("fraction", "off")}


def test_every_value_is_a_positive_integer_within_bounds(specs):
    for spec in specs:
        values = spec.values()
        assert all(isinstance(v, int) and 1 <= v <= fam.MAX_VALUE for v in values), (spec, values)
        for s, v in zip(spec.steps, values):  # divisions are exact: no value was floored
            if s.op == "div":
                assert v % s.args[0] == 0
            if s.op in ("of", "off", "up"):
                assert v * s.args[0] % s.args[1] == 0


def test_text_outside_the_family_does_not_parse():
    assert fam.parse_question("Ava has 3 apples. Ava flies to the moon. How many apples are left?") is None
    assert fam.parse_question("What is 2 + 2?") is None
    assert fam.parse_question("Ava has 3 apples. Ava keeps 1/0 of the apples. How many apples does Ava have now?") \
        is None
    # a comparison names the person the question must then ask about
    assert fam.parse_question("Ava has 3 apples. Ben has 2 more apples than Ava. "
                              "How many apples does Ava have now?") is None
    spec = fam.parse_question("Ava has 3 apples. Ben has 2 more apples than Ava. How many apples does Ben have now?")
    assert spec.answer == 5 and spec.signature == (("compare", "add"),)
    # the reverse reading: Ava has 4 times as many as Ben, so Ben has a quarter of Ava's
    spec = fam.parse_question("Ava has 12 dollars. Ava has 4 times as many dollars as Ben. "
                              "How many dollars does Ben have now?")
    assert spec.answer == 3 and spec.signature == (("compare", "div"),)


def test_unit_conversions_use_constants_the_question_never_states():
    spec = fam.parse_question("Kai works for 3 hours. Kai counts the working time in minutes. Kai earns 2 dollars per "
                              "minute. How many dollars does Kai have now?")
    assert spec.signature == (("convert", "mul"), ("rate", "mul")) and spec.answer == 360
    assert fam.render_program(spec) == "hours = 3\nminutes = hours * 60\ndollars = minutes * 2\nans = dollars"


def test_training_mix_is_uniform_over_kinds_and_steps():
    problems = load("synthetic", n=2000, seed=0).problems
    steps = Counter(p.tags["steps"] for p in problems)
    assert steps == {1: 667, 2: 667, 3: 666}
    first = Counter(p.tags["kind"] for p in problems)
    every = Counter(s.kind for p in problems for s in fam.parse_question(p.question).steps)
    assert set(first) == set(every) == set(fam.KINDS) and len(fam.KINDS) >= 6
    for counts in (first, every):
        expected = sum(counts.values()) / len(fam.KINDS)
        assert all(abs(c - expected) < 0.2 * expected for c in counts.values()), counts


RARE = ("compare", "convert", "group", "rate")


def test_kind_weights_make_kinds_rare_in_training_only():
    """`dataset.kind_weights` weighs every step's kind of the training set (kinds left out weigh 1);
    the preset synthetic_skewed makes four kinds rare at 1/20, and the evaluation sets stay uniform."""
    from omegaconf import OmegaConf

    from tests.conftest import compose_cfg

    cfg = compose_cfg(["dataset=synthetic_skewed"])
    weights = OmegaConf.to_container(cfg.dataset.kind_weights)
    assert weights == dict.fromkeys(RARE, 0.05)
    assert OmegaConf.to_container(compose_cfg().dataset)["kind_weights"] is None
    assert all("kind_weights" not in s for s in OmegaConf.to_container(cfg.eval.sets).values())
    problems = load("synthetic", n=2000, seed=0, kind_weights=weights).problems
    every = Counter(k for p in problems for k in p.tags["step_kinds"])
    common = sum(every[k] for k in fam.KINDS if k not in RARE) / 4
    for k in RARE:  # 1/20 of a common kind's share, give or take sampling noise and re-drawn stories
        assert 0.02 * common < every[k] < 0.09 * common, every
    assert Counter(p.tags["steps"] for p in problems) == {1: 667, 2: 667, 3: 666}
    # uniform stays uniform: no weights, equal weights and an empty mapping draw the same problems
    plain = [p.question for p in load("synthetic", n=300, seed=3).problems]
    for same in ({}, dict.fromkeys(fam.KINDS, 2.0)):
        assert [p.question for p in load("synthetic", n=300, seed=3, kind_weights=same).problems] == plain
    only_change = load("synthetic", n=50, seed=3, kind_weights={k: 0 for k in fam.KINDS if k != "change"}).problems
    assert {k for p in only_change for k in p.tags["step_kinds"]} == {"change"}


@pytest.mark.parametrize("weights, message", [
    ({"rates": 0.05}, "unknown kind.*'rates'.*kinds: change"),
    ({"rate": -1}, "kind_weights.rate must be a number >= 0"),
    ({"rate": "low"}, "kind_weights.rate must be a number >= 0"),
    (dict.fromkeys(fam.KINDS, 0), "every kind weight 0"),
    ([0.05], "must map kinds to weights"),
])
def test_bad_kind_weights_fail_with_one_line(weights, message):
    with pytest.raises(ValueError, match=message) as e:
        load("synthetic", n=10, kind_weights=weights)
    assert "\n" not in str(e.value) and str(e.value).startswith("synthetic: ")


def test_tags_name_the_first_kind_the_step_count_and_every_kind():
    for p in load("synthetic", split="test", steps=4, n=30, seed=1).problems:
        spec = fam.parse_question(p.question)
        assert p.tags == {"kind": spec.steps[0].kind, "steps": 4, "step_kinds": [s.kind for s in spec.steps]}
        assert p.to_dict()["tags"] == p.tags


def test_training_and_evaluation_streams_are_disjoint():
    train = {p.question for p in load("synthetic", n=2000, seed=0).problems}
    for k in range(1, 4):
        test = {p.question for p in load("synthetic", split="test", steps=k, n=100, seed=1).problems}
        assert len(test) > 90 and len(train & test) <= 2  # short stories can coincide by chance


@pytest.mark.parametrize("fmt", ["pot", "cot", "eot"])
def test_rationales_in_every_format_verify_to_the_true_answer(fmt):
    problems = load("synthetic", split="test", n=60 if fmt == "eot" else 300, min_steps=1, max_steps=6,
                    seed=2).problems
    teacher = SymbolicTeacher(error_rate=0.0, rationale=fmt)
    checked = verify.annotate(problems, teacher.annotate(problems), get_format(fmt))
    assert len(checked.kept) == len(problems), dict(checked.rejected)


def test_error_rate_makes_wrong_cot_rationales_too():
    problems = load("synthetic", n=300, seed=4).problems
    teacher = SymbolicTeacher(error_rate=0.5, seed=1, rationale="cot")
    checked = verify.annotate(problems, teacher.annotate(problems), get_format("cot"))
    assert 75 < checked.rejected["wrong"] < 225


def test_similar_keeps_kinds_and_operations_with_fresh_surface():
    parents = load("synthetic", n=300, min_steps=1, max_steps=6, seed=6).problems
    teacher = SymbolicTeacher(error_rate=0.0)
    kids = teacher.similar(parents, 2, 0)
    assert all(len(ks) == 2 for ks in kids)
    for parent, ks in zip(parents, kids):
        p = fam.parse_question(parent.question)
        for k in ks:
            s = fam.parse_question(k.question)
            assert s.signature == p.signature  # same steps, same kinds, same operations, same order
            assert s.name != p.name and (not p.obj or s.obj != p.obj)
            assert k.question != parent.question and k.tags == parent.tags
            assert k.origin == "similar" and k.parent_id == parent.id
    fresh_numbers = sum(fam.parse_question(k.question).values() != fam.parse_question(parent.question).values()
                        for parent, ks in zip(parents, kids) for k in ks)
    assert fresh_numbers > 0.9 * 600
    checked = verify.verify([k for ks in kids for k in ks], get_format("pot"), [p.question for p in parents])
    for k in checked.kept:
        assert k.answer == fam.parse_question(k.question).answer


def test_harder_keeps_the_story_and_adds_steps():
    parents = load("synthetic", n=300, min_steps=1, max_steps=4, seed=7).problems
    teacher = SymbolicTeacher(error_rate=0.0, max_extra_steps=2)
    kids = teacher.harder(parents, 2, 1)
    added = Counter()
    for parent, ks in zip(parents, kids):
        p = fam.parse_question(parent.question)
        story = parent.question.rsplit(". ", 1)[0]  # every sentence but the question
        for k in ks:
            s = fam.parse_question(k.question)
            assert (s.name, s.start, s.unit, s.intro) == (p.name, p.start, p.unit, p.intro)
            assert not p.obj or s.obj == p.obj
            assert s.steps[:len(p.steps)] == p.steps
            assert k.question.startswith(story)
            added[len(s.steps) - len(p.steps)] += 1
            assert k.tags == {"kind": parent.tags["kind"], "steps": len(s.steps),
                              "step_kinds": [*parent.tags["step_kinds"], *(x.kind for x in s.steps[len(p.steps):])]}
    assert set(added) == {1, 2}


def test_variations_are_pure_functions_of_seed_round_and_parent():
    parents = load("synthetic", n=40, seed=8).problems
    a = SymbolicTeacher(seed=3, error_rate=0.2)
    b = SymbolicTeacher(seed=3, error_rate=0.2)
    for method in ("harder", "similar"):
        first = getattr(a, method)(parents, 2, 1)
        again = getattr(b, method)(list(reversed(parents)), 2, 1)[::-1]  # order of the batch does not matter
        assert [[k.to_dict() for k in ks] for ks in first] == [[k.to_dict() for k in ks] for ks in again]
        other = getattr(a, method)(parents, 2, 2)
        assert [k.question for ks in first for k in ks] != [k.question for ks in other for k in ks]
    assert a.annotate(parents) == b.annotate(parents)


def test_bad_teacher_settings_are_refused():
    with pytest.raises(ValueError, match="rationale"):
        SymbolicTeacher(rationale="latex")
    with pytest.raises(ValueError, match="max_extra_steps"):
        SymbolicTeacher(max_extra_steps=0)
    with pytest.raises(ValueError, match="min_steps"):
        load("synthetic", min_steps=3, max_steps=2)
