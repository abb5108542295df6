"""Where a run is, so that whatever ends it (an unexpected error, Ctrl-C, a scheduler's SIGTERM)
is reported by fdd/run.py in one line that names the stage.

Stages nest and read as a path: `with stage("round 1"):` around a round boundary and
`with stage("asking the teacher for harder variations"):` inside it give "round 1, asking the teacher
for harder variations". An exception leaving a stage is marked with the path open where it was raised
(the innermost stage it passes marks it first); `where(exc)` reads the mark back. Training is not one
`with` block (Lightning calls back into fdd), so the RoundRunner opens its stage with `enter` at a
round's first epoch and closes it with `leave`; a label may be a callable, evaluated only when
needed (the optimizer step).

Stop signals (`stop_signals` in conf/config.yaml, SIGTERM by default) raise `Stopped`, a
KeyboardInterrupt, in the main thread wherever it is (torch, the asyncio loop of teacher requests,
the sandbox pool's select, Lightning's loops), so a scheduler's stop unwinds exactly as Ctrl-C does:
Lightning, asyncio and the sandbox pool already clean up for KeyboardInterrupt, and the store's
commits are atomic. A stop that something swallowed is raised again at the next stage entered; a
second signal exits at once (as SIGKILL would, and as safely).

Test hooks: FDD_STAGE_TRACE=FILE appends the path of every stage entered to FILE, one per line, so a
test can stop a run in a chosen stage without guessing with sleeps; FDD_FAIL_AT=PREFIX raises a
RuntimeError in the first `stage` whose path starts with PREFIX.
"""

from __future__ import annotations

import functools
import inspect
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

Label = str | Callable[[], str] | None
F = TypeVar("F", bound=Callable[..., Any])

_open: list[Label] = []  # the stages open now, outermost first
_MARK = "_fdd_stage"

# Signals a run may be told to stop with: what schedulers send (SLURM's --signal defaults to USR1,
# SGE's -notify sends USR1/USR2, some send XCPU at a CPU limit), never one that ends a process anyway.
STOPPABLE = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGXCPU")


def _text(label: Label) -> str:
    return (label() if callable(label) else label) or ""


def path() -> str:
    """The stages open now, outermost first ('' outside any)."""
    return ", ".join(t for t in map(_text, _open) if t)


def enter(label: Label) -> int:
    """Open a stage; returns the depth to `leave` it at (which also closes stages opened inside it)."""
    if _stopping is not None:  # a stop that some `except BaseException` swallowed: raise it again here
        raise Stopped(_stopping)
    depth = len(_open)
    _open.append(label)
    if label is not None and (trace := os.environ.get("FDD_STAGE_TRACE")):
        with open(trace, "a", encoding="utf-8") as f:
            f.write(path() + "\n")
    return depth


def leave(depth: int | None) -> None:
    if depth is not None:
        del _open[depth:]


def mark(exc: BaseException) -> None:
    """Record where `exc` happened, unless a stage inside this one already did."""
    if getattr(exc, _MARK, None) is None:
        here = path()
        setattr(exc, _MARK, here)
        if here:
            exc.add_note(f"fdd stage: {here}")  # shown with the traceback under FDD_DEBUG=1


@contextmanager
def stage(label: Label) -> Iterator[None]:
    """A stage of the run; None opens a scope without a name (it marks, and closes what was left open)."""
    depth = enter(label)
    try:
        if label is not None and (fail := os.environ.get("FDD_FAIL_AT")) and path().startswith(fail):
            raise RuntimeError(f"injected failure (FDD_FAIL_AT={fail})")
        yield
    except BaseException as e:
        mark(e)
        raise
    finally:
        leave(depth)


def staged(label: Callable[..., str]) -> Callable[[F], F]:
    """`stage` around each call of the decorated function, labelled from the call's arguments:
    `label` gets them by name (`lambda desc, **_: ...`). For functions whose body others edit often."""
    def wrap(fn: F) -> F:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with stage(label(**sig.bind(*args, **kwargs).arguments)):
                return fn(*args, **kwargs)
        return inner  # type: ignore[return-value]
    return wrap


def where(exc: BaseException) -> str:
    """The innermost stage recorded on `exc` or on the exceptions it was raised from or while handling."""
    found, seen = "", set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        found = getattr(exc, _MARK, None) or found
        exc = exc.__cause__ or exc.__context__
    return found


def interrupt(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or stop signal `exc` was raised from or while handling, if any: library code
    cut short by a stop (a `finally` that cleans up a half-changed state) may fail on its own."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


# -- stop signals ----------------------------------------------------------------------------------
class Stopped(KeyboardInterrupt):
    """A stop signal arrived: unwind as Ctrl-C does; fdd/run.py exits 128 + the signal's number."""

    def __init__(self, signum: int):
        super().__init__(int(signum))
        self.signum = int(signum)

    def __str__(self) -> str:
        return signal.Signals(self.signum).name


_stopping: int | None = None  # the signal being handled, once one arrived


def _on_signal(signum: int, frame: Any) -> None:
    global _stopping
    if _stopping is not None:  # a second one: the first is unwinding too slowly for the sender
        name = signal.Signals(signum).name
        sys.stderr.write(f"fdd: interrupted by {name} again; stopped at once. Rerun the same command to "
                         "continue from the last committed round\n")
        sys.stderr.flush()
        os._exit(128 + signum)
    _stopping = signum
    raise Stopped(signum)


def parse_signals(names: Iterable[str | int]) -> list[signal.Signals]:
    """Signal names as a config writes them (SIGTERM, TERM, usr1, 15); ValueError names a bad one."""
    out = []
    for name in names:
        text = str(name).strip().upper()
        text = text if text.isdigit() or text.startswith("SIG") else "SIG" + text
        try:
            sig = signal.Signals(int(text)) if text.isdigit() else signal.Signals[text]
        except (KeyError, ValueError):
            raise ValueError(f"unknown signal {name!r} (one of {', '.join(STOPPABLE)})") from None
        if sig.name not in STOPPABLE:
            raise ValueError(f"{sig.name} cannot stop a run cleanly (one of {', '.join(STOPPABLE)})")
        out.append(sig)
    return out


def stop_on(signals: Iterable[signal.Signals]) -> dict[signal.Signals, Any]:
    """Make each signal raise `Stopped` from now on; returns the handlers it replaced (for `restore`)."""
    return {sig: signal.signal(sig, _on_signal) for sig in signals}


def restore(previous: dict[signal.Signals, Any]) -> None:
    """Put back the handlers `stop_on` replaced, unless a stop is under way (a second signal still
    exits at once then)."""
    if _stopping is None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exit_code(exc: KeyboardInterrupt) -> int:
    """The shell's convention: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + (exc.signum if isinstance(exc, Stopped) else signal.SIGINT)
