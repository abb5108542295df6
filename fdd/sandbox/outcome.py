"""What running one program gives: an `Outcome` (a float answer or an error kind), and `ERRORS`.

Shared by the parent (the pool hands Outcomes to callers) and the worker (which builds them), so it
imports nothing of the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass

ERRORS = ("syntax", "runtime", "timeout", "memory", "forbidden", "output_limit")

_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class Outcome:
    """Result of one program: a float answer, or an error kind from `ERRORS` with a short message."""

    answer: float | None
    error: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None and self.answer is not None


def _short(text: str) -> str:
    """Cut a message to what a record should carry."""
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 3] + "..."

