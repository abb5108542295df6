"""`teacher=gold`: Program-of-Thought programs converted from GSM8K's own worked solutions.

A GSM8K solution marks its computations with calculator annotations (`48/2 = <<48/2=24>>24`) and
ends with `#### 72`. We turn it into a program:

    clips_may = 48 / 2
    ans = 48 + clips_may

- every annotation becomes one assignment, the variable named from the words around it
  ("24 clips in May" -> `clips_may`), else `step_3`;
- computations written without an annotation (`40 / 10 = 4 days`, `$50 − $6 = $44`, `190(.50)=95`,
  `200 minus 174 equals 26`) become steps too, but only when their left side, evaluated, agrees
  with the number written on the right, so prose that merely looks like arithmetic is ignored;
  unit words between numbers are dropped (`2 hours * 60 minutes/hour`), `N%` is read as N/100 or
  N (whichever agrees), `a/b` as a fraction when left-to-right reading does not agree;
- an operand mistyped by the writer (`$32 - $20 = $300` after computing 320) is repaired with the
  earlier result that makes the equation agree; a computation whose written result is wrong is
  kept "unchecked", usable only as the final answer when it evaluates to gold;
- algebra in prose (`x + 2*x = 30`, linear in one unknown) becomes `def equation(x): ...` solved
  by two evaluations; later expressions of the unknown (`Remy = 3R + 1`, `2x = 20`) become steps;
  unit conversions written without an operator (`28 cups = 14 pints`) become `cups / 2`;
- a literal equal to an earlier step's result becomes that step's variable (unless it is also a
  number of the question and was not just computed): the program carries the data flow;
- `ans` is the last step whose value is gold; if the writer finished in prose, `ans` says how
  (`* 100` for a percentage, a unit conversion, `round`/`math.floor`/`math.ceil`); steps the
  answer does not depend on are dropped.

Candidates are executed in the sandbox (fdd.execution) and kept only if they reproduce gold; the
same steps with unlinked literals are the fallback when linking changes the value. What still
fails is reported with a reason; docs/gsm8k_gold.md lists GSM8K's exceptions (dataset errors,
answers found by reasoning rather than arithmetic, clock times, typos).
"""

from __future__ import annotations

import ast
import functools
import keyword
import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from fdd.datasets.gsm8k import final_answer
from fdd.problems import Problem
from fdd.teachers.base import Usage

# ---------------------------------------------------------------------------------------------
# Tokens

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

_STOP = set(
    """a an the of in on at for to and or but per each every is are was were be been so that this those these
    there here he she they it its his her their them we you i our your him then than now total amount number
    which who what how many much more less after before with from by into out up as if will would can could
    has have had do does did get gets got make makes made all also only just still one altogether left over
    she's he's it's that's there's let find first next finally thus therefore hence combined because since
    while when where need needs needed divide multiply add subtract calculate compute figure convert express
    spend spends spent pay pays paid buy buys bought""".split()
)
_CONNECTORS = {"because", "so", "which", "that", "and", "since", "if", "to", "for", "when", "while", "then", "but",
               "or", "is", "are", "was", "were", "will", "would", "can", "could", "than"}
_RESERVED = set(keyword.kwlist) | {"ans", "round", "int", "float", "sum", "min", "max", "abs", "pow", "len",
                                     "list", "dict", "set", "str", "range", "math", "print", "id", "type", "equation"}


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


# ---------------------------------------------------------------------------------------------
# Steps


@dataclass
class Step:
    """One computation found in the solution, in text order.

    `tokens` is the expression (("num", literal, value) / ("op", text) / ("param", letter));
    an `equation` step holds `left - right` of a linear equation in `param` and its value is the root.
    """

    tokens: list[tuple]
    value: float  # exact value
    written: float  # the result as the writer wrote it (may be rounded)
    name: str = ""
    kind: str = "calc"  # calc | equation | unchecked (result written wrong; usable only as the answer)
    param: str = ""


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


