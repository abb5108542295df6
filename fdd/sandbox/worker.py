"""One worker process: runs programs one at a time under per-process and per-program limits.

The third layer of the threat model (see the package docstring). At start-up the worker preloads
and warms sympy, neuters sympy's string entry points and guards eval/exec/compile
(fdd/sandbox/builtins.py), sets RLIMIT_AS (memory over its own size), RLIMIT_FSIZE=0 and
RLIMIT_CORE=0, installs the seccomp filter (fdd/sandbox/seccomp.py) and the recursion limit; then,
for every program, it re-arms RLIMIT_CPU and an interval timer, and resets the decimal context.

Protocol (with fdd/sandbox/pool.py): the worker prints ``ready 0|1`` (1: seccomp filter on), then
reads length-prefixed JSON lists of programs on stdin and writes one ``[answer, error, message]``
JSON line per program on its original stdout; fds 0-2 point at /dev/null so C code that prints
cannot corrupt the protocol. The pool starts it as a fresh ``python -s -P`` process (`pool._BOOT`).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import struct
import sys
import types

from fdd.sandbox.answer import _answer_value, _BadAnswer
from fdd.sandbox.builtins import _REAL_EXEC, _build_builtins, _build_proxies, _guard_builtins, _neuter_sympy
from fdd.sandbox.outcome import Outcome, _short
from fdd.sandbox.policy import compile_program
from fdd.sandbox.seccomp import _install_seccomp
from fdd.sandbox.state import _STATE, _OutputLimit, _Timeout


class _Sandbox:
    """Runs programs one at a time inside a worker, with the per-program limits armed."""

    def __init__(self, timeout: float, max_output: int) -> None:
        self.timeout = timeout
        self.max_output = max_output
        self.proxies = _build_proxies()
        self.builtins = _build_builtins(self.proxies)
        self.cache: dict[str, tuple[types.CodeType, str | None] | Outcome] = {}
        self.recursion_limit = 1000 + _depth()

    def run(self, source: str) -> Outcome:
        import decimal

        _STATE.reset(self.max_output)
        decimal.setcontext(decimal.Context())
        _arm_cpu_limit(self.timeout)
        try:
            try:
                _STATE.active = True
                # past the timeout, _Timeout again every 10 ms: a program whose bare `except:` swallows
                # it ends at the first one raised outside its `try` body, well inside the pool's grace
                signal.setitimer(signal.ITIMER_REAL, self.timeout, 0.01)
                outcome = self._run(source)
            finally:
                _STATE.active = False
                signal.setitimer(signal.ITIMER_REAL, 0)
        except (_Timeout, _OutputLimit):
            outcome = Outcome(None, "timeout", "wall-clock time limit exceeded")
        except MemoryError:
            outcome = Outcome(None, "memory", "memory limit exceeded")
        except BaseException as e:  # noqa: BLE001 - a failure in our own code must not kill the worker
            outcome = Outcome(None, "runtime", _exception_message(e))
        return _STATE.first or outcome

    def _run(self, source: str) -> Outcome:
        compiled = self.cache.get(source)
        if compiled is None:
            compiled = compile_program(source)
            if len(self.cache) >= 20_000:
                self.cache.clear()
            self.cache[source] = compiled
        if isinstance(compiled, Outcome):
            return compiled
        code, name = compiled
        env: dict[str, object] = {"__builtins__": dict(self.builtins), "__name__": "__main__"}
        try:
            _REAL_EXEC(code, env)
            return Outcome(_answer_value(env, name, source))
        except _BadAnswer as e:
            return Outcome(None, "runtime", str(e))
        except (_Timeout, _OutputLimit):
            raise
        except MemoryError as e:
            return Outcome(None, "memory", _short(f"MemoryError: {e or 'memory limit exceeded'}"))
        except BaseException as e:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, ... all end here
            return Outcome(None, "runtime", _exception_message(e))
        finally:
            env.clear()  # break function <-> globals cycles now, not at the next gc


def _exception_message(e: BaseException) -> str:
    try:
        return _short(f"{type(e).__name__}: {str(e)[:1000]}")
    except Exception:  # noqa: BLE001 - str() of the payload can fail (e.g. huge int)
        return type(e).__name__


def _depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def _arm_cpu_limit(timeout: float) -> None:
    """Soft RLIMIT_CPU just past this program's budget: SIGXCPU kills a worker stuck in C code."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + timeout) + 2
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _on_alarm(signum: int, frame: object) -> None:
    if _STATE.active:
        _STATE.hit("timeout", "wall-clock time limit exceeded")
        raise _Timeout()


def _vm_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _set_process_limits(memory_mb: int) -> None:
    import resource

    def limit(kind: int, value: int) -> None:
        try:
            resource.setrlimit(kind, (value, resource.getrlimit(kind)[1]) if value > 0 else (0, 0))
        except (ValueError, OSError):
            pass

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past FSIZE fail with EFBIG, not a kill
    limit(resource.RLIMIT_FSIZE, 0)
    limit(resource.RLIMIT_CORE, 0)
    if memory_mb > 0:
        limit(resource.RLIMIT_AS, _vm_bytes() + memory_mb * 1024 * 1024)


def _warm_up_sympy() -> None:
    """Import sympy and the submodules it loads lazily (~0.5 s, once per worker), so programs that
    use it start in microseconds and no library import happens while a program runs."""
    try:
        import sympy
    except ImportError:
        return
    try:
        x, y = sympy.symbols("x y")
        sympy.solve(x**2 - 4, x)
        sympy.solve([x + y - 3, x - y - 1], [x, y])
        sympy.solve(sympy.Eq(2 * x + 3, 11), x)
        sympy.factor(x**2 - 1), sympy.simplify((x**2 - 1) / (x - 1)), sympy.expand((x + 1) ** 3)
        sympy.solveset(x**2 - 1, x), sympy.linsolve([x + y - 2, x - y], (x, y))
        float(sympy.sqrt(2) * sympy.pi), sympy.N(sympy.E), sympy.Integral(x**2, (x, 0, 1)).evalf()
    except Exception:  # noqa: BLE001 - a warm-up only
        pass


def _worker_main(config: dict) -> None:
    """Worker loop: read a length-prefixed JSON list of programs, stream one JSON line per result."""
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1) if os.environ.get("FDD_SANDBOX_DEBUG") else (0, 1, 2):
        os.dup2(devnull, fd)  # C code that prints must not corrupt the protocol
    os.close(devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _on_alarm)
    sys.set_int_max_str_digits(4300)
    _warm_up_sympy()
    _neuter_sympy()
    _guard_builtins()
    box = _Sandbox(float(config["timeout"]), int(config["max_output"]))
    _set_process_limits(int(config["memory_mb"]))
    filtered = bool(config.get("seccomp", True)) and _install_seccomp()
    sys.setrecursionlimit(box.recursion_limit)
    reader = os.fdopen(in_fd, "rb")
    os.write(out_fd, b"ready %d\n" % filtered)
    while True:
        header = reader.read(4)
        if len(header) < 4:
            return
        programs = json.loads(reader.read(struct.unpack("<I", header)[0]))
        for source in programs:
            o = box.run(source)
            if o.error == "memory":  # give back what the program left in cycles and caches
                gc.collect()
                if "sympy" in sys.modules:
                    sys.modules["sympy"].core.cache.clear_cache()
            line = json.dumps([o.answer, o.error, o.message]) + "\n"
            os.write(out_fd, line.encode())

