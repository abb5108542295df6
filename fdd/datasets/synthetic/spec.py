"""A problem's structure (`Spec`) and how it is drawn: fresh, extended (harder), or re-drawn with
the same kinds and operations (similar).

A story: a person has, pays or works a start quantity (a value with a unit, of a class:
kinds.CLASSES); each step applies one operation of one kind (fdd.datasets.synthetic.kinds),
possibly changing the unit and class or, for a comparison, the person the story follows; the
question asks for the final quantity in its class's words. Every value along the way is a positive
integer ≤ MAX_VALUE, so answers are exact. A story works, and pays a bill, at most once: a second
stretch of work would leave "How many hours does Kai work?" unclear.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from fdd.datasets.synthetic.kinds import (
    KINDS,
    OPS_OF,
    TEMPLATES,
    Template,
    accepts,
    apply,
    base_class,
    class_after,
    sample,
)
from fdd.datasets.synthetic.vocab import HOLDERS, NAMES, OBJECTS, TIME, unit_class

# Openings: a person has objects or money, pays a price, or works for a time (kinds.CLASSES).
INTRO = [Template("", "", "{name} has {n} {unit}."),
         Template("", "", "{name} starts with {n} {unit}."),
         Template("", "", "There are {n} {unit} in {name}'s box.", ("count",), ("object",)),
         Template("", "", "{name} owns {n} {unit}.", ("count",)),
         Template("", "", "{name} saves {n} {unit}.", ("money",)),
         Template("", "", "{name} orders a meal that costs {n} {unit}.", ("cost",)),
         Template("", "", "{name}'s shopping comes to {n} {unit}.", ("cost",)),
         Template("", "", "{name} buys a train ticket for {n} {unit}.", ("cost",)),
         Template("", "", "{name} works for {n} {unit}.", ("time",)),
         Template("", "", "{name} is at work for {n} {unit}.", ("time",)),
         Template("", "", "{name} works {n} {unit} at the shop.", ("time",))]
# The question names whose quantity it asks for, in the words of its class.
_HAVE = ["How many {unit} does {name} have now?", "How many {unit} does {name} end up with?",
         "How many {unit} does {name} have in the end?"]
QUESTION = {"count": _HAVE, "money": _HAVE,
            "cost": ["How many {unit} does {name} pay?", "How many {unit} does {name} pay in all?",
                     "How many {unit} does {name} spend in all?"],
            "time": ["How many {unit} does {name} work?", "How many {unit} does {name} work in all?",
                     "For how many {unit} does {name} work?"]}
N_QUESTIONS = 3  # sentences per class; Spec.question indexes the final class's list
_ATTEMPTS = 1000
_PLANS = 200


def start_class(intro: int, unit: str) -> str:
    """The class of the start quantity: the opening's class for the unit's class."""
    return next(c for c in INTRO[intro].ins if base_class(c) == unit_class(unit))


@dataclass(frozen=True)
class Step:
    kind: str
    op: str
    template: int                 # index into kinds.TEMPLATES
    args: tuple[int, ...]         # operands of `op` (a fraction's (a, b), a percent's (p, 100))
    unit: str                     # the unit after the step
    phrase: str = ""              # a fraction or part as written ("two thirds", "3/5", "half")
    others: tuple[str, ...] = ()  # other people the sentence names; a comparison follows others[0]


@dataclass(frozen=True)
class Spec:
    name: str
    obj: str                      # the story's object ("" if none is named)
    start: int
    unit: str
    steps: tuple[Step, ...] = field(default_factory=tuple)
    intro: int = 0
    question: int = 0

    def values(self) -> list[int]:
        v = [self.start]
        for s in self.steps:
            v.append(apply(s.op, v[-1], s.args))
        return v

    def units(self) -> list[str]:
        return [self.unit, *(s.unit for s in self.steps)]

    def classes(self) -> list[str]:
        """The class of the quantity (kinds.CLASSES) at the start and after each step."""
        out = [start_class(self.intro, self.unit)]
        for s in self.steps:
            out.append(class_after(TEMPLATES[s.template], out[-1], s.unit))
        return out

    def subjects(self) -> list[str]:
        """Who the story follows before each step, and at the end."""
        out = [self.name]
        for s in self.steps:
            out.append(s.others[0] if s.kind == "compare" else out[-1])
        return out

    @property
    def answer(self) -> int:
        return self.values()[-1]

    @property
    def signature(self) -> tuple[tuple[str, str], ...]:
        """The kinds and operations, in order: what a similar problem keeps."""
        return tuple((s.kind, s.op) for s in self.steps)


def tags(spec: Spec) -> dict[str, str | int | list[str]]:
    """Diagnosis labels: `kind` = the kind of the first step (kept by harder variations, which add
    steps after it, and by similar problems); `steps` = the number of steps; `step_kinds` = every
    step's kind, in order (the first wrong step's kind, fdd/rounds/diagnosis.py)."""
    return {"kind": spec.steps[0].kind if spec.steps else "none", "steps": len(spec.steps),
            "step_kinds": [s.kind for s in spec.steps]}


@dataclass
class _State:
    value: int
    unit: str
    subject: str
    obj: str
    cls: str
    seen: frozenset[str] = frozenset()  # the classes the story has been in before this one


def _start(rng: random.Random) -> tuple[int, str, str, str]:
    """A start value, unit and class (objects, containers, money had or paid, time worked), and the
    story's object."""
    obj = rng.choice(OBJECTS)
    kind = rng.choices(["object", "container", "money", "cost", "time"], [5, 1, 1, 1, 2])[0]
    if kind == "object":
        unit, cls = obj, "count"
        v = rng.randint(2, 60) if rng.random() < 0.5 else rng.randint(1, 10) * rng.choice([2, 3, 4, 5, 6, 10, 12])
    elif kind == "container":
        unit, cls, v = rng.choice(HOLDERS), "count", rng.randint(2, 20)
    elif kind in ("money", "cost"):
        unit, cls = "dollars", kind
        v = rng.randint(5, 100) if rng.random() < 0.5 else rng.randint(1, 10) * rng.choice([4, 5, 10, 20])
    else:
        unit, cls = rng.choice(TIME), "time"
        v = {"minutes": rng.randint(1, 12) * rng.choice([5, 10, 15, 30, 60]), "hours": rng.randint(2, 16),
             "days": rng.randint(2, 14), "weeks": rng.randint(2, 8)}[unit]
    return v, unit, cls, obj