def _lhs_start(toks: list[_Tok], eq: int) -> int | None:
    """Start index of the arithmetic expression that ends right before toks[eq] ('='), if any.

    Read right to left: an operand is a number or a bracketed group, optionally followed by up to
    seven unit words (`8 blue nails`, `60 minutes/hour`); operands are joined by operators, or by
    nothing next to a bracket (`(1/4)24`, `190(.50)`).
    """
    i, start = eq - 1, None
    while i >= 0:
        words = 0
        while i >= 0 and (toks[i].kind == "word" or (toks[i].kind == "op" and toks[i].text == "/"
                                                    and toks[i + 1].kind == "word")):
            words += toks[i].kind == "word"
            i -= 1
        while i >= 0 and toks[i].kind == "money":
            i -= 1
        if i < 0 or words > 7:
            break
        t = toks[i]
        if t.kind in ("num", "mixed"):
            i -= 1
        elif t.kind == "op" and t.text in (")", "]"):
            depth, j = 0, i
            while j >= 0:
                if toks[j].kind == "op" and toks[j].text in (")", "]"):
                    depth += 1
                elif toks[j].kind == "op" and toks[j].text in ("(", "["):
                    depth -= 1
                    if depth == 0:
                        break
                elif toks[j].kind not in ("num", "mixed", "op", "word", "money"):
                    j = -1
                    break
                j -= 1
            if j < 0:
                break
            i = j - 1
        else:
            break
        while i >= 0 and toks[i].kind == "money":
            i -= 1
        start = i + 1
        if i >= 0 and toks[i].kind == "op" and toks[i].text in (")", "]"):
            continue  # (1/4)24
        if i >= 0 and toks[i].kind == "num" and toks[start].kind == "op" and toks[start].text in ("(", "["):
            continue  # 190(.50)
        if i >= 0 and toks[i].kind == "op" and toks[i].text not in ("(", "[") \
                and not (toks[i].text == "/" and toks[i + 1].kind == "word"):
            i -= 1
            continue
        if i >= 1 and toks[i].kind == "word" and toks[i].text in ("x", "X") and toks[i - 1].kind in ("num", "word"):
            i -= 1
            continue
        break
    if start is None:
        return None
    while start < eq and toks[start].kind == "op" and toks[start].text not in ("(", "["):
        if toks[start].text in "-−" and (start == 0 or toks[start - 1].kind in ("eq", "other")):
            break  # a leading minus sign: = -6 + 3
        start += 1  # a dangling operator on the left
    has_op = any(t.kind == "op" or (t.kind == "word" and t.text in ("x", "X")) for t in toks[start:eq])
    return start if has_op else None


def _rhs_number(toks: list[_Tok], eq: int) -> tuple[int, float, str] | None:
    """The number right after '=' (sign and currency allowed): (index, value, text)."""
    j, sign = eq + 1, 1.0
    while j < len(toks) and (toks[j].kind == "money" or (toks[j].kind == "op" and toks[j].text in "-−+")):
        if toks[j].kind == "op" and toks[j].text in "-−":
            sign = -sign
        j += 1
    if j < len(toks) and toks[j].kind in ("num", "mixed"):
        return j, sign, toks[j].text
    return None


def _context_name(text_after: str, text_before: str) -> str:
    """A variable name from the words after a result (`24 clips in May` -> clips_may), else before."""

    def words_of(s: str) -> list[str]:
        return [w.lower().replace("’", "'").split("'")[0] for w in re.findall(r"[A-Za-z][A-Za-z'’]*", s)]

    cands = []
    after = re.match(r"\s*([A-Za-z][A-Za-z'’ ]*)", text_after.replace("/", " per "))
    if after:
        ws = []
        for w in words_of(after.group(1))[:4]:
            if w in _CONNECTORS:
                break
            ws.append(w)
        cands.append([w for w in ws if w not in _STOP][:3])
    clause = re.split(r"[.:;,!?](?:\s|$)|=", text_before.rstrip(" .:;,!?$€£"))[-1]
    cands.append([w for w in words_of(clause) if w not in _STOP][-3:])
    for ws in cands:
        ws = [w for w in ws if w.isascii() and len(w) > 1]
        if ws:
            return "_".join(ws)[:40]
    return ""


def _unique(name: str, used: set[str], index: int) -> str:
    if not name or not name.isidentifier() or keyword.iskeyword(name) or name in _RESERVED or not name.isascii():
        name = f"step_{index}"
    base, k = name, 2
    while name in used:
        name, k = f"{base}_{k}", k + 1
    used.add(name)
    return name


_WORD_OPS = [(re.compile(p, re.I), r) for p, r in [
    (r"\bplus\b", " + "), (r"\bminus\b", " - "), (r"\bmultiplied by\b", " * "),
    (r"(?<=\d)\s+times\s+(?=[$\d.(])", " * "), (r"\bdivided (?:by|into)\b", " / "),
    (r"\b(?:is )?equals?(?: to)?\b", " = "), (r"\bto (?:find|get)\b", " = "), (r">=|≥|<=|≤", " = "),
]]


