"""Synthetic questions read as English: every step says what happens to whose quantity, and the
question names whose quantity it asks for, in words that fit how that person holds it.

The sample: every kind at every step count 1..6 from the training stream and the held-out stream,
plus the symbolic teacher's harder variations, similar problems and focused similar problems
(`feedback.show_attempt`). The rules, each checked by `faults` on every question of it:

1. No known meaningless phrasing (BLACKLIST): an event repeated without saying which ("The same
   happens on each of 6 days"), time held as a possession ("Wes has 3 days", "starts with 420
   minutes"), time spent on lunch, a question that does not say whose quantity ("How many days are
   there in the end?"), time asked for as a possession ("How many hours does Owen end up with?").
2. Time is worked, never had: no sentence with a time unit uses a verb of having (has, have, owns,
   saves, starts with, keeps, end up with).
3. Every step names the quantity it changes: its sentence names the person whose quantity it is
   (before or after the step: a comparison names both) and the quantity, by its unit before or
   after the step (singular or plural), or, for money someone pays, "price" or "bill".
4. The question names whose quantity it asks for: "How many UNIT does NAME VERB?", NAME the person
   the story follows at the end, UNIT the final unit, VERB one that fits it: have / end up with for
   objects and money someone has, pay / spend for money someone pays, work for time.
5. Money paid is not money had, and the reverse: the last sentence about money before a question
   asking what someone has is not one about paying (unless it gives the change back), and a
   question asking what someone pays follows a sentence about paying.
6. Numbers read well: no "1" before a plural noun, no "a" before a number read with a vowel ("a 80%").

`test_the_rules_catch_meaningless_questions` shows each rule failing on a question that breaks it.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import replace

import pytest

from fdd.datasets import load
from fdd.datasets import synthetic as fam
from fdd.datasets.synthetic.kinds import singular
from fdd.problems import Problem
from fdd.teachers.base import Attempt
from fdd.teachers.symbolic import SymbolicTeacher

TIME = r"(?:minutes?|hours?|days?|weeks?)"
BLACKLIST = {
    "an event repeated without saying which": r"\bThe same happens\b",
    "time held as a possession": rf"\b(?:has|have|owns|saves|starts with)(?: only)? \d+ {TIME}\b",
    "time spent on lunch": rf"\bspends \d+ {TIME} on\b",
    "a question that does not say whose": r"\bHow many \w+ are there\b",
    "time asked for as a possession": rf"\bHow many {TIME} does \w+ (?:have|end up with)\b",
}
HAVING = re.compile(r"\b(?:has|have|owns|saves|starts with|keeps|end up with)\b")
QUESTION = re.compile(r"^(?:How|For how) many ([a-z]+) does ([A-Z][a-z]+) "
                      r"(have now|end up with|have in the end|pay|pay in all|spend in all|work|work in all)\?$")
PAYING = re.compile(r"\b(?:pays|costs|bill|price|coupon|fees?|tax|snack|drink|comes to|ticket)\b")
MONEY = re.compile(r"\b(?:dollars?|cents?|bill|price)\b")
ONE_PLURAL = re.compile(r"(?<![\d/])\b1 (?:more |fewer )?[a-z]+s\b")
A_VOWEL_NUMBER = re.compile(r"\ba (?:8|11|18)\d*\b")


def _sentences(question: str) -> list[str]:
    return [s.strip() for s in re.findall(r"[^.?]+[.?]", question)]


def _says(sentence: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", sentence) is not None


def faults(question: str, spec: fam.Spec | None = None) -> list[str]:
    """Every rule (module docstring) `question` breaks; `spec` is its structure (parsed if not given)."""
    out = [f"{why}: {question}" for why, rx in BLACKLIST.items() if re.search(rx, question)]
    sentences = _sentences(question)
    out += [f"time is had: {s}" for s in sentences if re.search(rf"\b{TIME}\b", s) and HAVING.search(s)]
    if ONE_PLURAL.search(question) or A_VOWEL_NUMBER.search(question):
        out.append(f"a number does not read well: {question}")
    spec = spec or fam.parse_question(question)
    if spec is None:
        return [*out, f"not a question of the family: {question}"]
    units, subjects, classes = spec.units(), spec.subjects(), spec.classes()
    steps = sentences[1:-1]
    if len(steps) != len(spec.steps):
        return [*out, f"{len(steps)} step sentences for {len(spec.steps)} steps: {question}"]
    for i, s in enumerate(steps):
        if not (_says(s, subjects[i]) or _says(s, subjects[i + 1])):
            out.append(f"a step does not say whose quantity it changes: {s}")
        names = {units[i], units[i + 1], singular(units[i]), singular(units[i + 1])}
        if "cost" in classes[i:i + 2]:
            names |= {"price", "bill"}
        if not any(_says(s, w) for w in names):
            out.append(f"a step does not name the quantity it changes: {s}")
    m = QUESTION.match(sentences[-1])
    if m is None:
        return [*out, f"the question does not name whose quantity: {sentences[-1]}"]
    unit, name, verb = m.groups()
    if (unit, name) != (units[-1], subjects[-1]):
        out.append(f"the question asks for {name}'s {unit}, the story ends with {subjects[-1]}'s {units[-1]}: "
                   f"{question}")
    timed = re.fullmatch(TIME, unit) is not None
    if timed != verb.startswith("work"):
        out.append(f"the question's verb does not fit {unit}: {sentences[-1]}")
    about_money = [s for s in sentences[:-1] if MONEY.search(s) or PAYING.search(s)]
    if unit in ("dollars", "cents") and about_money:
        paying = bool(PAYING.search(about_money[-1])) and not _says(about_money[-1], "change")
        if paying != verb.startswith(("pay", "spend")):
            out.append(f"the question asks what {name} {verb.split()[0]}s after: {about_money[-1]}")
    return out


@pytest.fixture(scope="module")
def sample() -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for k in range(1, 7):
        out[f"train_{k}"] = load("synthetic", split="train", steps=k, n=120, seed=0).problems
        out[f"test_{k}"] = load("synthetic", split="test", steps=k, n=120, seed=1).problems
    parents = load("synthetic", split="test", min_steps=1, max_steps=5, n=240, seed=5).problems
    teacher = SymbolicTeacher(error_rate=0.0, max_extra_steps=2, seed=4)
    out["harder"] = [p for ps in teacher.harder(parents, 1, 0) for p in ps]
    out["similar"] = [p for ps in teacher.similar(parents, 1, 0) for p in ps]
    rng = random.Random(0)
    attempts = {p.id: Attempt("x = 1", False, "wrong_value", pos, rng.choice(fam.KINDS), None, len(p.tags["step_kinds"]))
                for p in parents for pos in [rng.randrange(1, len(p.tags["step_kinds"]) + 1)]}
    out["focused"] = [p for ps in teacher.similar(parents, 1, 0, attempts=attempts) for p in ps]
    return out


def test_the_sample_has_every_kind_at_every_step_count_and_every_sentence(sample):
    for k in range(1, 7):
        for stream in ("train", "test"):
            kinds = {x for p in sample[f"{stream}_{k}"] for x in p.tags["step_kinds"]}
            assert kinds == set(fam.KINDS), (stream, k, kinds)
    by_steps = defaultdict(set)
    for source in ("harder", "similar", "focused"):
        for p in sample[source]:
            by_steps[source].add(p.tags["steps"])
    assert by_steps["harder"] >= {2, 3, 4, 5, 6, 7} and by_steps["similar"] >= {1, 2, 3, 4, 5}
    used = {s.template for ps in sample.values() for p in ps for s in fam.parse_question(p.question).steps}
    assert used == set(range(len(fam.TEMPLATES)))


def test_every_question_reads_as_english(sample):
    found = [f for ps in sample.values() for p in ps for f in faults(p.question)]
    assert not found, "\n".join(found[:20])


def test_the_rules_catch_meaningless_questions():
    # the sentences the family used to write (issue 28)
    for bad in ("Liam has 8 marbles. The same happens on each of 6 days. How many marbles does Liam end up with?",
                "Wes has 3 days. Wes spends 2 days on lunch. Nina has 5 times as many days as Wes. "
                "How many days are there in the end?",
                "Owen packs 6 of the keys per hour. How many hours does Owen end up with?"):
        assert faults(bad), bad
    # rule by rule, on questions of the family with one thing broken
    rng = random.Random(3)
    spec = fam.draw(rng, [("price", "mul")])
    paid = replace(spec, steps=(replace(spec.steps[0], template=fam.TEMPLATES.index(next(
        t for t in fam.TEMPLATES if t.text.startswith("{name} pays {n} dollars for each"))),),))
    text = fam.render_question(paid)
    assert fam.parse_question(text) == paid and not faults(text)
    assert any("asks what" in f for f in faults(re.sub(r"How many .*\?$", f"How many dollars does {paid.name} "
                                                                              "have now?", text), paid))
    assert any("asks for Zed's" in f for f in faults(text.replace(f"How many dollars does {paid.name}",
                                                                  "How many dollars does Zed"), paid))
    assert any("does not name whose" in f for f in faults(re.sub(r"How many .*\?$", "How much is left?", text), paid))
    anonymous = text.replace(f"{paid.name} pays", "Someone pays")
    assert any("does not say whose" in f for f in faults(anonymous, paid))
    assert any("does not name the quantity" in f for f in faults(text.replace(f"dollars for each of the {paid.unit}", "for each"),
                                                                paid))
    assert any("time is had" in f for f in faults("Kai keeps 3 hours of it. How many hours does Kai work?", paid))
    assert any("number" in f for f in faults("Kai gets 1 more apples. Kai gets a 80% discount.", paid))
