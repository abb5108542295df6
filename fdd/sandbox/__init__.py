"""The PoT sandbox: run many untrusted Program-of-Thought programs safely and fast.

Every teacher rationale and every student generation is executed, thousands per round, and any
of them may loop forever, eat memory or try `import os`. Callers use one API:

    from fdd.sandbox import execute, Executor
    execute(programs)                    # shared pool, created on first use
    with Executor(workers=2, timeout=1) as ex:
        ex.run(programs)                 # -> one Outcome per program, in input order

The answer is ``ans``, else ``solution()``, else the last assigned variable, as a float
(answer.py). Programs may ``print``; printing more than ``max_output`` characters is
"output_limit". Error kinds (`ERRORS`): "syntax", "runtime" (raised, no answer, bad answer,
``SystemExit``, worker crash), "timeout" (wall clock or CPU limit), "memory" (``MemoryError``,
address-space limit, exact results too large to build), "forbidden" (a construct, import or call
the sandbox refuses), "output_limit".

Threat model (docs/sandbox.md has it in full). The programs are untrusted: mostly accidents
(infinite loops, huge numbers), but a teacher behind an API or a fine-tuned student may also emit
code that tries to reach the host. This is a language-level sandbox inside a locked-down worker
process, not a kernel boundary: it must stop a program from starting processes, opening sockets,
writing files, patching shared state or hanging the run, at thousands of programs per second. It
does not stop a Python-level escape from reading files the user can read, and it has no syscall
filter off x86-64 Linux. The layers, each next to the code that enforces it:

* policy.py     what a program may contain: AST check (no ``_`` attributes, no dunder names, no
                frame/code attributes, no attribute stores, classes, async, escape builtins),
                the import allow-list; ``**`` and ``.format`` rewritten into checked calls;
* builtins.py   what it may call: restricted builtins, read-only proxy modules, refusing sympy
                string entry points and library eval/exec, exact powers capped at `MAX_INT_BITS`;
* worker.py     one process under limits: RLIMIT_AS/CPU/FSIZE/CORE, recursion limit, a timer
                per program, /dev/null for fds 0-2, and seccomp.py (no exec, fork, sockets,
                ptrace, signals to others, writable opens);
* pool.py       the parent: scrubbed environment, one process group per worker, a watchdog that
                kills a worker past timeout + grace and starts a replacement; the batch goes on;
* state.py      the running program's sticky outcome (a program that catches our exceptions is
                still reported); outcome.py the `Outcome` record; __main__.py the CLI
                (`python -m fdd.sandbox FILE.jsonl`, also reachable as `python -m fdd.execution`).

Names with a leading underscore are private to this package (its modules share them; tests reach
them to attack each layer alone). This package imports only the standard library (sympy inside the
workers): no model code, no torch.
"""

from fdd.sandbox.builtins import MAX_INT_BITS
from fdd.sandbox.outcome import ERRORS, Outcome
from fdd.sandbox.policy import check_program, compile_program
from fdd.sandbox.pool import Executor, execute, get_executor

__all__ = ["ERRORS", "MAX_INT_BITS", "Executor", "Outcome", "check_program", "compile_program", "execute",
           "get_executor"]