def _parse_annotation(body: str) -> tuple[list[tuple], float, float] | None:
    """`48/2=24` -> (expression tokens, value, written result)."""
    expr, _, res = body.rpartition("=") if "=" in body else (body, "", "")
    etoks = _expr_tokens(_tokens(expr), percent=True)
    if etoks is None:
        return None
    value = _eval(_render(etoks), {})
    if value is None:
        return None
    written = value
    rtoks = [t for t in _tokens(res) if t.kind != "money"]
    if len(rtoks) == 1 and rtoks[0].kind in ("num", "mixed"):
        w, pct, _ = _num(rtoks[0])
        written = w / 100 if pct else w
    return etoks, value, written


def solution_steps(solution: str) -> list[Step]:
    """All computations of a GSM8K solution (annotations, checked text equations, linear equations)."""
    body = solution.rpartition("####")[0] if "####" in solution else solution
    steps: list[Step] = []
    solved: dict[str, float] = {}
    pending: dict[str, list[Step]] = {}
    for line in body.split("\n"):
        anns: list[str] = []

        def mask(m: re.Match, anns: list[str] = anns) -> str:
            anns.append(m.group(1))
            return " " + _PLACEHOLDER.format(len(anns) - 1) + " "

        masked = _ANNOTATION.sub(mask, line)
        for pattern, repl in _WORD_OPS:
            masked = pattern.sub(repl, masked)
        masked = re.sub(r"(\d)(?:\.\.\.+|…)\s*%", r"\1%", masked)
        masked = re.sub(r"(?<=\d) : (?=\$?\d)", " / ", masked)  # "$7,980 : $420 = 19"
        toks = _tokens(masked)
        for k, t in enumerate(toks):
            if t.kind == "ph":
                parsed = _parse_annotation(anns[int(t.text[1:-1])])
                if parsed is None:
                    continue
                etoks, value, written = parsed
                after = re.sub(r"^[\s$€£]*[\d.,]*%?", "", masked[t.end:])
                j = k - 1
                while j >= 0 and toks[j].kind == "money":
                    j -= 1
                start = _lhs_start(toks, j) if j >= 0 and toks[j].kind == "eq" else None
                before = masked[: toks[start].start] if start is not None else masked[: t.start]
                steps.append(Step(etoks, value, written, _context_name(after, before)))
            elif t.kind == "eq":
                step = _text_equation(masked, toks, k, steps)
                if step is None or step.kind == "unchecked":
                    step = (_linear_equation(toks, k, solved) or _defined_expression(masked, toks, k, solved, pending)
                            or _conversion(masked, toks, k) or step)
                if step is None:
                    continue
                steps.append(step)
                if step.kind == "equation":  # `Remy = 3R + 1` written before R was solved
                    for later in pending.pop(step.param, []):
                        value = _eval(_render(later.tokens), {step.param: step.value})
                        if value is not None:
                            later.value = later.written = value
                            steps.append(later)
    return steps


def _conversion(masked: str, toks: list[_Tok], eq: int) -> Step | None:
    """`48 quarts = 12 gallons`: a unit conversion by a whole factor, written without an operator."""
    if not (eq >= 2 and toks[eq - 1].kind == "word" and toks[eq - 2].kind == "num"
            and eq + 2 < len(toks) and toks[eq + 1].kind == "num" and toks[eq + 2].kind == "word"):
        return None
    if eq >= 3 and toks[eq - 3].kind in ("op", "num", "eq"):
        return None
    a, b = _num(toks[eq - 2])[0], _num(toks[eq + 1])[0]
    if not a or not b or toks[eq - 1].text.lower().rstrip("s") == toks[eq + 2].text.lower().rstrip("s"):
        return None
    for x, op, y in ((a, "/", b), (a, "*", b)):
        factor = x / y if op == "/" else y / x
        if factor >= 2 and abs(factor - round(factor)) < 1e-9:
            etoks = [_num(toks[eq - 2])[2][0], ("op", op), ("num", str(round(factor)), float(round(factor)))]
            return Step(etoks, b, b, _context_name(masked[toks[eq + 1].end:], ""))
    return None


