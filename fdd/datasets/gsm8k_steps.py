"""Computations found in a GSM8K worked solution, in text order (`solution_steps`).

Part of the annotation-to-program converter (fdd/datasets/gsm8k_gold.py). A step comes from a
calculator annotation (`<<48/2=24>>`), from arithmetic written in the text and checked against the
number written after `=` (`40 / 10 = 4 days`, `200 minus 174 equals 26`), from a unit conversion
(`28 cups = 14 pints`) or from a linear equation in one unknown (`x + 2*x = 30`). Each step gets a
variable name from the words around it. One piece: the readers share the masked text, the token
positions and the results found so far, and each decides what the others may skip.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass

from fdd.datasets.gsm8k_arith import (
    _ANNOTATION,
    _PLACEHOLDER,
    _close,
    _eval,
    _expr_tokens,
    _num,
    _render,
    _rounds_to,
    _Tok,
    _tokens,
)

# Variable names are made from the words around a computation: these words name no quantity.
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
                name = _context_name(after, before)
                if not any(e[0] == "op" for e in etoks) and j >= 0 and toks[j].kind == "eq":
                    if start is not None:  # `1.5 / .25 = <<6=6>>6`
                        etoks = _prose_side(toks[start:j], value) or etoks
                    else:  # `2J = <<24=24>>24` once J is solved
                        unknown = _solved_side(toks, j, value, solved)
                        if unknown is not None:
                            steps.append(Step(unknown[0], value, written, name, "calc", unknown[1]))
                            continue
                steps.append(Step(etoks, value, written, name))
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


def _prose_side(toks: list[_Tok], value: float) -> list[tuple] | None:
    """The written left side of `= <<N=N>>N` when it evaluates to N: the annotation holds only the
    result, the computation is in the prose before it."""
    for percent in (False, True):
        etoks = _expr_tokens(toks, percent)
        found = None if etoks is None else _eval(_render(etoks), {})
        if found is not None and _close(found, value):
            return etoks
    return None


def _solved_side(toks: list[_Tok], eq: int, value: float, solved: dict[str, float]) -> tuple[list[tuple], str] | None:
    """`2J =` / `J =` right before `<<24=24>>`: the left side in an unknown already solved, if it
    evaluates to the annotation's value: (expression tokens, unknown)."""
    lo = _side(toks, eq - 1, -1)
    letters = {t.text for t in toks[lo:eq] if t.kind == "word"}
    if lo > eq - 1 or len(letters) != 1 or (param := letters.pop()) not in solved:
        return None
    etoks = _expr_tokens(toks[lo:eq], True, param)
    found = None if etoks is None else _eval(_render(etoks), {param: solved[param]})
    return (etoks, param) if found is not None and _close(found, value) else None


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
