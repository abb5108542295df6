"""Feedback: plan the teacher's work per arm from the student's verdicts on the pool (verification of
what the teacher writes is fdd/verify/).

Arms (`feedback.name`):
- `fdd`: harder variations of each easy problem, similar problems for each hard one.
- `random`: the same number of harder and similar requests as fdd, but which problems get which is
  a seeded shuffle, not the student's verdict (same teacher budget, no feedback).
- `easy_only` / `hard_only`: one branch of fdd.  `none`: no augmentation.
One request is one teacher call for one parent problem. With `feedback.verdict=pass_rate` a problem
may also be borderline; fdd/rounds/verdicts.py says which branches it goes to.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from fdd.problems import Problem
from fdd.rounds.verdicts import branches

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
