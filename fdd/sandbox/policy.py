"""What a program may contain: the static check run before any program executes.

The first layer of the threat model (see the package docstring): no attribute starting with ``_``
and no name starting with ``__`` (except reading ``__name__``), no frame/code/traceback attributes,
no attribute assignment or deletion, no classes (so no metaclasses), no async code, none of the
escape builtins (``eval``, ``getattr``, ``type``, ...) unless the program binds that name itself,
and imports only from `_ALLOWED_MODULES`. `compile_program` also rewrites ``a ** b`` and
``x.format`` into calls of checked helpers (see fdd/sandbox/builtins.py).

Pure functions of the source: importable and testable in any process. Clean programs are
recognised from their compiled code objects (fast); anything that might matter takes the
authoritative AST path.
"""

from __future__ import annotations

import ast
import sys
import types

from fdd.sandbox.answer import _LAZY, _answer_name
from fdd.sandbox.outcome import Outcome, _short

# The real compile, taken before a worker guards builtins.compile (builtins._guard_builtins): the
# sandbox's own compilation must not be refused while a program runs.
_REAL_COMPILE = compile

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

