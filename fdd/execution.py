"""Former home of the PoT sandbox, kept as an alias: the code lives in the package fdd/sandbox/.

`from fdd.execution import execute, Executor, Outcome, ...` and `python -m fdd.execution
FILE.jsonl` keep working; new code imports from `fdd.sandbox`.
"""

from fdd.sandbox import (
    ERRORS,
    MAX_INT_BITS,
    Executor,
    Outcome,
    check_program,
    compile_program,
    execute,
    get_executor,
)

__all__ = ["ERRORS", "MAX_INT_BITS", "Executor", "Outcome", "check_program", "compile_program", "execute",
           "get_executor"]

if __name__ == "__main__":
    import sys

    from fdd.sandbox.__main__ import main

    sys.exit(main(prog="python -m fdd.execution"))