def _defined_expression(masked: str, toks: list[_Tok], eq: int, solved: dict[str, float],
                        pending: dict[str, list[Step]]) -> Step | None:
    """`Remy = 3R + 1` / `2x = 20` (x known): a quantity defined by an expression in an unknown."""
    hi = _side(toks, eq + 1, +1)
    right = toks[eq + 1 : hi + 1]
    letters = {t.text for t in right if t.kind == "word"}
    if len(letters) == 1 and eq >= 1 and toks[eq - 1].kind == "word" and len(toks[eq - 1].text) > 1:
        param = letters.pop()
        etoks = _expr_tokens(right, True, param)
        if etoks is None or not any(t[0] == "op" for t in etoks):
            return None
        name = _context_name("", masked[: toks[eq].start])
        step = Step(etoks, 0.0, 0.0, name, "calc", param)
        if param in solved:
            value = _eval(_render(etoks), {param: solved[param]})
            if value is None:
                return None
            step.value = step.written = value
            return step
        pending.setdefault(param, []).append(step)
        return None
    # `2x = 20 games` once x is known: the left side evaluated
    rhs = _rhs_number(toks, eq)
    lo = _side(toks, eq - 1, -1)
    left = toks[lo:eq]
    letters = {t.text for t in left if t.kind == "word"}
    if rhs is None or len(letters) != 1 or lo > eq - 1:
        return None
    param = letters.pop()
    if param not in solved:
        return None
    etoks = _expr_tokens(left, True, param)
    if etoks is None or not any(t[0] == "op" for t in etoks):
        return None
    value = _eval(_render(etoks), {param: solved[param]})
    written = _num(toks[rhs[0]])[0] * rhs[1]
    if value is None or not _close(value, written):
        return None
    return Step(etoks, value, written, _context_name(masked[toks[rhs[0]].end:], ""), "calc", param)


def _text_equation(masked: str, toks: list[_Tok], eq: int, previous: Sequence[Step] = ()) -> Step | None:
    """`40 / 10 = 4 days`, kept only if the left side evaluates to the right (as written or rounded).

    If no reading agrees, one operand may be a typo of an earlier result (`$32 - $20 = $300` after
    computing 320); failing that the step is kept as `unchecked`: usable only as the final answer.
    """
    rhs = _rhs_number(toks, eq)
    if rhs is None:
        return None
    j, sign, text = rhs
    nxt = toks[j + 1] if j + 1 < len(toks) else None
    if nxt is not None and nxt.kind == "op" and nxt.text not in (")", "]", "/"):
        return None  # the right side is an expression, not a result
    start = _lhs_start(toks, eq)
    if start is None:
        return None
    written_v, written_pct, _ = _num(toks[j])
    written_v *= sign
    if nxt is not None and nxt.text == "/" and j + 2 < len(toks) and toks[j + 2].kind == "num":
        denominator = _num(toks[j + 2])[0]  # a fraction written as the result: = 1/30
        if not denominator:
            return None
        written_v /= denominator
        text = f"{written_v:.3f}"
    name = _context_name(masked[toks[j].end:], masked[: toks[start].start])
    if start >= 2 and toks[start - 1].kind == "eq" and toks[start - 2].kind == "word":
        name = toks[start - 2].text.lower() if len(toks[start - 2].text) > 1 else name
    cents = nxt is not None and nxt.text.lower() in ("cents", "cent") and any(t.kind == "money" and t.text == "$"
                                                                              for t in toks[start:eq])
    for percent, grouped in ((False, False), (True, False), (False, True), (True, True)):
        etoks = _expr_tokens(toks[start:eq], percent)
        if etoks is None:
            continue
        if grouped:
            etoks = _group_fractions(etoks)
        if cents:  # $2.50 - $2.24 = 26 cents
            etoks = [("op", "("), *etoks, ("op", ")"), ("op", "*"), ("num", "100", 100.0)]
        value = _eval(_render(etoks), {})
        scale = 100.0 if (written_pct and percent) else 1.0
        if value is not None and (_close(value * scale, written_v) or _rounds_to(value * scale, written_v, text)):
            return Step(etoks, value, written_v / scale, name)
    etoks = _expr_tokens(toks[start:eq], False)
    if etoks is None:
        return None
    for k, t in enumerate(etoks):  # one operand mistyped: an earlier result makes it agree
        if t[0] != "num":
            continue
        for p in reversed(previous):
            if p.kind == "unchecked" or _close(p.written, t[2]):
                continue
            fixed = [*etoks[:k], ("num", repr(p.written), p.written), *etoks[k + 1 :]]
            value = _eval(_render(fixed), {})
            if value is not None and _close(value, written_v):
                return Step(fixed, value, written_v, name)
    value = _eval(_render(etoks), {})
    return None if value is None else Step(etoks, value, value, name, "unchecked")


