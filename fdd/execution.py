"""The PoT sandbox: run many untrusted Program-of-Thought programs safely and fast.

Every teacher rationale and every student generation is executed, thousands per round, and any
of them may loop forever, eat memory or try `import os`. `Executor.run` sends programs in chunks
to a pool of pre-started worker processes and returns one `Outcome` per program, in input order.

Answer convention (shared by every rationale format that executes code):

1. the value of the variable ``ans`` if the program defines it (at module level);
2. else the return value of ``solution()`` if the program defines that function;
3. else the final value of the variable bound by the last top-level assignment.

The answer must be a number: int, float, ``fractions.Fraction``, ``decimal.Decimal`` or a numeric
sympy expression. It is returned as a float (an int too large for a float becomes +-inf; inf/nan
are passed through, callers check finiteness). A bool, string, list, complex, ... is a "runtime"
error. Programs may ``print``; printing more than ``max_output`` characters is "output_limit".

Error kinds (`ERRORS`): "syntax" (does not parse), "runtime" (raised, no answer, bad answer,
``SystemExit``, worker crash), "timeout" (wall clock or CPU limit), "memory" (``MemoryError``,
address-space limit, integer results too large to build), "forbidden" (a construct or import the
sandbox refuses), "output_limit".

Defences, in layers (see docs/sandbox.md for the threat model):

* Static check before running: no attribute starting with ``_`` and no name starting with
  ``__`` (except reading ``__name__``), no frame/code/traceback attributes (``gi_frame``,
  ``f_back``, ``tb_frame``, ...), no attribute access inside ``str.format``/``format_map``
  templates (checked when called), no attribute assignment or deletion, no class definitions (so no metaclasses), no
  async code, no ``eval``/``exec``/``compile``/``open``/``getattr``/``vars``/``type``/... names,
  imports only from the allow-list. Clean programs are recognised from their compiled code
  objects (fast); anything that might matter takes the authoritative AST path.
* Restricted builtins (a fresh copy per program): pure functions and exceptions only; ``print``
  counts output and discards it; ``__import__`` hands out read-only proxy modules with a vetted
  subset of: math, cmath, fractions, decimal, statistics, itertools, functools, datetime, sympy,
  sympy.abc. Nothing else is importable (no os, sys, re, random, operator, ...).
* sympy turns strings into code (``sympify``/``S``/``parse_expr`` call eval, ``lambdify`` and
  ``nsolve`` call exec): those entry points refuse, and the real ``eval``/``exec``/``compile``
  refuse any library caller not on a short list while a program runs.
* ``**`` and ``pow`` refuse exact (int/Fraction/sympy Rational) results over ``MAX_INT_BITS`` bits.
* Worker process limits: RLIMIT_AS (memory), RLIMIT_CPU (re-armed per program), RLIMIT_FSIZE=0,
  RLIMIT_CORE=0, recursion limit, an interval timer per program, and (on x86-64 Linux) a seccomp
  filter that makes exec, fork/clone, sockets, ptrace and writable opens fail with EPERM.
* The parent kills a worker that overruns timeout + grace (e.g. ``10**10**8`` computed in C holds
  the GIL and ignores signals), reports "timeout" and starts a replacement; the batch goes on.

Workers are fresh ``python -s -P`` processes (scrubbed environment) running this file (never a fork of the caller, which may
hold torch threads), each in its own process group so nothing they start can outlive them.
"""

from __future__ import annotations

import ast
import atexit
import gc
import json
import math
import numbers
import os
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time
import types
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

ERRORS = ("syntax", "runtime", "timeout", "memory", "forbidden", "output_limit")

MAX_INT_BITS = 1 << 22  # ~1.26M decimal digits: instant to build, far beyond any word problem
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


# ----------------------------------------------------------------------------------------------
# Static checks (run in the worker, but pure functions: importable and testable anywhere)
# ----------------------------------------------------------------------------------------------

