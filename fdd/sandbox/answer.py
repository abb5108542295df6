"""The answer convention: which value of a finished program is its answer, and as what number.

1. the value of the variable ``ans`` if the program defines it (at module level);
2. else the return value of ``solution()`` if the program defines that function;
3. else the final value of the variable bound by the last top-level assignment.

The answer must be a number: int, float, ``fractions.Fraction``, ``decimal.Decimal`` or a numeric
sympy expression. It is returned as a float (an int too large for a float becomes +-inf; inf/nan
are passed through, callers check finiteness). A bool, string, list, complex, ... is refused
(`_BadAnswer`, reported as a "runtime" error).
"""

from __future__ import annotations

import ast
import math
import sys

from fdd.sandbox.outcome import _short

_LAZY = "\0lazy"  # answer name not computed yet (fast path): parse only if it is ever needed


def _answer_name(tree: ast.Module) -> str | None:
    """Variable bound by the last top-level assignment (fallback answer convention)."""
    for stmt in reversed(tree.body):
        targets: list[ast.expr] = []
        if isinstance(stmt, ast.Assign):
            targets = stmt.targets
        elif isinstance(stmt, ast.AugAssign | ast.AnnAssign):
            targets = [stmt.target]
        names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        if names:
            return names[-1]
    return None


class _BadAnswer(Exception):
    """The program finished without a numeric answer (reported as "runtime")."""


def _to_float(value: object) -> float:
    """Answer value -> float, or raise _BadAnswer saying why it is not a number."""
    from decimal import Decimal
    from fractions import Fraction

    if isinstance(value, bool):
        raise _BadAnswer("answer is a bool, not a number")
    if isinstance(value, float):
        return value
    if isinstance(value, int | Fraction | Decimal):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf  # type: ignore[operator]
    sympy = sys.modules.get("sympy")
    if sympy is not None and isinstance(value, sympy.Basic) and getattr(value, "is_number", False):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value.is_positive else -math.inf  # type: ignore[attr-defined]
        except TypeError:
            raise _BadAnswer(f"answer {_short(str(value))} is not a real number") from None
    raise _BadAnswer(f"answer is a {type(value).__name__}, not a number")


def _answer_value(env: dict[str, object], name: str | None, source: str) -> float:
    """The answer of a program that ran in `env` (may call its `solution()`), as a float.

    `name` is the last assigned variable, or `_LAZY` to find it from `source` only when needed.
    Raises `_BadAnswer` when there is no answer or it is not a number.
    """
    if "ans" in env:
        value = env["ans"]
    elif callable(env.get("solution")):
        value = env["solution"]()  # type: ignore[operator]
    elif (name := _answer_name(ast.parse(source)) if name == _LAZY else name) is not None and name in env:
        value = env[name]
    else:
        raise _BadAnswer("no answer: define `ans`, `solution()` or assign a variable")
    return _to_float(value)
