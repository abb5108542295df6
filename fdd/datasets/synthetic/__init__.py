"""The synthetic family: multi-step word problems of several GSM8K-like kinds, generated and parsed back.

A problem is a story (fdd.datasets.synthetic.spec): a person's start quantity, then `steps`
operations, each of one kind (kinds.py: change, compare, rate, price, fraction, percent, group,
convert), then a question. Kinds mix freely within a problem, each with several sentences
(kinds.TEMPLATES); every intermediate value is a positive integer. Because every sentence comes
from a template, a question parses back into its Spec (text.py); the symbolic teacher uses that
to write rationales (rationale.py), harder variations (`extend`) and similar problems (`similar`).

The training mix draws each step's kind uniformly, or with `kind_weights` (a testbed with a
weakness put there on purpose: some kinds rare in training, the evaluation sets unchanged), step
counts spread evenly over [min_steps, max_steps]. Training sets draw from one stream and held-out
evaluation sets from another, so they are disjoint by construction (exact collisions are still
removed by decontamination). Each Problem carries `tags` = {"kind": first step's kind, "steps": n,
"step_kinds": every step's kind}.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from fdd.datasets import Loaded, register
from fdd.datasets.synthetic.kinds import KINDS, MAX_VALUE, TEMPLATES
from fdd.datasets.synthetic.rationale import RENDER, render_cot, render_equations, render_program
from fdd.datasets.synthetic.spec import Spec, Step, draw, extend, focused, random_spec, similar, tags
from fdd.datasets.synthetic.text import parse_question, render_question
from fdd.problems import Problem

__all__ = ["KINDS", "MAX_VALUE", "RENDER", "TEMPLATES", "Spec", "Step", "draw", "extend", "focused", "generate", "load",
           "make_problem", "parse_question", "random_spec", "render_cot", "render_equations", "render_program",
           "render_question", "rare_kinds", "similar", "tags", "weights_of"]


def make_problem(spec: Spec, pid: str, source: str = "synthetic", **kw) -> Problem:
    return Problem(id=pid, question=render_question(spec), answer=float(spec.answer), source=source,
                   tags=tags(spec), **kw)


def generate(n: int, min_steps: int, max_steps: int, seed: int, stream: str,
             kind_weights: Mapping[str, float] | None = None) -> list[Problem]:
    """`n` problems with step counts spread evenly over [min_steps, max_steps], each step's kind
    uniform or drawn with `kind_weights` (kind -> weight; a kind left out weighs 1)."""
    rng = random.Random(f"{stream}:{seed}")
    span = max_steps - min_steps + 1
    weights = None if kind_weights is None else weights_of(kind_weights)
    if weights is not None and len(set(weights)) == 1:  # equal weights draw exactly as uniform ones
        weights = None
    return [make_problem(random_spec(rng, min_steps + i % span, weights), f"{stream}-{seed}-{i:05d}", source=stream)
            for i in range(n)]


def weights_of(kind_weights: Mapping[str, float]) -> list[float]:
    """One weight per kind, in the order of KINDS; a clear error for an unknown kind or a bad weight."""
    if not isinstance(kind_weights, Mapping):
        raise ValueError(f"synthetic: kind_weights must map kinds to weights, got {kind_weights!r}")
    unknown = sorted(set(kind_weights) - set(KINDS))
    if unknown:
        raise ValueError(f"synthetic: unknown kind(s) {', '.join(map(repr, unknown))} in kind_weights "
                         f"(kinds: {', '.join(KINDS)})")
    for kind, w in kind_weights.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or not 0 <= w < float("inf"):
            raise ValueError(f"synthetic: kind_weights.{kind} must be a number >= 0, got {w!r}")
    weights = [float(kind_weights.get(k, 1.0)) for k in KINDS]
    if not any(weights):
        raise ValueError("synthetic: kind_weights gives every kind weight 0")
    return weights


def rare_kinds(kind_weights: Mapping[str, float] | None) -> set[str]:
    """The kinds `kind_weights` makes rarer than the most common one (none when uniform)."""
    if not kind_weights:
        return set()
    weights = dict(zip(KINDS, weights_of(kind_weights)))
    return {k for k, w in weights.items() if w < max(weights.values())}


@register("synthetic")
def load(split: str = "train", n: int = 1000, min_steps: int = 1, max_steps: int = 3, steps: int | None = None,
         seed: int = 0, kind_weights: Mapping[str, float] | None = None, **_) -> Loaded:
    """`split=train` draws from the training stream; any other split from the held-out stream.

    `steps=k` fixes the step count (evaluation sets by length). `kind_weights` (kind -> weight,
    missing kinds 1; None: uniform) skews every step's kind: `dataset.kind_weights` sets it for the
    training set only, as the evaluation sets are configured apart (conf/eval/)."""
    if steps is not None:
        min_steps = max_steps = steps
    if not 1 <= min_steps <= max_steps:
        raise ValueError(f"synthetic: need 1 <= min_steps <= max_steps, got {min_steps}..{max_steps}")
    stream = "synthetic" if split == "train" else f"synthetic_{split}_{min_steps}_{max_steps}"
    return Loaded("synthetic", generate(n, min_steps, max_steps, seed, stream, kind_weights))
