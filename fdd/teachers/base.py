"""The Teacher protocol every backend implements.

One *request* is one call for one problem (annotate one problem, or write `n` variations of one
problem), whatever the backend; feedback arms are compared on this count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from fdd.problems import Problem


@dataclass
class Usage:
    requests: int = 0
    cached: int = 0
    failed: int = 0
    unparsed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in
             ("requests", "cached", "failed", "unparsed", "prompt_tokens", "completion_tokens", "cost_usd")}
        d.update(self.extra)
        return d


@dataclass(frozen=True)
class Attempt:
    """What the student wrote for a parent problem, shown to the teacher with
    `feedback.show_attempt=true`: its output, whether it was right, and for a wrong one where it
    went wrong (fdd/rounds/diagnosis.py: the failure type and the first reference step it never computed,
    that step's position, kind and line in the reference program)."""

    output: str
    correct: bool
    failure: str | None = None
    position: int | None = None
    kind: str | None = None
    line: str | None = None
    steps: int = 0


def usage_delta(before: dict, after: dict) -> dict:
    """What a stretch of teacher work cost: numeric counts differenced, flags as they are now."""
    return {k: (v - before.get(k, 0)) if isinstance(v, int | float) and not isinstance(v, bool) else v
            for k, v in after.items()}


@runtime_checkable
class Teacher(Protocol):
    """What the round loop asks of a teacher.

    - `annotate`: for each problem, candidate rationales (strings in the run's rationale format);
      verification keeps the first one whose executed answer equals the gold answer.
    - `harder` / `similar`: for each parent, up to `n` new problems (question + rationale, answer
      left None: verification executes the rationale to get it). `origin` and `parent_id` set.
      With `feedback.show_attempt=true` they are also given `attempts={parent id: Attempt}`; a
      teacher that cannot use them may ignore them.
    - `usage`: cumulative counts since construction (the round loop takes differences).
    """

    def annotate(self, problems: list[Problem]) -> list[list[str]]: ...

    def harder(self, problems: list[Problem], n: int, round: int, attempts=None) -> list[list[Problem]]: ...

    def similar(self, problems: list[Problem], n: int, round: int, attempts=None) -> list[list[Problem]]: ...

    def usage(self) -> Usage: ...