def _group_fractions(etoks: list[tuple]) -> list[tuple]:
    """Read `a / b` literals as fractions, right to left: `2000 / 2/3` -> `2000 / (2 / 3)`."""
    out = list(etoks)
    k = len(out) - 3
    while k >= 0:
        if out[k][0] == "num" and out[k + 1] == ("op", "/") and out[k + 2][0] == "num" \
                and (k + 3 >= len(out) or out[k + 3] != ("op", "(")):
            out[k : k + 3] = [("op", "("), *out[k : k + 3], ("op", ")")]
            k -= 2
        else:
            k -= 1
    return out


def _side(toks: list[_Tok], i: int, step: int) -> int:
    """Walk from index i in direction `step` over tokens that can belong to an equation side."""
    while 0 <= i < len(toks):
        t = toks[i]
        if t.kind in ("num", "mixed", "op", "money") or (t.kind == "word" and len(t.text) == 1 and t.text not in "I"):
            i += step
        else:
            break
    return i - step


def _linear_equation(toks: list[_Tok], eq: int, solved: dict[str, float]) -> Step | None:
    """`a + 5a - 6 = 150` -> a step holding the equation and its root (the first of each chain)."""
    lo = _side(toks, eq - 1, -1)
    hi = _side(toks, eq + 1, +1)
    if lo > eq - 1 or hi < eq + 1:
        return None
    left, right = toks[lo:eq], toks[eq + 1 : hi + 1]
    letters = {t.text for t in left + right if t.kind == "word"} - {"x", "X"}
    if not letters:
        letters = {t.text for t in left + right if t.kind == "word"}
    if len(letters) != 1:
        return None
    param = letters.pop()
    if not any(t.kind in ("num", "mixed") for t in left + right):
        return None
    while right and right[-1].kind == "op" and right[-1].text not in (")", "]"):
        right = right[:-1]
    lt = _expr_tokens(left, True, param)
    rt = _expr_tokens(right, True, param)
    if lt is None or rt is None:
        return None
    if len(rt) > 1:
        rt = [("op", "("), *rt, ("op", ")")]
    tokens = [*lt, ("op", "-"), *rt]
    f = [_eval(_render(tokens), {param: v}) for v in (0.0, 1.0, 2.0, 3.0)]
    if any(v is None for v in f):
        return None
    slope = f[1] - f[0]
    if abs(slope) < 1e-12 or not _close(f[2] - f[1], slope) or not _close(f[3] - f[2], slope):
        return None
    root = -f[0] / slope
    if param in solved and _close(solved[param], root):
        return None  # a later line of the same derivation
    solved[param] = root
    return Step(tokens, root, root, param, "equation", param)


# ---------------------------------------------------------------------------------------------
# Programs


def question_numbers(question: str) -> set[float]:
    out = set()
    for t in _tokens(question):
        if t.kind in ("num", "mixed"):
            out.add(_num(t)[0])
    return out


_SCALES = ["{}", "{} * 100", "{} / 100", "{} / 1000", "{} * 60", "{} / 60", "{} * 12", "{} / 12"]


def _final_wrap(value: float, gold: float) -> str | None:
    """How `ans` follows from a step value when the writer finished the answer in prose, or None.

    A percentage of a fraction (`* 100`), a unit conversion, and/or rounding to the whole number
    asked for (round, floor, ceil).
    """
    scaled = [(w, _eval(w.format(repr(value)), {})) for w in _SCALES]
    for w, v in scaled:
        if v is not None and _close(v, gold):
            return w
    if gold != int(gold):
        return None
    for w, v in scaled[:2]:  # rounding: of the value itself, or of a percentage
        if v is None or abs(v - gold) >= min(1.0, 0.5 * abs(gold)):
            continue
        if abs(v - gold) <= 0.5 and _close(round(v), gold):
            return f"round({w})"
        if _close(math.floor(v), gold):
            return f"math.floor({w})"
        if _close(math.ceil(v), gold):
            return f"math.ceil({w})"
    return None


