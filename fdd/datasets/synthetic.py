"""The synthetic family: multi-step arithmetic word problems, generated and parsed back.

A problem is a story about one person's stock of one kind of object: a start amount, then
`steps` operations (add, subtract, multiply, divide — every intermediate value a positive
integer), then a question. Each operation has several surface templates. Because every sentence
comes from a template, a question can be parsed back into its `Spec`; the symbolic teacher uses
that to write harder variations (more steps on the same story) and similar problems (same step
count, fresh names, numbers and operations) of any problem in the family.

Training sets draw seeds from one stream and held-out evaluation sets from another, so they are
disjoint by construction (exact collisions are still removed by decontamination).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace

from fdd.datasets import Loaded, register
from fdd.problems import Problem

NAMES = ["Ava", "Ben", "Cara", "Dan", "Eli", "Fay", "Gus", "Hana", "Ivan", "Jade", "Kai", "Lena", "Milo",
         "Nina", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Vic", "Wes", "Yara", "Zoe", "Liam",
         "Maya", "Noah", "Owen", "Ruby"]
OBJECTS = ["apples", "books", "coins", "stickers", "marbles", "pencils", "cookies", "stamps", "shells",
           "cards", "candies", "toys", "flowers", "eggs", "balloons", "buttons", "rocks", "beads", "cups",
           "keys"]

INTRO = ["{name} has {n} {obj}.", "{name} starts with {n} {obj}.", "There are {n} {obj} in {name}'s box.",
         "{name} owns {n} {obj}."]
OPS = {
    "add": ["{name} buys {n} more {obj}.", "{other} gives {name} {n} {obj}.", "Then {name} finds {n} more {obj}.",
            "{name} gets {n} extra {obj}."],
    "sub": ["{name} gives {n} {obj} to {other}.", "{name} loses {n} {obj}.", "Then {name} sells {n} {obj}.",
            "{name} eats {n} of the {obj}."],
    "mul": ["The number of {obj} becomes {n} times as large.", "{name} ends up with {n} times as many {obj}.",
            "Then {name} makes the pile of {obj} {n} times bigger."],
    "div": ["{name} splits the {obj} into {n} equal groups and keeps one group.",
            "{name} shares the {obj} equally among {n} friends and keeps one share.",
            "Then the {obj} are divided equally into {n} boxes and {name} keeps one box."],
}
QUESTION = ["How many {obj} does {name} have now?", "How many {obj} are left?",
            "How many {obj} does {name} have in the end?"]
SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "//"}
MAX_VALUE = 999


@dataclass(frozen=True)
class Step:
    op: str
    n: int
    template: int = 0
    other: str = ""


@dataclass(frozen=True)
class Spec:
    name: str
    obj: str
    start: int
    steps: tuple[Step, ...] = field(default_factory=tuple)
    intro: int = 0
    question: int = 0

    def values(self) -> list[int]:
        v = [self.start]
        for s in self.steps:
            v.append(_apply(v[-1], s.op, s.n))
        return v

    @property
    def answer(self) -> int:
        return self.values()[-1]


def _apply(v: int, op: str, n: int) -> int:
    return {"add": v + n, "sub": v - n, "mul": v * n, "div": v // n}[op]


def _legal_steps(v: int) -> list[tuple[str, list[int]]]:
    """Operations (with their allowed operands) that keep the value a positive integer ≤ MAX_VALUE."""
    out = []
    if v + 1 <= MAX_VALUE:
        out.append(("add", list(range(1, min(50, MAX_VALUE - v) + 1))))
    if v > 1:
        out.append(("sub", list(range(1, min(v - 1, 50) + 1))))
    if v * 2 <= MAX_VALUE:
        out.append(("mul", [k for k in range(2, 6) if v * k <= MAX_VALUE]))
    divisors = [k for k in range(2, 10) if v % k == 0]
    if divisors:
        out.append(("div", divisors))
    return out


def random_step(rng: random.Random, v: int, name: str) -> Step:
    op, operands = rng.choice(_legal_steps(v))
    template = rng.randrange(len(OPS[op]))
    other = rng.choice([x for x in NAMES if x != name]) if "{other}" in OPS[op][template] else ""
    return Step(op, rng.choice(operands), template, other)


def random_spec(rng: random.Random, steps: int, name: str | None = None, obj: str | None = None) -> Spec:
    name = name or rng.choice(NAMES)
    obj = obj or rng.choice(OBJECTS)
    start = rng.randint(2, 60)
    out, v = [], start
    for _ in range(steps):
        s = random_step(rng, v, name)
        out.append(s)
        v = _apply(v, s.op, s.n)
    return Spec(name, obj, start, tuple(out), rng.randrange(len(INTRO)), rng.randrange(len(QUESTION)))


def extend(spec: Spec, rng: random.Random, more: int) -> Spec:
    """A harder variation: the same story with `more` operations added before the question."""
    steps, v = list(spec.steps), spec.answer
    for _ in range(more):
        s = random_step(rng, v, spec.name)
        steps.append(s)
        v = _apply(v, s.op, s.n)
    return replace(spec, steps=tuple(steps), question=rng.randrange(len(QUESTION)))


def render_question(spec: Spec) -> str:
    parts = [INTRO[spec.intro].format(name=spec.name, n=spec.start, obj=spec.obj)]
    for s in spec.steps:
        parts.append(OPS[s.op][s.template].format(name=spec.name, n=s.n, obj=spec.obj, other=s.other))
    parts.append(QUESTION[spec.question].format(name=spec.name, obj=spec.obj))
    return " ".join(parts)


def render_program(spec: Spec) -> str:
    """The PoT rationale: one line per quantity, the running total in a variable named after the object."""
    var = spec.obj
    lines = [f"{var} = {spec.start}"]
    lines += [f"{var} = {var} {SYMBOL[s.op]} {s.n}" for s in spec.steps]
    lines.append(f"ans = {var}")
    return "\n".join(lines)


def _pattern(template: str) -> re.Pattern:
    rx = re.escape(template)
    for key, group in (("name", r"(?P<name>[A-Z][a-z]+)"), ("n", r"(?P<n>\d+)"), ("obj", r"(?P<obj>[a-z]+)"),
                       ("other", r"(?P<other>[A-Z][a-z]+)")):
        rx = rx.replace(re.escape("{" + key + "}"), group, 1)
    return re.compile(rx + r"$")


_INTRO_RX = [_pattern(t) for t in INTRO]
_OP_RX = [(op, i, _pattern(t)) for op, ts in OPS.items() for i, t in enumerate(ts)]
_QUESTION_RX = [_pattern(t.replace("{name}", "{other}")) for t in QUESTION]
_SENTENCE = re.compile(r"[^.?]+[.?]")


def parse_question(text: str) -> Spec | None:
    """Recover the Spec of a family question; None if it is not one."""
    sentences = [s.strip() for s in _SENTENCE.findall(text)]
    if len(sentences) < 2:
        return None
    first = next(((i, m) for i, rx in enumerate(_INTRO_RX) if (m := rx.match(sentences[0]))), None)
    if first is None:
        return None
    intro, m = first
    name, obj, start = m["name"], m["obj"], int(m["n"])
    steps = []
    for sent in sentences[1:-1]:
        hit = next(((op, i, m) for op, i, rx in _OP_RX if (m := rx.match(sent))), None)
        if hit is None:
            return None
        op, i, m = hit
        steps.append(Step(op, int(m["n"]), i, m.groupdict().get("other") or ""))
    q = next((i for i, rx in enumerate(_QUESTION_RX) if rx.match(sentences[-1])), None)
    if q is None:
        return None
    return Spec(name, obj, start, tuple(steps), intro, q)


def make_problem(spec: Spec, pid: str, source: str = "synthetic", **kw) -> Problem:
    return Problem(id=pid, question=render_question(spec), answer=float(spec.answer), source=source, **kw)


def generate(n: int, min_steps: int, max_steps: int, seed: int, stream: str) -> list[Problem]:
    """`n` problems with step counts spread evenly over [min_steps, max_steps]."""
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
    stream = "synthetic" if split == "train" else f"synthetic_{split}_{min_steps}_{max_steps}"
    problems = generate(n, min_steps, max_steps, seed, stream)
    return Loaded("synthetic", problems)