@functools.cache
def _templates(kind: str, cls: str, unit: str) -> tuple[int, ...]:
    return tuple(i for i, t in enumerate(TEMPLATES) if t.kind == kind and accepts(t, cls, unit))


def _step(rng: random.Random, st: _State, kind: str, op: str | None) -> Step | None:
    """One step of `kind` (and `op`, if given) legal at the state, or None."""
    temps = list(_templates(kind, st.cls, st.unit))
    rng.shuffle(temps)
    if op is None and kind != "convert":  # an operation first, uniformly, then a sentence for it
        ops = OPS_OF[kind][:]
        rng.shuffle(ops)
        temps.sort(key=lambda i: ops.index(TEMPLATES[i].op) if TEMPLATES[i].op in ops else len(ops))
    for i in temps:
        t = TEMPLATES[i]
        got = sample(t, st.value, st.unit, rng, op)
        if got is None:
            continue
        s_op, args, phrase, out = got
        out = {"obj": st.obj, "same": st.unit}.get(out, out)
        if _returns(st, class_after(t, st.cls, out)):
            continue
        others: list[str] = []
        for key in ("{other}", "{other2}"):
            if key in t.text:
                others.append(rng.choice([n for n in NAMES if n != st.subject and n not in others]))
        return Step(kind, s_op, i, args, out, phrase, tuple(others))
    return None


def _returns(st: _State, cls: str) -> bool:
    """Whether a step would start a second stretch of work or a second bill: "How many minutes does
    Kai work?" would then not say which, since time worked and money paid add up, unlike what
    someone has (spent or sold when the story moves on)."""
    return cls != st.cls and cls in ("time", "cost") and cls in st.seen


def _advance(st: _State, s: Step) -> _State:
    return _State(apply(s.op, st.value, s.args), s.unit, s.others[0] if s.kind == "compare" else st.subject, st.obj,
                  class_after(TEMPLATES[s.template], st.cls, s.unit), st.seen | {st.cls})


def _realise(rng: random.Random, plan: list[tuple[str, str | None]], st: _State) -> list[Step] | None:
    steps = []
    for kind, op in plan:
        s = _step(rng, st, kind, op)
        if s is None:
            return None
        steps.append(s)
        st = _advance(st, s)
    return steps


