"""The writer's arithmetic in a GSM8K solution: tokens, numbers, expressions and their values.

Part of the annotation-to-program converter (fdd/datasets/gsm8k_gold.py): this module reads the
text; fdd/datasets/gsm8k_steps.py finds the computations in it; gsm8k_gold.py writes programs.
Evaluation here is the planning side only (floats, no names but step results): every program is
re-checked in the sandbox. Names with a leading underscore are shared by these three modules only.
"""

from __future__ import annotations

import ast
import functools
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

_PLACEHOLDER = "\u27e6{}\u27e7"  # ⟦k⟧ stands for an annotation in the masked text
_TOKEN = re.compile(
    r"""
    (?P<ph>\u27e6\d+\u27e7)
  | (?P<mixed>\d+\s(?:and\s)?[1-9]/[1-9]\d?(?![\d/]|\.\d))
  | (?P<num>(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,3}(?:\s\d{3})+(?![\d,]|\.\d)|\d+(?:\.\d+)?|\.\d+)(?:\s?%)?)
  | (?P<op>//|[-+*/×÷−–^()\[\]])
  | (?P<eq>=)
  | (?P<word>[A-Za-z][A-Za-z'’]*)
  | (?P<money>[$€£¢%])
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE,
)
_OPS = {"×": "*", "÷": "/", "−": "-", "–": "-", "^": "**", "[": "(", "]": ")"}
_ANNOTATION = re.compile(r"<<([^<>]*)>>")


@dataclass
class _Tok:
    kind: str
    text: str
    start: int
    end: int


def _tokens(text: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "space":
            continue
        out.append(_Tok(kind, m.group(), m.start(), m.end()))
    return out


# ---------------------------------------------------------------------------------------------
# Arithmetic on the planning side (the sandbox re-checks every program).

_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}


@functools.lru_cache(maxsize=65536)
def _parse(expr: str) -> ast.AST | None:
    try:
        return ast.parse(expr, mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return None


def _eval(expr: str, env: dict[str, float]) -> float | None:
    """Evaluate an arithmetic expression over `env`; None when it is not one or does not compute."""
    node = _parse(expr)
    if node is None:
        return None
    try:
        return float(_ev(node, env))
    except (ValueError, TypeError, KeyError, ZeroDivisionError, OverflowError, RecursionError):
        return None


def _ev(node: ast.AST, env: dict[str, float]) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _ev(node.operand, env)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        left, right = _ev(node.left, env), _ev(node.right, env)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 1e6):
            raise OverflowError
        return _BIN[type(node.op)](left, right)
    raise ValueError("not arithmetic")


def _close(a: float, b: float, rel: float = 1e-6) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def _rounds_to(value: float, written: float, text: str) -> bool:
    """`written` is `value` rounded or truncated to the decimals shown in `text` (and within 1 %)."""
    decimals = len(text.split(".")[1].rstrip("%").strip()) if "." in text else 0
    diff = abs(value - written)
    return diff < 10**-decimals + 1e-9 and diff <= 0.01 * max(1.0, abs(written))



def _num(tok: _Tok) -> tuple[float, bool, list[tuple]]:
    """A number token -> (value as written, is-percent, expression tokens of its literal)."""
    text = tok.text
    if tok.kind == "mixed":
        parts = text.split()
        whole, (n, d) = parts[0], parts[-1].split("/")
        value = int(whole) + int(n) / int(d)
        lit = [("op", "("), ("num", str(int(whole)), float(whole)), ("op", "+"), ("num", str(int(n)), float(n)),
               ("op", "/"), ("num", str(int(d)), float(d)), ("op", ")")]
        return value, False, lit
    pct = text.endswith("%")
    raw = re.sub(r"[\s,%]", "", text)
    value = float(raw)
    if "." in raw:
        whole, _, dec = raw.partition(".")
        lit = f"{int(whole or '0')}.{dec}"
    else:
        lit = str(int(raw))
    return value, pct, [("num", lit, value)]


def _expr_tokens(toks: Sequence[_Tok], percent: bool, param: str = "") -> list[tuple] | None:
    """Tokens of one arithmetic expression -> normalised expression tokens; unit words dropped.

    `percent`: `N%` means N/100 (else the sign is ignored). Implicit multiplication (`190(.50)`,
    `6a`, `2(x+1)`) becomes `*`. None if the result is not a well-formed expression.
    """
    out: list[tuple] = []
    prev_operand = False

    def operand(items: list[tuple]) -> None:
        nonlocal prev_operand
        if prev_operand:
            out.append(("op", "*"))
        out.extend(items)
        prev_operand = True

    i = 0
    while i < len(toks):
        t = toks[i]
        if t.kind in ("num", "mixed"):
            value, pct, lit = _num(t)
            if pct and percent:
                lit = [("op", "("), *lit, ("op", "/"), ("num", "100", 100.0), ("op", ")")]
            operand(lit)
        elif t.kind == "word" and param and t.text == param:
            operand([("param", param)])
        elif t.kind == "op":
            op = _OPS.get(t.text, t.text)
            if op == "/" and i + 1 < len(toks) and toks[i + 1].kind == "word" and toks[i + 1].text != param:
                i += 2  # "minutes/hour": a unit, not a division
                while i < len(toks) and toks[i].kind == "word" and toks[i].text != param:
                    i += 1
                continue
            if op == "(":
                if prev_operand:
                    out.append(("op", "*"))
                prev_operand = False
            else:
                prev_operand = op == ")"
            out.append(("op", op))
        elif t.kind == "word" and t.text in ("x", "X") and prev_operand and i + 1 < len(toks) \
                and toks[i + 1].kind in ("num", "mixed", "money", "op"):
            out.append(("op", "*"))
            prev_operand = False
        elif t.kind in ("word", "money"):
            pass  # units and currency
        else:
            return None
        i += 1
    if not out:
        return None
    env = {param: 1.0} if param else {}
    if _eval(_render(out), env) is None:
        return None
    return out


def _render(tokens: Sequence[tuple]) -> str:
    s = " ".join(t[1] for t in tokens)
    s = s.replace("( ", "(").replace(" )", ")")
    return re.sub(r"(^|[(*/+-] |\()- (\d)", r"\1-\2", s)  # unary minus
