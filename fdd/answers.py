"""Parse, extract and compare numeric answers: one set of rules for gold labels and model outputs.

Rules of `parse_number(text)` (the text is meant to *be* an answer, e.g. a gold label or the
span after "The answer is"):

- wrappers are peeled: `\\boxed{..}`, `\\text{..}`, `$..$`, `\\(..\\)`, `**..**`, a trailing period;
- thousands separators are removed only where they are separators: `1,000`, `12,345.5`, LaTeX
  `9{,}500`, `1\\,000`; a comma not followed by exactly three digits (`1,5`, `1,2,3`) makes the
  text ambiguous and gives None rather than a guess, and so does a space (`1 000` vs `1 0`);
- currency signs and codes are ignored: `$5.50`, `€3`, `5 dollars`, `USD 5`;
- a percent sign is dropped: `50%` -> 50.0 (GSM8K golds are written that way: "what percentage"
  answers are percentages, not fractions);
- fractions `3/4`, LaTeX `\\frac{3}{4}` / `\\dfrac` / `\\tfrac`, mixed numbers `1 1/2`, `1\\frac{1}{2}`,
  unicode vulgar fractions `½`, unicode minus `−2`, exponents `1e-3`, `2.5 x 10^3`;
- an `x = ` / `ans: ` prefix (identifier and `=`/`:`) is skipped, as are trailing unit words
  (`7 apples`, `12 cm^2`, `90°`);
- number words: `zero` .. `ninety-nine`, `a hundred`, `one thousand`, `a dozen`, `half` (cheap, and
  students of small models sometimes spell small numbers out);
- anything else (two numbers, times `3:30`, ratios `3:4`, words only) -> None.

`extract_final_answer(text)` reads a free-form (chain-of-thought) solution, in this order: the
last `\\boxed{}`; the last `####` marker; the last "answer is / answer: / Answer =" phrase;
else the last number in the text. Numbers are found with a pattern anchored on digits at both
ends, so a stray comma after a number ("72, in total") never becomes the number.

`answers_match(pred, gold)`: two integers (up to float noise of 1e-9 relative, so an executed
`71.99999999999999` is 72) match only if equal, however large (a relative tolerance would accept
1,000,099 for 1,000,000). Otherwise `math.isclose(rel_tol=1e-4, abs_tol=1e-6)`: wide enough for
float noise (`0.1 + 0.2`) and answers rounded to 5 significant digits (`33.333` for 100/3), narrow
enough to reject 2-digit roundings (`33.3`, `0.33`). Strings are parsed first; when a string is an expression that is not a
plain number (`2*sqrt(2)`, `\\frac{\\pi}{2}`), sympy decides equivalence (numerically for
constants, by simplification otherwise), after a whitelist check so no untrusted text reaches
sympy's `eval`-based parser.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

__all__ = ["parse_number", "extract_final_answer", "answers_match", "equivalent", "NUMBER"]

# A number inside free text: digits at both ends, thousands groups of exactly three digits.
NUMBER = r"(?<![\w.])[-−+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d])|(?<![\w.\d])[-−]?\.\d+"
_NUMBER_RE = re.compile(
    r"(?:(?<![\w.,/])(?P<mixed>\d+\s+\d+/\d+))"  # 1 1/2
    r"|(?P<frac>(?<![\w.,/])[-−]?\d+(?:\.\d+)?\s*/\s*\d+(?:\.\d+)?(?![\d/]))"  # 3/4
    r"|(?P<num>" + NUMBER + ")"
)

_UNICODE_FRACTIONS = {"½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅕": "1/5", "⅖": "2/5",
                      "⅗": "3/5", "⅘": "4/5", "⅙": "1/6", "⅚": "5/6", "⅛": "1/8", "⅜": "3/8", "⅝": "5/8",
                      "⅞": "7/8"}
_CURRENCY = re.compile(r"(?i)(?:[$€£¥₹¢]|\\\$|\b(?:usd|eur|gbp|rs\.?|inr)\b)")
_SMALL = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}


def _strip_latex(text: str) -> str:
    """Peel LaTeX and markdown wrappers that carry no value."""
    s = text.strip()
    boxed = _last_braced(s, ("\\boxed", "\\fbox"))
    if boxed is not None:
        s = boxed
    s = re.sub(r"\\(?:text|mathrm|mbox|textbf|mathbf)\s*\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"(\d)\s*\\[dt]?frac", r"\1 \\frac", s)  # 1\frac{1}{2}: a mixed number
    s = re.sub(r"\\[dt]?frac\s*\{\s*(\d+(?:\.\d+)?)\s*\}\s*\{\s*(\d+(?:\.\d+)?)\s*\}", r"\1/\2", s)
    s = re.sub(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"(\1)/(\2)", s)
    s = re.sub(r"\\[dt]?frac\s*(\d)\s*(\d)", r"\1/\2", s)  # \frac34
    s = s.replace("{,}", ",").replace("\\,", ",").replace("\\!", "").replace("\\%", "%").replace("\\$", "$")
    s = s.replace("\\left", "").replace("\\right", "").replace("\\cdot", "*").replace("\\times", "*")
    s = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", s.strip())
    s = s.strip().strip("*").strip()
    if len(s) >= 2 and s[0] == s[-1] == "$" and s.count("$") == 2:
        s = s[1:-1]
    return s.strip()


def _last_braced(text: str, commands: tuple[str, ...]) -> str | None:
    """Content of the last `\\boxed{...}` (balanced braces), or None."""
    best = -1
    for c in commands:
        best = max(best, text.rfind(c + "{"))
    if best < 0:
        return None
    i = text.index("{", best)
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


def _words_to_number(text: str) -> float | None:
    """'twenty-five', 'a hundred', 'three thousand', 'a dozen', 'half' (+ trailing words) -> number."""
    words = [w for w in re.findall(r"[a-z]+", text.lower().replace("-", " ")) if w != "and"]
    if words[:2] in (["a", "half"], ["one", "half"]) or words[:1] == ["half"]:
        return 0.5
    if words[:2] in (["a", "dozen"], ["one", "dozen"]) or words[:1] == ["dozen"]:
        return 12.0
    total, current, seen = 0, 0, False
    for i, w in enumerate(words):
        if w in _SMALL:
            current += _SMALL[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "a" and i + 1 < len(words) and words[i + 1] in ("hundred", "thousand", "million"):
            continue
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w in ("thousand", "million"):
            total += max(current, 1) * (1000 if w == "thousand" else 1_000_000)
            current = 0
        else:
            break  # trailing words: "five apples"
        seen = True
    return float(total + current) if seen else None


def _to_float(token: str) -> float | None:
    token = token.replace("−", "-").replace(",", "").replace(" ", "")
    try:
        if "/" in token:
            num, den = token.split("/")
            value = float(Fraction(num)) / float(Fraction(den)) if float(den) != 0 else None
            return value
        return float(token)
    except (ValueError, ZeroDivisionError):
        return None


def parse_number(text: str | float | int | None) -> float | None:
    """The number an answer string denotes (see module docstring for the rules), or None."""
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return float(text) if math.isfinite(text) else None
    s = _strip_latex(str(text))
    for k, v in _UNICODE_FRACTIONS.items():
        s = re.sub(rf"(\d)\s*{k}", rf"\1 {v}", s).replace(k, v)
    s = s.replace("−", "-").replace("–", "-") if re.match(r"^\s*[−–]\s*\d", s) else s.replace("−", "-")
    s = _CURRENCY.sub("", s)
    s = re.sub(r"^\s*[A-Za-z_][A-Za-z_0-9]*\s*[=:]\s*", "", s)  # x = 5, ans: 5
    s = re.sub(r"^\s*(?:approximately|about|around|roughly|≈|~)\s*", "", s, flags=re.I)
    s = s.strip().rstrip(".").strip()
    if not s:
        return None
    if not re.search(r"\d", s):
        return _words_to_number(s)
    m = re.fullmatch(
        r"(?P<sign>[-+]?)\s*\(?\s*(?P<body>(?:\d+\s+)?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?|\.\d+)\s*\)?"
        r"(?P<exp>\s*(?:[eE][-+]?\d+|(?:\*|x|×)\s*10\s*\^\s*\{?[-+]?\d+\}?))?"
        r"\s*(?P<pct>%|percent\b|per cent\b)?(?P<rest>.*)",
        s,
        flags=re.S,
    )
    if not m:
        return None
    rest = m.group("rest").strip()
    if rest and not re.fullmatch(r"[A-Za-z°][A-Za-z°'’/.\s^²³\d-]*", rest):
        return None  # more than a unit follows: "3:30", "5 and 6", "2, 3"
    if rest and re.search(r"(?<![\^A-Za-z])\d", rest):
        return None
    body = m.group("body")
    if "," in body and not re.fullmatch(r"(?:\d+\s+)?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?:\s*/.*)?", body):
        return None  # "1,5": a decimal comma or a list, not a thousands separator
    parts = body.split()
    if len(parts) == 2 and "/" in parts[1] and "/" not in parts[0]:
        whole, frac = _to_float(parts[0]), _to_float(parts[1])
        if whole is None or frac is None or frac >= 1:
            return None
        value = whole + frac
    elif len(parts) > 1 and "/" not in body:
        return None  # "1 000" is ambiguous with "1 0 0 0"; refuse
    else:
        value = _to_float(body)
    if value is None:
        return None
    exp = m.group("exp")
    if exp:
        power = int(re.search(r"[-+]?\d+\}?$", exp.strip()).group().rstrip("}"))
        value *= 10.0**power
    if m.group("sign") == "-":
        value = -value
    return value if math.isfinite(value) else None


_ANSWER_PHRASE = re.compile(
    r"(?i)(?:final\s+answer|the\s+answer|answer)\s*(?:is|was|will\s+be|would\s+be|=|:|：)\s*"
    r"(?:\$\s*)?(?:\\boxed\{)?[:\s]*")


def _numbers_in(text: str) -> list[tuple[int, float]]:
    out = []
    for m in _NUMBER_RE.finditer(text):
        value = parse_number(m.group(0)) if not m.group("num") else _to_float(m.group("num"))
        if value is not None:
            out.append((m.start(), value))
    return out


def extract_final_answer(text: str | None) -> float | None:
    """The final numeric answer of a free-form solution (order of cues in the module docstring)."""
    if not text:
        return None
    boxed = _last_braced(text, ("\\boxed", "\\fbox"))
    if boxed is not None:
        v = parse_number(boxed)
        if v is None:
            nums = _numbers_in(_strip_latex(boxed).replace("{,}", ","))
            v = nums[-1][1] if len(nums) == 1 else None
        if v is not None:
            return v
    clean = text.replace("{,}", ",").replace("\\$", "$").replace("**", "")
    if "####" in clean:
        tail = clean.rsplit("####", 1)[1]
        nums = _numbers_in(tail)
        if nums:
            return nums[0][1]
    matches = list(_ANSWER_PHRASE.finditer(clean))
    for m in reversed(matches):
        tail = clean[m.end() : m.end() + 80]
        line = re.split(r"\n|(?<=\D)\.(?:\s|$)", tail, maxsplit=1)[0]
        direct = parse_number(line)
        if direct is not None:
            return direct
        nums = _numbers_in(line)
        if nums:
            return nums[0][1]
    nums = _numbers_in(clean)
    return nums[-1][1] if nums else None


# ------------------------------------------------------------------------------------------------
# Comparison

_SAFE_EXPR = re.compile(r"[0-9a-zA-Z_+\-*/^().,\s]*")
_SAFE_NAMES = {"sqrt", "pi", "e", "E", "exp", "log", "ln", "sin", "cos", "tan", "abs", "frac", "x", "y", "z",
               "n", "a", "b", "c", "I"}


def _latex_to_sympy_text(text: str) -> str:
    s = _strip_latex(text)
    s = re.sub(r"\\sqrt\s*\{([^{}]*)\}", r"sqrt(\1)", s)
    s = re.sub(r"\\sqrt\s*(\d+)", r"sqrt(\1)", s)
    s = s.replace("\\pi", "pi").replace("{", "(").replace("}", ")").replace("\\", "")
    s = _CURRENCY.sub("", s).replace("−", "-")
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)
    return s.strip().rstrip(".")


def _sympify(text: str):  # -> sympy.Expr | None (sympy is imported lazily)
    """Parse a *whitelisted* expression string with sympy; None if unsafe, too big or invalid."""
    s = _latex_to_sympy_text(text)
    if not s or len(s) > 200 or not _SAFE_EXPR.fullmatch(s) or "__" in s:
        return None
    if any(w not in _SAFE_NAMES for w in re.findall(r"[A-Za-z_]+", s)):
        return None
    powers = re.findall(r"\^|\*\*", s)
    if len(powers) > 2 or re.search(r"(?:\^|\*\*)[^+\-*/]*(?:\^|\*\*)", s):
        return None  # chained powers (9^9^9) would hang
    for m in re.finditer(r"(?:\^|\*\*)\s*\(?\s*([-+]?[\d.]+)", s):
        if abs(float(m.group(1))) > 100:
            return None
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    transformations = (*standard_transformations, implicit_multiplication_application, convert_xor)
    try:
        return parse_expr(s.replace("ln", "log"), transformations=transformations, evaluate=True)
    except Exception:  # sympy raises many kinds on bad input
        return None


def equivalent(a: str, b: str, rel_tol: float = 1e-4, abs_tol: float = 1e-6) -> bool:
    """Symbolic equivalence of two expression strings (`2*sqrt(2)` vs `sqrt(8)`), via sympy."""
    ea, eb = _sympify(a), _sympify(b)
    if ea is None or eb is None:
        return False
    try:
        if not ea.free_symbols and not eb.free_symbols:
            va, vb = complex(ea.evalf()), complex(eb.evalf())
            return math.isclose(va.real, vb.real, rel_tol=rel_tol, abs_tol=abs_tol) and \
                math.isclose(va.imag, vb.imag, rel_tol=rel_tol, abs_tol=abs_tol)
        import sympy

        return sympy.simplify(ea - eb) == 0
    except Exception:  # evalf/simplify on odd input
        return False


def _integral(x: float) -> bool:
    """An integer up to float noise (71.99999999999 from an executed program)."""
    return abs(x - round(x)) <= 1e-9 * max(1.0, abs(x))


def _as_number(x: object) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    if isinstance(x, int | float):
        return float(x) if math.isfinite(x) else None
    return parse_number(str(x))


def answers_match(pred: float | int | str | None, gold: float | int | str | None,
                  rel_tol: float = 1e-4, abs_tol: float = 1e-6) -> bool:
    """Is `pred` the same answer as `gold`? Numbers by tolerance; expression strings by sympy."""
    p, g = _as_number(pred), _as_number(gold)
    if p is not None and g is not None:
        if _integral(p) and _integral(g):
            return round(p) == round(g)  # 1000000 vs 1000099 are different answers
        return math.isclose(p, g, rel_tol=rel_tol, abs_tol=abs_tol)
    if pred is None or gold is None:
        return False
    if (p is None and not isinstance(pred, str)) or (g is None and not isinstance(gold, str)):
        return False
    return equivalent(str(pred), str(gold), rel_tol, abs_tol)
