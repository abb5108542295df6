"""The running program's state inside a worker: what it has hit, and the exceptions that end it.

A program may catch exceptions, so a refusal or limit is also recorded here, sticky: the first
one hit becomes the program's Outcome whatever the program did next. `_STATE.active` is true only
while a program runs; the guards in fdd/sandbox/builtins.py and the alarm handler in
fdd/sandbox/worker.py act only then.
"""

from __future__ import annotations

from fdd.sandbox.outcome import Outcome


class _Forbidden(Exception):
    """A refused call or import at run time (reported as "forbidden")."""


class _Timeout(BaseException):
    """Raised by the wall-clock alarm; a BaseException so `except Exception` in a program misses it."""


class _OutputLimit(BaseException):
    """Raised when a program prints more than its output cap."""


class _State:
    """Per-program sticky flags: a program that catches our exceptions is still reported."""

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, max_output: int) -> None:
        self.active = False
        self.first: Outcome | None = None  # the first limit the program hit
        self.output = 0
        self.max_output = max_output

    def hit(self, error: str, message: str) -> None:
        if self.first is None:
            self.first = Outcome(None, error, message)


_STATE = _State()
