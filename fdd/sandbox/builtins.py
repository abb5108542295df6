"""What a program may call: the restricted builtins, the proxy modules it may import, and the
guards that keep libraries from turning strings into code while a program runs.

The second layer of the threat model (see the package docstring):

* a fresh copy of `_SAFE_BUILTINS` per program: pure functions and exceptions only; ``print``
  counts output and discards it; ``__import__`` hands out read-only proxy modules holding a
  vetted subset (`_MODULE_EXPORTS`) of the modules fdd/sandbox/policy.py allows;
* sympy's string entry points (``sympify``/``S``/``parse_expr`` call eval, ``lambdify`` and
  ``nsolve`` call exec) refuse, and the real ``eval``/``exec``/``compile`` refuse any library
  caller not in `_CODE_CALLERS` while a program runs;
* ``**`` and ``pow`` refuse exact (int/Fraction/sympy Rational) results over `MAX_INT_BITS` bits;
  ``str.format``/``format_map`` refuse templates that read attributes (``'{0.__class__}'``).

Everything here is built inside a worker process; only `MAX_INT_BITS` is of interest outside.
"""

from __future__ import annotations

import numbers
import sys
import types
from collections.abc import Sequence

from fdd.sandbox.policy import _FMT, _POW
from fdd.sandbox.state import _STATE, _Forbidden, _OutputLimit

MAX_INT_BITS = 1 << 22  # ~1.26M decimal digits: instant to build, far beyond any word problem

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
_REAL_EXEC = exec  # taken before `_guard_builtins` replaces it: the worker runs programs with it


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

