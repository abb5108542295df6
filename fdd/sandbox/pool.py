"""The pool: pre-started sandbox workers, the chunks they run, the watchdog and replacement.

`Executor.run` de-duplicates programs, sends them in chunks to worker processes
(fdd/sandbox/worker.py) and returns one `Outcome` per program, in input order. The parent is the
last layer of the threat model: a worker that overruns timeout + grace (e.g. ``10**10**8``
computed in C holds the GIL and ignores signals) is killed with its whole process group, its
program is reported "timeout" (a crash: by its signal), the rest of its chunk is requeued and a
replacement starts; the batch goes on.

Workers are fresh ``python -s -P`` processes with a scrubbed environment (never a fork of the
caller, which may hold torch threads), each in its own process group so nothing they start can
outlive them.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence

from fdd.sandbox.outcome import Outcome

# How the pool starts a worker: `python -s -P -B -c _BOOT ROOT CONFIG`, ROOT being the folder that
# holds the parent's fdd package. ROOT is on sys.path only while `fdd` itself is imported (an empty
# __init__), so files next to the package cannot shadow the standard library in the worker.
# A worker ignores the stop signals schedulers send to every process of a job (SIGTERM; SIGUSR1/2
# of SLURM's --signal): the parent stops the run and then kills its workers; a worker that died
# first would have its program blamed as a crash. A parent killed outright leaves them EOF: they exit.
_BOOT = ("import signal; [signal.signal(s, signal.SIG_IGN) for s in (signal.SIGTERM, signal.SIGUSR1, "
         "signal.SIGUSR2)]; "
         "import sys; root = sys.argv[1]; sys.path.insert(0, root); import fdd; sys.path.remove(root); "
         "import json; from fdd.sandbox.worker import _worker_main; _worker_main(json.loads(sys.argv[2]))")
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # holds fdd/

_ENV_KEEP = ("PATH", "LD_LIBRARY_PATH", "LANG", "TMPDIR", "FDD_SANDBOX_DEBUG")


def _worker_env() -> dict[str, str]:
    """A scrubbed environment: API keys and tokens of the caller are not the programs' business."""
    env = {k: v for k, v in os.environ.items() if k in _ENV_KEEP or k.startswith(("LC_", "SYMPY_"))}
    return env | {"PYTHONHASHSEED": "0"}


class _Worker:
    """One worker process and the chunk it is running."""

    def __init__(self, cmd: list[str]) -> None:
        self.proc = subprocess.Popen(  # FDD_SANDBOX_DEBUG=1 keeps the workers' stderr (tracebacks)
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=None if os.environ.get("FDD_SANDBOX_DEBUG") else subprocess.DEVNULL, env=_worker_env(),
            close_fds=True, start_new_session=True, bufsize=0,
        )
        self.ready = False
        self.buffer = b""
        self.chunk: list[int] = []  # indices (into the unique-program list) being run
        self.done = 0
        self.deadline = 0.0
        self.started = time.monotonic()

    @property
    def busy(self) -> bool:
        return self.done < len(self.chunk)

    def send(self, programs: list[str]) -> None:
        payload = json.dumps(programs).encode()
        self.proc.stdin.write(struct.pack("<I", len(payload)) + payload)  # type: ignore[union-attr]

    def kill(self) -> None:
        """Kill the worker's whole process group (nothing it started survives), then reap it."""
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()  # type: ignore[union-attr]
            except OSError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _crash_outcome(returncode: int | None) -> Outcome:
    if returncode == -signal.SIGXCPU:
        return Outcome(None, "timeout", "CPU time limit exceeded")
    if returncode == -signal.SIGKILL:
        return Outcome(None, "memory", "worker was killed (out of memory?)")
    if returncode == -signal.SIGSYS:
        return Outcome(None, "forbidden", "blocked system call")
    return Outcome(None, "runtime", f"worker crashed (exit status {returncode})")


def _close_workers(workers: list[_Worker]) -> None:
    for w in workers:
        w.kill()
    workers.clear()