_ALLOWED_MODULES = (
    "math", "cmath", "fractions", "decimal", "statistics", "itertools", "functools", "datetime",
    "sympy", "sympy.abc",
)
# Names that only exist to escape or to reach the host; a program may still use them as its own
# variable names (e.g. `type = 3`), which is why this is checked against the names it binds.
_BLOCKED_NAMES = frozenset({
    "eval", "exec", "compile", "open", "input", "breakpoint", "help", "globals", "locals", "vars",
    "dir", "getattr", "setattr", "delattr", "memoryview", "type", "object", "super", "exit", "quit",
    "classmethod", "staticmethod", "property", "copyright", "credits", "license",
})
_BLOCKED_ATTRS = frozenset({"vformat", "mro", "with_traceback"})
# str.format/format_map can read attributes from inside the template ('{0.__class__}'): reading
# these attributes is rewritten into a call that checks the template first (see _format_attr).
_FORMAT_ATTRS = frozenset({"format", "format_map"})
_BLOCKED_ATTR_PREFIXES = ("_", "gi_", "cr_", "ag_", "f_", "tb_", "co_", "func_")
_FORBIDDEN_NODES = (ast.ClassDef, ast.AsyncFunctionDef, ast.Await, ast.AsyncFor, ast.AsyncWith)
_POW, _FMT = "__fdd_pow", "__fdd_format"  # programs cannot spell dunder names, so cannot shadow these


class _Forbidden(Exception):
    pass


def _bad_identifier(name: str) -> bool:
    return name.startswith("__") and name != "__name__"


