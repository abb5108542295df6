"""The synthetic family: multi-step word problems of several GSM8K-like kinds, generated and parsed back.

A problem is a story (fdd.datasets.synthetic.spec): a person's start quantity, then `steps`
operations, each of one kind (kinds.py: change, compare, rate, price, fraction, percent, group,
convert), then a question. Kinds mix freely within a problem, each with several sentences
(kinds.TEMPLATES); every intermediate value is a positive integer. Because every sentence comes
from a template, a question parses back into its Spec (text.py); the symbolic teacher uses that
to write rationales (rationale.py), harder variations (`extend`) and similar problems (`similar`).

The training mix draws each step's kind uniformly, step counts spread evenly over
[min_steps, max_steps]. Training sets draw from one stream and held-out evaluation sets from
another, so they are disjoint by construction (exact collisions are still removed by
decontamination). Each Problem carries `tags` = {"kind": first step's kind, "steps": n}.
"""

from __future__ import annotations

import random

from fdd.datasets import Loaded, register
from fdd.datasets.synthetic.kinds import KINDS, MAX_VALUE, TEMPLATES
from fdd.datasets.synthetic.rationale import RENDER, render_cot, render_equations, render_program
from fdd.datasets.synthetic.spec import Spec, Step, draw, extend, focused, random_spec, similar, tags
from fdd.datasets.synthetic.text import parse_question, render_question
from fdd.problems import Problem

__all__ = ["KINDS", "MAX_VALUE", "RENDER", "TEMPLATES", "Spec", "Step", "draw", "extend", "focused", "generate", "load",
           "make_problem", "parse_question", "random_spec", "render_cot", "render_equations", "render_program",
           "render_question", "similar", "tags"]


def make_problem(spec: Spec, pid: str, source: str = "synthetic", **kw) -> Problem:
    return Problem(id=pid, question=render_question(spec), answer=float(spec.answer), source=source,
                   tags=tags(spec), **kw)


def generate(n: int, min_steps: int, max_steps: int, seed: int, stream: str) -> list[Problem]:
    """`n` problems with step counts spread evenly over [min_steps, max_steps], kinds uniform."""
    rng = random.Random(f"{stream}:{seed}")
    span = max_steps - min_steps + 1
    return [make_problem(random_spec(rng, min_steps + i % span), f"{stream}-{seed}-{i:05d}", source=stream)
            for i in range(n)]


@register("synthetic")
def load(split: str = "train", n: int = 1000, min_steps: int = 1, max_steps: int = 3, steps: int | None = None,
         seed: int = 0, **_) -> Loaded:
    """`split=train` draws from the training stream; any other split from the held-out stream.

    `steps=k` fixes the step count (evaluation sets by length)."""
    if steps is not None:
        min_steps = max_steps = steps
    if not 1 <= min_steps <= max_steps:
        raise ValueError(f"synthetic: need 1 <= min_steps <= max_steps, got {min_steps}..{max_steps}")
    stream = "synthetic" if split == "train" else f"synthetic_{split}_{min_steps}_{max_steps}"
    return Loaded("synthetic", generate(n, min_steps, max_steps, seed, stream))