class Executor:
    """A pool of sandboxed worker processes, reused across programs and calls to `run`.

    timeout is wall-clock seconds per program; memory_mb is the address space a program may add on
    top of the worker's own; max_output caps printed characters; grace is how long past timeout
    the parent waits before killing an unresponsive worker. Workers start at construction (about
    0.5 s, in parallel, sympy preloaded) so the first batch does not pay for it. Thread-safe:
    concurrent `run` calls are serialised.
    """

    def __init__(self, workers: int | None = None, timeout: float = 2.0, memory_mb: int = 512,
                 max_output: int = 10_000, grace: float = 1.0, chunk_size: int = 32,
                 seccomp: bool = True, start_timeout: float = 60.0, max_program_chars: int = 100_000) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        if workers is None:
            workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.n_workers = max(1, int(workers))
        self.timeout = float(timeout)
        self.grace = float(grace)
        self.chunk_size = max(1, int(chunk_size))
        self.start_timeout = float(start_timeout)
        self.max_program_chars = int(max_program_chars)
        config = {"timeout": self.timeout, "memory_mb": int(memory_mb), "max_output": int(max_output),
                  "seccomp": bool(seccomp)}
        # -s -P (with the scrubbed environment: what -I gives) plus a fixed hash seed, so answers
        # that depend on set/dict-of-str order are the same in every worker and every run.
        self._cmd = [sys.executable, "-s", "-P", "-B", "-c", _BOOT, _ROOT, json.dumps(config)]
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._finalizer = weakref.finalize(self, _close_workers, self._workers)
        self._pid = os.getpid()
        self._closed = False
        self.seccomp_active = False  # known after the first run: whether workers report their filter on
        self._spawn_all()

    def _spawn_all(self) -> None:
        while len(self._workers) < self.n_workers:
            self._workers.append(_Worker(self._cmd))

    def close(self) -> None:
        """Stop all workers (idempotent)."""
        self._closed = True
        if os.getpid() == self._pid:
            _close_workers(self._workers)
        else:
            self._workers.clear()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for tests and monitoring)."""
        return [w.proc.pid for w in self._workers]

    def run(self, programs: Sequence[str]) -> list[Outcome]:
        """Execute each program; one Outcome per program, in input order. Identical programs run once."""
        programs = [p if isinstance(p, str) else str(p) for p in programs]
        with self._lock:
            if self._closed:
                raise RuntimeError("Executor is closed")
            if os.getpid() != self._pid:  # forked: the pipes belong to the parent process
                self._workers.clear()
                self._pid = os.getpid()
            too_long = Outcome(None, "forbidden", f"program longer than {self.max_program_chars} characters")
            unique: dict[str, int] = {}
            order = [-1 if len(p) > self.max_program_chars else unique.setdefault(p, len(unique)) for p in programs]
            results = self._run_unique(list(unique))
        return [results[i] if i >= 0 else too_long for i in order]

    def _run_unique(self, programs: list[str]) -> list[Outcome]:
        n = len(programs)
        results: list[Outcome | None] = [None] * n
        if n == 0:
            return []
        size = max(1, min(self.chunk_size, math.ceil(n / (self.n_workers * 4))))
        queue: deque[list[int]] = deque(list(range(i, min(i + size, n))) for i in range(0, n, size))
        self._spawn_all()
        sel = selectors.DefaultSelector()
        for w in self._workers:
            sel.register(w.proc.stdout, selectors.EVENT_READ, w)  # type: ignore[arg-type]
        remaining = n
        try:
            while remaining:
                now = time.monotonic()
                for w in list(self._workers):
                    if w.ready and not w.busy and queue:
                        w.chunk, w.done = queue.popleft(), 0
                        w.deadline = now + self.timeout + self.grace
                        try:
                            w.send([programs[i] for i in w.chunk])
                        except OSError:
                            pass  # it died: EOF on its stdout handles it below
                wait = min((w.deadline for w in self._workers if w.busy), default=now + 0.5)
                events = sel.select(timeout=max(0.0, min(wait - now, 0.5)))
                for key, _ in events:
                    w = key.data
                    data = os.read(key.fd, 1 << 16)
                    if not data:
                        remaining -= self._replace(w, sel, queue, results, None)
                        continue
                    w.buffer += data
                    *lines, w.buffer = w.buffer.split(b"\n")
                    for line in lines:
                        if not w.ready:
                            w.ready = line.startswith(b"ready")
                            self.seccomp_active = line == b"ready 1"
                            continue
                        if not w.busy:
                            continue  # protocol confusion: ignore (cannot happen with our worker)
                        answer, error, message = json.loads(line)
                        results[w.chunk[w.done]] = Outcome(answer, error, message)
                        w.done += 1
                        remaining -= 1
                        w.deadline = time.monotonic() + self.timeout + self.grace
                now = time.monotonic()
                for w in list(self._workers):
                    if not w.ready and now > w.started + self.start_timeout:
                        raise RuntimeError("sandbox worker failed to start")
                    if w.busy and now > w.deadline:
                        timeout = Outcome(None, "timeout", f"exceeded {self.timeout:g}s (worker killed)")
                        remaining -= self._replace(w, sel, queue, results, timeout)
        except BaseException:
            # Interrupted (e.g. KeyboardInterrupt): results still in flight would be read by the
            # next call and misattributed, so busy workers are killed; fresh ones start on demand.
            for w in [w for w in self._workers if w.busy or not w.ready]:
                w.kill()
                self._workers.remove(w)
            raise
        finally:
            sel.close()
        return results  # type: ignore[return-value]

    def _replace(self, w: _Worker, sel: selectors.BaseSelector, queue: deque[list[int]],
                 results: list[Outcome | None], outcome: Outcome | None) -> int:
        """Kill/reap a dead or stuck worker, blame its current program, requeue the rest."""
        sel.unregister(w.proc.stdout)  # type: ignore[arg-type]
        if outcome is None:
            try:
                w.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            outcome = _crash_outcome(w.proc.returncode)
            if not w.ready:
                w.kill()
                raise RuntimeError(f"sandbox worker failed to start (exit status {w.proc.returncode})")
        w.kill()
        blamed = 0
        if w.busy:
            results[w.chunk[w.done]] = outcome
            blamed = 1
            rest = w.chunk[w.done + 1:]
            if rest:
                queue.appendleft(rest)
        self._workers.remove(w)
        fresh = _Worker(self._cmd)
        self._workers.append(fresh)
        sel.register(fresh.proc.stdout, selectors.EVENT_READ, fresh)  # type: ignore[arg-type]
        return blamed


_SHARED: Executor | None = None
_SHARED_LOCK = threading.Lock()


def get_executor() -> Executor:
    """The process-wide shared Executor, created on first use and closed at interpreter exit."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None or _SHARED._closed:
            _SHARED = Executor()
            atexit.register(_SHARED.close)
        return _SHARED


def execute(programs: Sequence[str]) -> list[Outcome]:
    """Run programs on the shared executor (see the module docstring for the answer convention)."""
    return get_executor().run(programs)