@dataclass
class Plan:
    program: str | None
    reason: str = ""
    candidates: list[str] = field(default_factory=list)


def build_programs(question: str, solution: str, gold: float | None) -> Plan:
    """Candidate programs (most faithful first) that compute `gold`, or the reason there are none."""
    if gold is None:
        return Plan(None, "no '#### answer' line")
    steps = solution_steps(solution)
    if not steps:
        return Plan(None, "no computation found (no annotation, no checkable equation in the text)")
    qnums = question_numbers(question)
    candidates: list[str] = []
    for linked in (True, False):
        prog = _program(steps, qnums, gold, linked)
        if prog and prog not in candidates:
            candidates.append(prog)
    if not candidates:
        values = ", ".join(f"{s.written:g}" for s in steps[-4:])
        return Plan(None, f"gold {gold:g} is not the result of any computation in the solution "
                          f"(last results: {values})")
    return Plan(candidates[0], candidates=candidates)


def _program(steps: list[Step], qnums: set[float], gold: float, linked: bool) -> str | None:
    """One program: steps (linked to earlier results or not), `ans` = the step giving gold, pruned."""
    names: list[str] = []
    exprs: list[list[tuple]] = []
    values: list[float] = []
    deps: list[set[int]] = []
    env: dict[str, float] = {}
    used: set[str] = set()
    root: list[int] = []  # a step that only restates an earlier result (`x = <<30=30>>30`) is an alias
    owner: dict[str, int] = {}  # unknown letter -> the equation step that solves it
    for i, s in enumerate(steps):
        toks = list(s.tokens)
        d: set[int] = set()
        if s.kind != "equation":
            for k, t in enumerate(toks):
                if t[0] == "param":
                    if t[1] not in owner:
                        return None
                    toks[k] = ("var", names[owner[t[1]]])
                    d.add(root[owner[t[1]]])
        if linked:
            for k, t in enumerate(toks):
                if t[0] != "num":
                    continue
                # a number also given in the question is read as that, unless just computed
                for j in range(i - 1, -1 if t[2] not in qnums else max(-1, i - 3), -1):
                    if steps[j].kind != "unchecked" and _close(steps[j].written, t[2], 1e-9):
                        toks[k] = ("var", names[j])
                        d.add(root[j])
                        break
        if s.kind == "calc" and len(toks) == 1 and toks[0][0] == "var":
            j = next(iter(d))
            root.append(j)
            names.append(names[j])
            exprs.append(toks)
            values.append(values[j])
            deps.append(d)
            continue
        root.append(i)
        name = _unique(s.name, used, i + 1)
        if s.kind == "equation":
            owner[s.param] = i
            f0 = _eval(_render(toks), {**env, s.param: 0.0})
            f1 = _eval(_render(toks), {**env, s.param: 1.0})
            value = None if f0 is None or f1 is None or f1 == f0 else -f0 / (f1 - f0)
        else:
            value = _eval(_render(toks), env)
        if value is None:
            return None
        names.append(name)
        exprs.append(toks)
        values.append(value)
        deps.append(d)
        env[name] = value
    pick, wrap = None, "{}"
    checked = [i for i in range(len(steps) - 1, -1, -1) if steps[i].kind != "unchecked"]
    for i in checked:
        if _close(values[i], gold):
            pick = i
            break
    if pick is None:
        for i in checked:
            w = _final_wrap(values[i], gold)
            if w:
                pick, wrap = i, w
                break
    if pick is None:
        pick = next((i for i in range(len(steps) - 1, -1, -1) if _close(values[i], gold)), None)
    if pick is None:
        return None
    pick = root[pick]
    keep: set[int] = set()
    todo = [pick]
    while todo:
        i = todo.pop()
        if i not in keep:
            keep.add(i)
            todo.extend(deps[i])
    lines = []
    for i in sorted(keep):
        target = "ans" if (i == pick and wrap == "{}") else names[i]
        if steps[i].kind == "equation":
            fn, k = "equation", 2
            while fn in used:
                fn, k = f"equation_{k}", k + 1
            used.add(fn)
            p = steps[i].param
            lines += [f"def {fn}({p}):", f"    return {_render(exprs[i])}",
                      f"{target} = -{fn}(0) / ({fn}(1) - {fn}(0))"]
        else:
            lines.append(f"{target} = {_render(exprs[i])}")
    if wrap != "{}":
        if "math." in wrap:
            lines.insert(0, "import math")
        lines.append("ans = " + wrap.format(names[pick]))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Batch conversion + the Teacher


