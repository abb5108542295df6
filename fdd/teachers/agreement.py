"""Independent agreement (`teacher.verify=resolve`): a new problem is kept only if fresh solutions
of its question agree with the program it came with.

The program that came with a new problem was written in the same breath as the question, so it
shares the question-writer's slips (a dropped clause, a changed number). Each surviving problem
is therefore solved again through the annotate prompt, in requests of its own
(`teacher.solve(problems, k, round)`, k = `teacher.verify_samples`), and the answers vote:

- votes are the program's answer plus the k fresh answers; a problem is kept when one answer
  holds a strict majority of those k + 1 votes (k = 1: the solution must agree with the program;
  k = 3: three of four). That answer becomes the label, and the rationale is the program when it
  is in the majority, else the first fresh solution that is.
- `disagree`: the solutions answered but no answer has a majority; `unverified`: no fresh
  solution came back (a failed request, nothing parseable), so nothing could be checked.

Costs: k extra requests per surviving new problem (one request with `n=k`, topped up when a
server ignores `n`), counted per round in summary.json `teacher.verify` and cached like every
request. Any teacher whose `verify` attribute is "resolve" gets this, through its `solve` method
or, lacking one, its `annotate` (one solution). The symbolic teacher does not ask for it today:
it is exact except for the slips `error_rate` injects on purpose, and an independent annotate
draw would catch those (probability 1 - error_rate) if it kept `teacher.verify`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fdd.answers import answers_match
from fdd.problems import Problem
from fdd.rationales import RationaleFormat


@dataclass(frozen=True)
class Resolution:
    answer: float | None
    rationale: str | None
    reason: str | None = None  # None: kept; else the rejection reason


def vote(program: float, solutions: list[float | None], k: int) -> tuple[float | None, int | None]:
    """(agreed answer, index of the first vote that gives it: 0 the program, i the i-th solution)
    when one answer holds a strict majority of the 1 + k votes, else (None, None)."""
    votes = [program, *solutions]
    groups: list[list[int]] = []
    for i, v in enumerate(votes):
        if v is None:
            continue
        g = next((g for g in groups if answers_match(votes[g[0]], v)), None)
        g.append(i) if g is not None else groups.append([i])
    best = max(groups, key=len, default=[])
    if len(best) * 2 > 1 + k:
        return float(votes[best[0]]), best[0]
    return None, None


class Resolver:
    """Calls `teacher.solve` once for a batch of new problems and votes per problem."""

    def __init__(self, teacher, fmt: RationaleFormat, round: int, samples: int = 1):
        self.teacher, self.fmt, self.round, self.k = teacher, fmt, round, int(samples)

    def __call__(self, problems: list[Problem]) -> list[Resolution]:
        if not problems:
            return []
        solve = getattr(self.teacher, "solve", None)
        if solve is not None:
            solutions = solve(problems, self.k, self.round)
        else:  # a teacher without `solve`: its annotate call is one independent solution
            solutions = [sols[:1] for sols in self.teacher.annotate(problems)]
        flat = [s for sols in solutions for s in sols]
        answers = [a.value for a in self.fmt.answers(flat)]
        out, i = [], 0
        for p, sols in zip(problems, solutions):
            got = answers[i:i + len(sols)]
            i += len(sols)
            if not any(v is not None for v in got):
                out.append(Resolution(None, None, "unverified"))
                continue
            answer, who = vote(float(p.answer), got, self.k)
            if answer is None:
                out.append(Resolution(None, None, "disagree"))
            else:
                out.append(Resolution(answer, p.rationale if who == 0 else sols[who - 1]))
        return out


def resolver_for(teacher, fmt: RationaleFormat, round: int) -> Resolver | None:
    """The resolver a teacher asks for (`teacher.verify == "resolve"`), or None."""
    if getattr(teacher, "verify", "none") != "resolve":
        return None
    return Resolver(teacher, fmt, round, getattr(teacher, "verify_samples", 1))