def _uses_obj(spec: Spec) -> bool:
    return spec.unit == spec.obj or any(s.unit == spec.obj or "{obj}" in TEMPLATES[s.template].text
                                        for s in spec.steps)


def _intro_for(rng: random.Random, cls: str, unit: str) -> int:
    return rng.choice([i for i, t in enumerate(INTRO) if accepts(t, cls, unit)])


def _finish(spec: Spec) -> Spec:
    return spec if _uses_obj(spec) else replace(spec, obj="")


def draw(rng: random.Random, plan: list[tuple[str, str | None]], avoid: tuple[str, str] = ("", "")) -> Spec | None:
    """A fresh story realising `plan` (kinds, and operations where given); names and objects
    differ from `avoid` = (name, object) when possible. None if no attempt succeeds."""
    for _ in range(_ATTEMPTS):
        name = rng.choice([n for n in NAMES if n != avoid[0]])
        v, unit, cls, obj = _start(rng)
        if obj == avoid[1]:
            continue
        steps = _realise(rng, plan, _State(v, unit, name, obj, cls))
        if steps is not None:
            return _finish(Spec(name, obj, v, unit, tuple(steps), _intro_for(rng, cls, unit),
                                rng.randrange(N_QUESTIONS)))
    return None


def random_spec(rng: random.Random, steps: int, weights: Sequence[float] | None = None) -> Spec:
    """A story of `steps` steps, each of a kind drawn uniformly, or with `weights` (one per kind, in
    the order of KINDS); a plan that cannot be realised is re-drawn."""
    for _ in range(_PLANS):
        kinds = [rng.choice(KINDS) if weights is None else rng.choices(KINDS, weights)[0] for _ in range(steps)]
        spec = draw(rng, [(k, None) for k in kinds])
        if spec is not None:
            return spec
    raise ValueError(f"synthetic: no story of {steps} steps could be drawn with kind weights {weights}")


def extend(spec: Spec, rng: random.Random, more: int) -> Spec:
    """A harder variation: the same story (person, object, start, sentences) with `more` steps of
    uniformly drawn kinds added before the question."""
    vals, units, subjects = spec.values(), spec.units(), spec.subjects()
    obj = spec.obj or rng.choice(OBJECTS)
    classes = spec.classes()
    st = _State(vals[-1], units[-1], subjects[-1], obj, classes[-1], frozenset(classes[:-1]))
    for _ in range(_ATTEMPTS):
        extra = _realise(rng, [(rng.choice(KINDS), None) for _ in range(more)], st)
        if extra is not None:
            break
    else:  # a change step is always legal
        extra = _realise(rng, [("change", None)] * more, st) or []
    new = replace(spec, obj=obj, steps=spec.steps + tuple(extra), question=rng.randrange(N_QUESTIONS))
    return _finish(new)


def similar(spec: Spec, rng: random.Random) -> Spec:
    """A similar problem: the same kinds and operations in the same order, with a fresh person,
    object, start, numbers and sentences. Falls back to the same numbers under new names if the
    signature cannot be re-drawn (rare: it was realised once)."""
    fresh = draw(rng, list(spec.signature), avoid=(spec.name, spec.obj))
    if fresh is not None:
        return fresh
    rename = {spec.name: rng.choice([n for n in NAMES if n != spec.name])}
    steps = tuple(replace(s, others=tuple(rename.get(o, o) for o in s.others)) for s in spec.steps)
    return replace(spec, name=rename[spec.name], steps=steps, question=rng.randrange(N_QUESTIONS))


def focused(spec: Spec, rng: random.Random, position: int, kind: str) -> Spec:
    """A similar problem aimed at a step the student got wrong (feedback.show_attempt): the parent's
    kinds and operations before `position` (1-based), then `kind` at `position` and, where the story
    allows it, at every step after it (else kinds drawn uniformly after it), each with an operation
    drawn afresh; the parent's step count, with a fresh person, object, start, numbers and sentences.
    `similar` if neither plan can be realised or `kind` is not a kind of this family."""
    if kind not in KINDS or not 1 <= position <= len(spec.steps):
        return similar(spec, rng)
    head, rest = list(spec.signature[:position - 1]), len(spec.steps) - position
    for plan in ([*head, *[(kind, None)] * (rest + 1)],
                 [*head, (kind, None), *[(rng.choice(KINDS), None) for _ in range(rest)]]):
        fresh = draw(rng, plan, avoid=(spec.name, spec.obj))
        if fresh is not None:
            return fresh
    return similar(spec, rng)
