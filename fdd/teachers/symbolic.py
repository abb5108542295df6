"""The embedded offline teacher for the synthetic family (fdd.datasets.synthetic).

It reads a problem back into its structure, so it can write a rationale, harder variations (the
same story with one or two more operations) and similar problems (same number of operations,
fresh names, numbers and operations). With `error_rate` > 0 some rationales are wrong like an
LLM's: a number off, an operation swapped, or a program that does not run. Every output is a pure
function of (seed, task, round, parent id), so reruns and resumed runs get identical answers.
"""

from __future__ import annotations

import random

from fdd.datasets import synthetic as fam
from fdd.problems import Problem
from fdd.teachers.base import Usage

_FORMATS = ("pot", "cot")


class SymbolicTeacher:
    def __init__(self, error_rate: float = 0.05, max_extra_steps: int = 2, rationale: str = "pot",
                 seed: int = 0, **_):
        if rationale not in _FORMATS:
            raise ValueError(f"teacher=symbolic writes {'/'.join(_FORMATS)} rationales, not {rationale!r}")
        if not 0 <= error_rate <= 1:
            raise ValueError(f"teacher.error_rate must be in [0, 1], got {error_rate}")
        self.error_rate, self.max_extra_steps = error_rate, max_extra_steps
        self.rationale, self.seed = rationale, seed
        self._usage = Usage()

    def usage(self) -> Usage:
        return Usage(**vars(self._usage))

    def _rng(self, *key) -> random.Random:
        return random.Random(":".join(map(str, (self.seed, *key))))

    def write(self, spec: fam.Spec, rng: random.Random) -> str:
        """A rationale for `spec`, wrong with probability `error_rate`."""
        if rng.random() >= self.error_rate or not spec.steps:
            return self._render(spec)
        kind = rng.choice(["number", "operation", "broken"])
        i = rng.randrange(len(spec.steps))
        steps = list(spec.steps)
        if kind == "number":
            steps[i] = fam.Step(steps[i].op, steps[i].n + rng.choice([-2, -1, 1, 2, 3]), steps[i].template)
        elif kind == "operation":
            steps[i] = fam.Step({"add": "sub", "sub": "add", "mul": "div", "div": "mul"}[steps[i].op], steps[i].n)
        text = self._render(fam.Spec(spec.name, spec.obj, spec.start, tuple(steps)))
        if kind == "broken":
            text = text.replace("ans = ", "ans = total_") if self.rationale == "pot" else text.rsplit(".", 2)[0]
        return text

    def _render(self, spec: fam.Spec) -> str:
        if self.rationale == "pot":
            return fam.render_program(spec)
        vals, parts = spec.values(), [f"{spec.name} starts with {spec.start} {spec.obj}."]
        for s, before, after in zip(spec.steps, vals, vals[1:]):
            parts.append(f"{before} {fam.SYMBOL[s.op].replace('//', '/')} {s.n} = {after}.")
        parts.append(f"The answer is {vals[-1]}.")
        return " ".join(parts)

    def annotate(self, problems: list[Problem]) -> list[list[str]]:
        out = []
        for p in problems:
            self._usage.requests += 1
            spec = fam.parse_question(p.question)
            if spec is None:
                self._usage.unparsed += 1
                out.append([])
            else:
                out.append([self.write(spec, self._rng("annotate", p.id))])
        return out

    def _variations(self, problems: list[Problem], n: int, round: int, origin: str) -> list[list[Problem]]:
        out = []
        for p in problems:
            self._usage.requests += 1
            spec = fam.parse_question(p.question)
            if spec is None:
                self._usage.unparsed += 1
                out.append([])
                continue
            rng = self._rng(origin, round, p.id)
            kids = []
            for i in range(n):
                if origin == "harder":
                    new = fam.extend(spec, rng, rng.randint(1, self.max_extra_steps))
                else:
                    new = fam.random_spec(rng, len(spec.steps))
                kids.append(Problem(id=f"{p.id}.{origin[0]}{round}.{i}", question=fam.render_question(new),
                                    rationale=self.write(new, rng), origin=origin, parent_id=p.id,
                                    round=round + 1, source="teacher"))
            out.append(kids)
        return out

    def harder(self, problems: list[Problem], n: int, round: int) -> list[list[Problem]]:
        return self._variations(problems, n, round, "harder")

    def similar(self, problems: list[Problem], n: int, round: int) -> list[list[Problem]]:
        return self._variations(problems, n, round, "similar")
