"""Feedback: split the pool into easy / hard, plan the teacher's work per arm, verify what it writes.

Arms (`feedback.name`):
- `fdd`: harder variations of each easy problem, similar problems for each hard one.
- `random`: the same number of harder and similar requests as fdd, but which problems get which is
  a seeded shuffle, not the student's verdict (same teacher budget, no feedback).
- `easy_only` / `hard_only`: one branch of fdd.  `none`: no augmentation.
One request is one teacher call for one parent problem. With `feedback.verdict=pass_rate` a problem
may also be borderline; fdd/rounds/verdicts.py says which branches it goes to.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fdd.answers import answers_match
from fdd.problems import Problem
from fdd.rationales import RationaleFormat
from fdd.rounds.verdicts import branches
from fdd.teachers.base import truncated
from fdd.teachers.checks import DEFAULT_CHECKS, rejection

ARMS = ("fdd", "random", "easy_only", "hard_only", "none")
POOLS = ("seed", "all", "frontier")


@dataclass
class Plan:
    harder: list[Problem] = field(default_factory=list)
    similar: list[Problem] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.harder) + len(self.similar)


def plan(arm: str, easy: Sequence[Problem], hard: Sequence[Problem], rng: random.Random,
         borderline: Sequence[Problem] = (), borderline_to: str = "both") -> Plan:
    """Which parents get a harder variation and which a similar problem.

    `random` sends as many harder and similar requests as fdd would, to parents drawn by a seeded
    shuffle of the whole pool: the first n_harder get a harder variation, the last n_similar a
    similar problem. With greedy verdicts the two add up to the pool (a random partition); with
    borderline problems sent both ways they overlap by as many problems as fdd sends both ways."""
    to_harder, to_similar = branches(borderline_to)
    harder = [*easy, *(borderline if to_harder else ())]
    similar = [*hard, *(borderline if to_similar else ())]
    if arm == "fdd":
        return Plan(harder, similar)
    if arm == "random":
        pool = [*easy, *hard, *borderline]
        rng.shuffle(pool)
        return Plan(pool[:len(harder)], pool[len(pool) - len(similar):])
    if arm == "easy_only":
        return Plan(harder, [])
    if arm == "hard_only":
        return Plan([], similar)
    if arm == "none":
        return Plan()
    raise ValueError(f"unknown feedback arm {arm!r} (known: {', '.join(ARMS)})")


def normalise_question(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


@dataclass
class Verified:
    kept: list[Problem]
    rejected: Counter  # reason -> count


def verify(candidates: Sequence[Problem], fmt: RationaleFormat, known: Iterable[str], decontaminator=None,
           parents: Mapping[str, Problem] | None = None, resolver=None,
           checks: Sequence[str] = DEFAULT_CHECKS) -> Verified:
    """Keep new problems whose rationale runs to a finite number (and agrees with a preset answer),
    that repeat no known question, leak no evaluation question and pass the static checks
    (fdd/teachers/checks.py); then, with a `resolver` (fdd/teachers/agreement.py, `teacher.verify=resolve`), only
    those that independent solutions agree with. The agreed (else executed) result is the answer."""
    seen = {normalise_question(q) for q in known}
    results = fmt.answers([c.rationale or "" for c in candidates])
    kept, rejected = [], Counter()
    for c, r in zip(candidates, results):
        if truncated(c.rationale):  # the last problem of a reply cut at the token limit: maybe incomplete
            rejected["truncated"] += 1
            continue
        if r.value is None or not math.isfinite(r.value):
            rejected["invalid"] += 1
            continue
        if c.answer is not None and not answers_match(r.value, c.answer):
            rejected["disagree"] += 1
            continue
        key = normalise_question(c.question)
        if key in seen:
            rejected["duplicate"] += 1
            continue
        if decontaminator is not None and decontaminator.check(c.question):
            rejected["contaminated"] += 1
            continue
        parent = (parents or {}).get(c.parent_id) if c.parent_id else None
        reason = rejection(c.question, c.rationale or "", r.value, parent.question if parent else None,
                           fmt.name, checks, parent.answer if parent else None)
        if reason is not None:
            rejected[reason] += 1
            continue
        seen.add(key)
        c.answer = float(r.value)
        kept.append(c)
    if resolver is not None and kept:
        agreed = []
        for c, res in zip(kept, resolver(kept)):
            if res.reason is not None:
                rejected[res.reason] += 1
                continue
            c.answer, c.rationale = res.answer, res.rationale
            agreed.append(c)
        kept = agreed
    return Verified(kept, rejected)


def annotate(problems: Sequence[Problem], candidates: Sequence[Sequence[str]], fmt: RationaleFormat,
             decontaminator=None) -> Verified:
    """Round 0: keep each seed problem with the first teacher rationale that reproduces its gold answer.
    Rejected: `contaminated`, `no_rationale`, `wrong`, or `truncated` (no candidate was right and one
    came from a reply cut at the teacher's token limit: raising it may help)."""
    flat = [t for ts in candidates for t in ts]
    results = fmt.answers(flat)
    kept, rejected, k = [], Counter(), 0
    for p, ts in zip(problems, candidates):
        got = results[k:k + len(ts)]
        k += len(ts)
        if decontaminator is not None and decontaminator.check(p.question):
            rejected["contaminated"] += 1
            continue
        good = next((t for t, r in zip(ts, got) if r.value is not None and p.answer is not None
                     and answers_match(r.value, p.answer)), None)
        if good is None:
            rejected["truncated" if any(map(truncated, ts)) else "wrong" if ts else "no_rationale"] += 1
            continue
        p.rationale = good
        kept.append(p)
    return Verified(kept, rejected)
