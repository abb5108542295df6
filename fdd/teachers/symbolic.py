"""The embedded offline teacher for the synthetic family (fdd.datasets.synthetic).

It reads a problem back into its structure from the question text, so it can write a rationale,
harder variations and similar problems, doing what the LLM prompts ask of an LLM teacher
(fdd/teachers/prompts/*/{harder,similar}.txt):

- `harder`: the same story (person, object, start, sentences) with 1..`max_extra_steps` more
  steps, each of a uniformly drawn kind.
- `similar`: the same number of steps and the same kinds of operations in the same order
  (e.g. a percentage discount, then a unit price), with a fresh person, object, start, numbers
  and sentences.
- with the student's attempt (`feedback.show_attempt=true`), what the attempt-aware prompts ask
  of an LLM: a similar problem for a diagnosed failure exercises the step the student got wrong:
  the parent's steps before it, then that step's kind at its position and at every later step
  (`fam.focused`). A harder variation is unchanged: a correct solution tells a procedural
  generator nothing it does not already know.

With `error_rate` > 0 some rationales are wrong like an LLM's: a number off, an operation swapped,
or a program that does not run. Every output is a pure function of (seed, task, round, parent id),
(and of the diagnosis it is shown), so reruns and resumed runs get identical answers.
"""

from __future__ import annotations

import random
from dataclasses import replace

from fdd.datasets import synthetic as fam
from fdd.problems import Problem
from fdd.teachers.base import Usage

_SWAP = {"add": "sub", "sub": "add", "mul": "div", "div": "mul", "rsub": "sub", "sum": "add", "of": "off",
         "off": "of", "up": "off"}


class SymbolicTeacher:
    def __init__(self, error_rate: float = 0.05, max_extra_steps: int = 2, rationale: str = "pot",
                 seed: int = 0, **_):
        if rationale not in fam.RENDER:
            raise ValueError(f"teacher=symbolic writes {'/'.join(fam.RENDER)} rationales, not {rationale!r}")
        if not 0 <= error_rate <= 1:
            raise ValueError(f"teacher.error_rate must be in [0, 1], got {error_rate}")
        if max_extra_steps < 1:
            raise ValueError(f"teacher.max_extra_steps must be >= 1, got {max_extra_steps}")
        self.error_rate, self.max_extra_steps = error_rate, max_extra_steps
        self.rationale, self.seed = rationale, seed
        self._usage = Usage()

    def usage(self) -> Usage:
        return Usage(**vars(self._usage))

    def _rng(self, *key) -> random.Random:
        return random.Random(":".join(map(str, (self.seed, *key))))

    def write(self, spec: fam.Spec, rng: random.Random) -> str:
        """A rationale for `spec`, wrong with probability `error_rate`."""
        render = fam.RENDER[self.rationale]
        if rng.random() >= self.error_rate or not spec.steps:
            return render(spec)
        kind = rng.choice(["number", "operation", "broken"])
        i = rng.randrange(len(spec.steps))
        steps = list(spec.steps)
        s = steps[i]
        if kind == "number":
            steps[i] = replace(s, args=(max(1, s.args[0] + rng.choice([-2, -1, 1, 2, 3])), *s.args[1:]))
        elif kind == "operation":
            steps[i] = replace(s, op=_SWAP[s.op])
        text = render(replace(spec, steps=tuple(steps)))
        if kind == "broken":
            text = text.replace("ans = ", "ans = total_") if self.rationale != "cot" else text.rsplit(".", 2)[0]
        return text

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

    def _variations(self, problems: list[Problem], n: int, round: int, origin: str,
                    attempts: dict | None = None) -> list[list[Problem]]:
        out = []
        for p in problems:
            attempt = (attempts or {}).get(p.id)
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
                elif attempt is not None and attempt.position and attempt.kind:
                    new = fam.focused(spec, rng, attempt.position, attempt.kind)
                else:
                    new = fam.similar(spec, rng)
                kids.append(Problem(id=f"{p.id}.{origin[0]}{round}.{i}", question=fam.render_question(new),
                                    rationale=self.write(new, rng), origin=origin, parent_id=p.id,
                                    round=round + 1, source="teacher", tags=fam.tags(new)))
            out.append(kids)
        return out

    def harder(self, problems: list[Problem], n: int, round: int, attempts: dict | None = None) -> list[list[Problem]]:
        return self._variations(problems, n, round, "harder", attempts)

    def similar(self, problems: list[Problem], n: int, round: int, attempts: dict | None = None) -> list[list[Problem]]:
        return self._variations(problems, n, round, "similar", attempts)