@dataclass
class GoldResult:
    id: str
    program: str | None
    ok: bool
    reason: str = ""


def convert(problems: Sequence[Problem]) -> list[GoldResult]:
    """Convert and verify in sandbox batches: a result is ok iff its program reproduces gold.

    The preferred candidate of every problem runs first; fallbacks run only for the failures.
    """
    from fdd.execution import execute

    plans = []
    for p in problems:
        gold = p.answer if p.answer is not None else final_answer(p.rationale or "")
        plans.append((gold, build_programs(p.question, p.rationale or "", gold)))
    results: list[GoldResult | None] = [None] * len(problems)
    errors: dict[int, str] = {}
    todo = [i for i, (_, plan) in enumerate(plans) if plan.candidates]
    rank = 0
    while todo:
        batch = [(i, plans[i][1].candidates[rank]) for i in todo]
        for (i, prog), o in zip(batch, execute([prog for _, prog in batch])):
            gold = plans[i][0]
            if o.answer is not None and gold is not None and _close(o.answer, gold):
                results[i] = GoldResult(problems[i].id, prog, True)
            elif i not in errors:
                errors[i] = f"program gives {o.answer!r}" + (f" ({o.error}: {o.message})" if o.error else "")
        rank += 1
        todo = [i for i in todo if results[i] is None and rank < len(plans[i][1].candidates)]
    out = []
    for i, p in enumerate(problems):
        if results[i] is not None:
            out.append(results[i])
            continue
        gold, plan = plans[i]
        reason = plan.reason or f"sandbox disagrees with gold {gold:g}: {errors.get(i, 'no candidate')}"
        out.append(GoldResult(p.id, plan.program, False, reason))
    return out


def to_cot(solution: str) -> str:
    """The solution as Chain-of-Thought text: annotations removed, `#### 72` -> `The answer is 72.`"""
    text = _ANNOTATION.sub("", solution).strip()
    return re.sub(r"\n?####\s*(.+?)\s*$", r"\nThe answer is \1.", text)


def to_eot(program: str) -> str | None:
    """A gold PoT program as Equation-of-Thought lines (None if it rounds or imports: not equations)."""
    lines = program.strip().splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.fullmatch(r"def (\w+)\((\w+)\):", line)
        if m and i + 2 < len(lines):
            expr = lines[i + 1].strip().removeprefix("return ")
            target = lines[i + 2].split(" = ")[0]
            out.append(f"{expr} = 0")
            if target != m.group(2):
                out.append(f"{target} = {m.group(2)}")
            i += 3
            continue
        if line.startswith("import ") or "round(" in line or "math." in line:
            return None
        out.append(line)
        i += 1
    return "\n".join(out) + "\n"


class GoldTeacher:
    """Teacher whose rationales are the dataset's own worked solutions (GSM8K style).

    `pot`: the verified program from `convert`; `eot`: the same program as equations; `cot`: the
    solution text itself. It cannot write new problems, so `harder` / `similar` return nothing:
    with this teacher the loop only re-trains on the seed set (an upper baseline for round-0 data
    quality). Problems without a `#### answer` solution in `rationale` get no candidate.
    """

    def __init__(self, rationale: str = "pot", **_ignored) -> None:
        if rationale not in ("pot", "eot", "cot"):
            raise ValueError(f"gold teacher: unknown rationale format {rationale!r} (pot, eot, cot)")
        self.rationale = rationale
        self._usage = Usage()

    def annotate(self, problems: list[Problem]) -> list[list[str]]:
        self._usage.requests += len(problems)
        if self.rationale == "cot":
            out = [[to_cot(p.rationale)] if p.rationale and "####" in p.rationale else [] for p in problems]
        else:
            out = []
            for r in convert(problems):
                text = r.program if (r.program and self.rationale == "pot") else (to_eot(r.program) if r.program else None)
                out.append([text] if text else [])
        self._usage.unparsed += sum(not c for c in out)
        return out

    def harder(self, problems: list[Problem], n: int, round: int) -> list[list[Problem]]:
        return [[] for _ in problems]

    def similar(self, problems: list[Problem], n: int, round: int) -> list[list[Problem]]:
        return [[] for _ in problems]

    def usage(self) -> Usage:
        return self._usage