def check_program(tree: ast.Module) -> str | None:
    """Return why the program is forbidden, or None. Iterative walk: deep nesting cannot overflow."""
    bound: set[str] = set()
    loads: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, _FORBIDDEN_NODES):
            return f"{type(node).__name__} is not allowed"
        if isinstance(node, ast.Attribute | ast.MatchClass):  # `case C(attr=x)` reads x.attr
            for attr in [node.attr] if isinstance(node, ast.Attribute) else node.kwd_attrs:
                if attr in _BLOCKED_ATTRS or attr.startswith(_BLOCKED_ATTR_PREFIXES):
                    return f"attribute {attr!r} is not allowed"
            if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
                return "assigning or deleting attributes is not allowed"
        elif isinstance(node, ast.Name):
            if _bad_identifier(node.id) or (node.id == "__name__" and not isinstance(node.ctx, ast.Load)):
                return f"name {node.id!r} is not allowed"
            if isinstance(node.ctx, ast.Load):
                loads.append(node.id)
            else:
                bound.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom):
                if node.level or node.module not in _ALLOWED_MODULES:
                    return f"import of {'.' * node.level}{node.module or ''} is not allowed"
            for alias in node.names:
                if isinstance(node, ast.Import) and alias.name not in _ALLOWED_MODULES:
                    return f"import of {alias.name} is not allowed"
                if alias.name.startswith("_") or (alias.asname or "").startswith("__"):
                    return f"import of {alias.name} is not allowed"
                bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.Lambda):
            if isinstance(node, ast.FunctionDef):
                if _bad_identifier(node.name):
                    return f"name {node.name!r} is not allowed"
                bound.add(node.name)
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
                if arg is not None:
                    if _bad_identifier(arg.arg):
                        return f"name {arg.arg!r} is not allowed"
                    bound.add(arg.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            if _bad_identifier(node.name):
                return f"name {node.name!r} is not allowed"
            bound.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            if any(_bad_identifier(n) for n in node.names):
                return "dunder names are not allowed"
        elif isinstance(node, ast.keyword) and node.arg and _bad_identifier(node.arg):
            return f"keyword {node.arg!r} is not allowed"
    for name in loads:
        if name in _BLOCKED_NAMES and name not in bound:
            return f"{name} is not allowed"
    return None


class _Rewriter(ast.NodeTransformer):
    """`a ** b` -> `__fdd_pow(a, b)`, so `10**10**8` fails fast instead of hanging in C; and
    `x.format` -> `__fdd_format(x, 'format')`, which refuses templates that read attributes."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Pow):
            call = ast.Call(ast.Name(_POW, ast.Load()), [node.left, node.right], [])
            return ast.copy_location(call, node)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Pow) and isinstance(node.target, ast.Name):
            value = ast.Call(ast.Name(_POW, ast.Load()), [ast.Name(node.target.id, ast.Load()), node.value], [])
            return ast.copy_location(ast.Assign([node.target], value), node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if node.attr in _FORMAT_ATTRS and isinstance(node.ctx, ast.Load):
            call = ast.Call(ast.Name(_FMT, ast.Load()), [node.value, ast.Constant(node.attr)], [])
            return ast.copy_location(call, node)
        return node


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


# Fast path. Building and walking a Python AST costs ~4x more than compiling straight from source,
# so a program is first compiled directly and its code objects scanned: names (attribute and
# global names all land in co_names), local names, keyword-name constants, opcodes and flags. A
# program passes only if nothing in it could matter to `check_program`; anything that might (an
# underscore name, an import, `**`, an attribute store, a class, a match class pattern, ...) takes
# the AST path, which is authoritative. The scan is conservative: it may send clean programs to
# the AST path, never the reverse.
def _fast_scan_tables() -> tuple[frozenset[int], tuple[bytes, ...]] | None:
    import dis
    import opcode

    names = ("LOAD_BUILD_CLASS", "STORE_ATTR", "DELETE_ATTR", "MATCH_CLASS", "MATCH_MAPPING",
             "MATCH_SEQUENCE", "MATCH_KEYS", "IMPORT_NAME", "IMPORT_FROM", "IMPORT_STAR", "SETUP_ANNOTATIONS")
    nb_ops = getattr(dis, "_nb_ops", None)
    if sys.version_info < (3, 11) or "BINARY_OP" not in opcode.opmap or not nb_ops:
        return None
    pow_args = [i for i, (n, _) in enumerate(nb_ops) if n in ("NB_POWER", "NB_INPLACE_POWER")]
    if len(pow_args) != 2 or max(pow_args) > 255:
        return None
    binary_op = opcode.opmap["BINARY_OP"]
    return (frozenset(opcode.opmap[n] for n in names if n in opcode.opmap),
            tuple(bytes([binary_op, a]) for a in pow_args))


_FAST = _fast_scan_tables()
_ASYNC_FLAGS = 0x80 | 0x100 | 0x200  # CO_COROUTINE, CO_ITERABLE_COROUTINE, CO_ASYNC_GENERATOR
_LAZY = "\0lazy"  # answer name not computed yet (fast path): parse only if it is ever needed


def _clean_code(code: types.CodeType) -> bool:
    bad_ops, pow_patterns = _FAST  # type: ignore[misc]
    stack = [code]
    while stack:
        c = stack.pop()
        raw = c.co_code
        if c.co_flags & _ASYNC_FLAGS or not bad_ops.isdisjoint(raw[::2]) or any(p in raw for p in pow_patterns):
            return False
        for n in c.co_names:
            if n.startswith(_BLOCKED_ATTR_PREFIXES) or n in _BLOCKED_ATTRS or n in _BLOCKED_NAMES or n in _FORMAT_ATTRS:
                return False
        for n in (*c.co_varnames, *c.co_cellvars, *c.co_freevars):
            if n.startswith("__"):
                return False
        for k in c.co_consts:
            if isinstance(k, types.CodeType):
                stack.append(k)
            elif isinstance(k, tuple) and any(isinstance(s, str) and s.startswith("__") for s in k):
                return False
    return True


def compile_program(source: str) -> tuple[types.CodeType, str | None] | Outcome:
    """Parse, check and compile; an Outcome means it failed ("syntax" or "forbidden")."""
    if _FAST is not None:
        try:
            code = _REAL_COMPILE(source, "<program>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
            code = None  # the AST path below reports it
        if code is not None and _clean_code(code):
            return code, _LAZY
    try:
        tree = ast.parse(source, "<program>", "exec")
    except (SyntaxError, ValueError, OverflowError) as e:  # ValueError: NUL bytes
        return Outcome(None, "syntax", _short(f"{type(e).__name__}: {e}"))
    except (RecursionError, MemoryError):
        return Outcome(None, "syntax", "program is nested too deeply")
    why = check_program(tree)
    if why:
        return Outcome(None, "forbidden", why)
    name = _answer_name(tree)
    tree = ast.fix_missing_locations(_Rewriter().visit(tree))
    try:
        return _REAL_COMPILE(tree, "<program>", "exec", dont_inherit=True), name
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        return Outcome(None, "syntax", _short(f"{type(e).__name__}: {e}"))


def _short(text: str) -> str:
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 3] + "..."


# ----------------------------------------------------------------------------------------------
# Worker side: the namespace programs run in
# ----------------------------------------------------------------------------------------------

_SAFE_BUILTINS = (
    "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr", "complex",
    "dict", "divmod", "enumerate", "filter", "float", "frozenset", "hash", "hex", "int",
    "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next", "oct", "ord",
    "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip",
    "format", "True", "False", "None", "NotImplemented", "Ellipsis",
    "ArithmeticError", "AssertionError", "AttributeError", "Exception", "IndexError", "KeyError",
    "LookupError", "NameError", "NotImplementedError", "OverflowError", "RecursionError",
    "RuntimeError", "StopIteration", "SystemExit", "TypeError", "ValueError", "ZeroDivisionError",
)
_MODULE_EXPORTS: dict[str, tuple[str, ...] | None] = {  # None: every public name
    "math": None,
    "cmath": None,
    "itertools": None,
    "fractions": ("Fraction",),
    "decimal": (
        "Decimal", "Context", "getcontext", "localcontext", "DecimalException", "InvalidOperation",
        "DivisionByZero", "Overflow", "Inexact", "Rounded", "ROUND_CEILING", "ROUND_DOWN",
        "ROUND_FLOOR", "ROUND_HALF_DOWN", "ROUND_HALF_EVEN", "ROUND_HALF_UP", "ROUND_UP", "ROUND_05UP",
    ),
    "statistics": (
        "mean", "fmean", "geometric_mean", "harmonic_mean", "median", "median_low", "median_high",
        "median_grouped", "mode", "multimode", "pstdev", "pvariance", "stdev", "variance",
        "quantiles", "StatisticsError",
    ),
    "functools": ("reduce", "partial", "lru_cache", "cache", "cmp_to_key"),
    "datetime": ("date", "datetime", "timedelta", "MINYEAR", "MAXYEAR"),
    "sympy": tuple("""symbols Symbol Eq Ne Lt Le Gt Ge solve solveset linsolve nonlinsolve
        Rational Integer Float Number simplify nsimplify expand factor collect cancel apart together
        sqrt cbrt root N pi E I oo zoo nan Abs floor ceiling Mod gcd lcm igcd ilcm factorial
        binomial log ln exp sin cos tan cot sec csc asin acos atan atan2 sinh cosh tanh Matrix Sum
        summation Product product Poly roots real_roots diff integrate limit Min Max Interval S
        Reals Integers isprime prime primefactors factorint divisors totient nextprime prevprime re
        im sign Piecewise And Or Not FiniteSet Union Intersection Add Mul Pow Lambda Derivative
        Integral trunc frac fibonacci rad deg""".split()),
    "sympy.abc": None,
}


def _proxy(name: str, module: types.ModuleType, exports: Sequence[str] | None) -> types.ModuleType:
    """A module object holding only vetted, non-module attributes (programs cannot assign to it)."""
    names = exports if exports is not None else [n for n in dir(module) if not n.startswith("_")]
    proxy = types.ModuleType(name)
    public = []
    for n in names:
        value = getattr(module, n, None)
        if value is None or isinstance(value, types.ModuleType):
            continue
        setattr(proxy, n, value)
        public.append(n)
    proxy.__all__ = public
    hidden = {n for n in dir(module) if not n.startswith("__")} - set(public)

    def refuse_hidden(attr: str) -> object:  # module __getattr__ (PEP 562): only for missing names
        if attr in hidden:
            _STATE.hit("forbidden", f"{name}.{attr} is not allowed")
            raise _Forbidden(f"{name}.{attr} is not allowed")
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    proxy.__getattr__ = refuse_hidden  # type: ignore[method-assign]
    return proxy


def _build_proxies() -> dict[str, types.ModuleType]:
    import importlib

    proxies: dict[str, types.ModuleType] = {}
    for name, exports in _MODULE_EXPORTS.items():
        try:
            module = importlib.import_module(name)
        except ImportError:  # sympy is optional for the sandbox itself
            continue
        proxies[name] = _proxy(name, module, exports)
    if "sympy" in proxies and "sympy.abc" in proxies:
        proxies["sympy"].abc = proxies["sympy.abc"]
    return proxies


def _refuse(what: str):  # noqa: ANN202
    def refuse(*_args: object, **_kwargs: object) -> None:
        _STATE.hit("forbidden", f"{what} is not allowed")
        raise _Forbidden(f"{what} is not allowed")

    return refuse


def _neuter_sympy() -> None:
    """sympy turns strings into code (sympify/S/parse_expr use eval, lambdify/nsolve use exec).

    Every loaded binding of those entry points is replaced by one that refuses; `_guard_builtins`
    catches any other library path that evaluates a string while a program runs.
    """
    import importlib

    try:  # import_module: `sympy.utilities.lambdify` the attribute is the function, not the module
        parser = importlib.import_module("sympy.parsing.sympy_parser")
        lambdify_mod = importlib.import_module("sympy.utilities.lambdify")
    except ImportError:
        return
    originals = {id(getattr(parser, n)): n for n in ("parse_expr", "eval_expr", "stringify_expr")}
    originals[id(lambdify_mod.lambdify)] = "lambdify"
    for name, module in list(sys.modules.items()):
        if name.startswith("sympy") and module is not None:
            for attr, value in list(vars(module).items()):
                if id(value) in originals:
                    setattr(module, attr, _refuse(f"sympy {originals[id(value)]}"))


# Modules allowed to call eval/exec/compile while a program runs: code generated from integers or
# fixed tables (sympy polys), module code being imported (programs can only import vetted
# modules; libraries import their own), and the ast module (parse only). Anything else is refused.
_CODE_CALLERS = frozenset({
    "ast", "sympy.polys.monomials", "sympy.polys.ring_series", "collections", "dataclasses",
    "importlib._bootstrap", "importlib._bootstrap_external",  # lazy imports of library modules
})
_REAL_EXEC, _REAL_COMPILE = exec, compile


def _guard_builtins() -> None:
    """Make the real eval/exec/compile refuse library callers (sympy, ...) while a program runs."""
    import builtins

    for name in ("eval", "exec", "compile"):
        real = getattr(builtins, name)

        def guard(*args: object, _real: object = real, _name: str = name, **kwargs: object) -> object:
            if _STATE.active:
                caller = sys._getframe(1).f_globals.get("__name__", "?")
                if caller not in _CODE_CALLERS:
                    _STATE.hit("forbidden", f"{_name}() called by {caller} while a program runs")
                    raise _Forbidden(f"{_name}() is not allowed")
            return _real(*args, **kwargs)  # type: ignore[operator]

        setattr(builtins, name, guard)


class _Timeout(BaseException):
    pass


class _OutputLimit(BaseException):
    pass


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


def _safe_pow(base: object, exp: object, mod: object = None) -> object:
    """pow() that refuses exact results (int, Fraction, sympy Rational) over MAX_INT_BITS bits."""
    if mod is None and isinstance(exp, numbers.Integral) and isinstance(base, numbers.Rational):
        e = abs(int(exp))
        size = max(abs(int(base.numerator)), abs(int(base.denominator)))
        if e > 1 and size > 1 and (size.bit_length() - 1) * e > MAX_INT_BITS:
            raise MemoryError(f"exact power too large (more than {MAX_INT_BITS} bits)")
    return pow(base, exp, mod)  # type: ignore[call-overload]


def _check_template(template: str, depth: int = 0) -> None:
    """Refuse format templates whose fields read attributes ('{0.real}', '{x:{y.__class__}}')."""
    import _string

    for _literal, field, spec, _conversion in _string.formatter_parser(template):
        if field is not None and "." in field:
            _STATE.hit("forbidden", "attribute access in a format string is not allowed")
            raise _Forbidden("attribute access in a format string is not allowed")
        if spec and depth < 2:
            _check_template(spec, depth + 1)


def _safe_format(template: str, /, *args: object, **kwargs: object) -> str:
    if not isinstance(template, str):
        raise TypeError("format() needs a str template")
    _check_template(template)
    return template.format(*args, **kwargs)


def _safe_format_map(template: str, mapping: object, /) -> str:
    if not isinstance(template, str):
        raise TypeError("format_map() needs a str template")
    _check_template(template)
    return template.format_map(mapping)  # type: ignore[arg-type]


def _format_attr(obj: object, attr: str) -> object:
    """What `obj.format` / `obj.format_map` means in a program: checked versions for str."""
    import functools

    safe = _safe_format if attr == "format" else _safe_format_map
    if isinstance(obj, str):
        return functools.partial(safe, obj)
    if obj is str:
        return safe
    return getattr(obj, attr)


def _print(*args: object, sep: str | None = " ", end: str | None = "\n", file: object = None, flush: bool = False) -> None:
    """print() that only counts characters (programs never reach the worker's real stdout)."""
    if sep is not None and not isinstance(sep, str):
        raise TypeError("sep must be None or a string")
    if end is not None and not isinstance(end, str):
        raise TypeError("end must be None or a string")
    n = len(" " if sep is None else sep) * max(len(args) - 1, 0) + len("\n" if end is None else end)
    for a in args:
        n += len(str(a))
        if _STATE.output + n > _STATE.max_output:
            break
    _STATE.output += n
    if _STATE.output > _STATE.max_output:
        _STATE.hit("output_limit", f"printed more than {_STATE.max_output} characters")
        raise _OutputLimit()


def _make_import(proxies: dict[str, types.ModuleType]):  # noqa: ANN202
    def restricted_import(name: str, globals: object = None, locals: object = None,
                          fromlist: Sequence[str] | None = (), level: int = 0) -> types.ModuleType:
        if level == 0 and name in proxies:
            return proxies[name] if fromlist else proxies[name.split(".")[0]]
        _STATE.hit("forbidden", f"import of {name} is not allowed")
        raise _Forbidden(f"import of {name} is not allowed")

    return restricted_import


def _build_builtins(proxies: dict[str, types.ModuleType]) -> dict[str, object]:
    import builtins

    safe: dict[str, object] = {n: getattr(builtins, n) for n in _SAFE_BUILTINS}
    safe.update(print=_print, pow=_safe_pow, __import__=_make_import(proxies))
    safe[_POW] = _safe_pow
    safe[_FMT] = _format_attr
    return safe


class _BadAnswer(Exception):
    pass


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
                signal.setitimer(signal.ITIMER_REAL, self.timeout, 0.05)
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
            if "ans" in env:
                value = env["ans"]
            elif callable(env.get("solution")):
                value = env["solution"]()  # type: ignore[operator]
            elif (name := _answer_name(ast.parse(source)) if name == _LAZY else name) is not None and name in env:
                value = env[name]
            else:
                return Outcome(None, "runtime", "no answer: define `ans`, `solution()` or assign a variable")
            return Outcome(_to_float(value))
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


# ----------------------------------------------------------------------------------------------
# seccomp (x86-64 Linux): a deny-list installed after start-up, as defence in depth
# ----------------------------------------------------------------------------------------------

_SYSCALLS_X86_64 = {  # name: number
    "socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50, "socketpair": 53,
    "accept4": 288, "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "kill": 62, "ptrace": 101,
    "execveat": 322, "clone3": 435, "tkill": 200, "tgkill": 234, "rename": 82, "mkdir": 83,
    "rmdir": 84, "creat": 85, "link": 86, "unlink": 87, "symlink": 88, "chmod": 90, "fchmod": 91,
    "chown": 92, "fchown": 93, "truncate": 76, "renameat": 264, "mkdirat": 258,
    "unlinkat": 263, "linkat": 265, "symlinkat": 266, "fchmodat": 268, "fchownat": 260,
    "renameat2": 316, "mknod": 133, "mknodat": 259, "mount": 165, "umount2": 166,
    "chroot": 161, "pivot_root": 155, "unshare": 272, "setns": 308, "process_vm_writev": 311,
    "process_vm_readv": 310, "pidfd_open": 434, "pidfd_send_signal": 424, "io_uring_setup": 425,
    "bpf": 321, "keyctl": 250, "add_key": 248, "request_key": 249, "memfd_create": 319,
    "init_module": 175, "finit_module": 313, "reboot": 169, "sethostname": 170, "setsid": 112,
    "setpgid": 109, "sendto": 44, "sendmsg": 46, "recvfrom": 45, "recvmsg": 47, "openat2": 437,
    "open_by_handle_at": 304, "userfaultfd": 323, "perf_event_open": 298,
}
_OPEN_SYSCALLS_X86_64 = {"open": (2, 1), "openat": (257, 2)}  # name: (number, index of flags arg)


def _install_seccomp() -> bool:
    """Deny dangerous syscalls with EPERM; writable opens too. Returns whether it was installed."""
    import ctypes
    import platform
    import struct as st

    if sys.platform != "linux" or platform.machine() != "x86_64":
        return False
    ld, jeq, ret, and_ = 0x20, 0x15, 0x06, 0x54  # BPF_LD|W|ABS, JMP|JEQ|K, RET|K, ALU|AND|K
    allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def op(code: int, jt: int, jf: int, k: int) -> bytes:
        return st.pack("HBBI", code, jt, jf, k)

    prog = [
        op(ld, 0, 0, 4),  # seccomp_data.arch
        op(jeq, 1, 0, 0xC000003E),  # AUDIT_ARCH_X86_64
        op(ret, 0, 0, 0x80000000),  # other ABI (e.g. int 0x80): kill the process
        op(ld, 0, 0, 0),  # seccomp_data.nr
        op(0x35, 0, 1, 0x40000000),  # JGE x32 ABI bit -> kill
        op(ret, 0, 0, 0x80000000),
    ]
    for number in _SYSCALLS_X86_64.values():
        prog += [op(jeq, 0, 1, number), op(ret, 0, 0, deny)]
    for number, arg in _OPEN_SYSCALLS_X86_64.values():
        prog += [
            op(jeq, 0, 5, number),
            op(ld, 0, 0, 16 + 8 * arg),  # low 32 bits of args[arg]
            op(and_, 0, 0, write_flags),
            op(jeq, 0, 1, 0),
            op(ret, 0, 0, allow),
            op(ret, 0, 0, deny),
        ]
    prog.append(op(ret, 0, 0, allow))
    code = b"".join(prog)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = SockFprog(len(prog), ctypes.cast(buf, ctypes.c_char_p))
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) == 0


# ----------------------------------------------------------------------------------------------
# Parent side: the pool
# ----------------------------------------------------------------------------------------------


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
        self._cmd = [sys.executable, "-s", "-P", "-B", os.path.abspath(__file__), "--worker", json.dumps(config)]
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


# ----------------------------------------------------------------------------------------------
# CLI: python -m fdd.execution FILE.jsonl
# ----------------------------------------------------------------------------------------------


def _json_number(x: float | None) -> float | str | None:
    if x is None or math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def main(argv: Sequence[str] | None = None) -> int:
    """Read {"id", "program"} lines, print {"id", "answer", "error"} lines in the same order."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fdd.execution", description=main.__doc__)
    parser.add_argument("file", help="JSONL file, one {\"id\", \"program\"} object per line ('-' = stdin)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per program (default 2)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: CPUs)")
    parser.add_argument("--messages", action="store_true", help="also print each error's message")
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error("--timeout must be positive")
    ids: list[object] = []
    programs: list[str] = []
    try:
        stream = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    except OSError as e:
        print(f"error: cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return 2
    with stream:
        for lineno, raw in enumerate(stream, 1):
            try:
                line = raw.decode("utf-8")
                record, why = json.loads(line) if line.strip() else {}, ""
            except UnicodeDecodeError:
                record, why = None, "not valid UTF-8"
            except json.JSONDecodeError as e:
                record, why = None, f"invalid JSON ({e.msg})"
            if record == {} and not raw.strip():
                continue  # blank line
            if not (isinstance(record, dict) and "id" in record and isinstance(record.get("program"), str)):
                why = why or 'expected an object with "id" and a string "program"'
                print(f"error: {args.file}:{lineno}: {why}", file=sys.stderr)
                return 2
            ids.append(record["id"])
            programs.append(record["program"])
    with Executor(workers=args.workers, timeout=args.timeout) as executor:
        outcomes = executor.run(programs)
    try:
        for id_, o in zip(ids, outcomes):
            row: dict[str, object] = {"id": id_, "answer": _json_number(o.answer), "error": o.error}
            if args.messages:
                row["message"] = o.message
            print(json.dumps(row, allow_nan=False))
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        _worker_main(json.loads(sys.argv[2]))
    else:
        sys.exit(main())
