"""Cheap static checks on a new teacher-written problem, run before any extra teacher request.

Each check returns True when the problem must be rejected; its name is the rejection reason
recorded in summary.json `rejected_by`. None of them executes anything: programs are read with
`ast`, questions with regular expressions.

- `literal`: a PoT program that computes nothing (`ans = 27`): a hard-coded answer that no
  execution can check. None of the 8 744 verified GSM8K gold programs (train + test,
  fdd/datasets/gsm8k_gold.py) is flagged: every one computes its answer.
- `ignores_question`: a PoT program whose constants include none of the question's numbers
  (digits, `$1,000`, `50%`, and number words such as "fifteen" or "dozen"). Off by default:
  on the same gold programs it flags 27 of 8 744 (0.3 %), which start from a value GSM8K's
  solution worked out in prose; enable it with `teacher.checks`.
- `answer_fit`: the answer cannot fit the question: negative when the question asks "how many" /
  "how much", or not whole when it asks "how many <countable things>" (people, apples, boxes...;
  not units that may be fractional: dollars, hours, miles, cups, percent, ...). Every GSM8K gold
  answer (train + test) passes.
- `near_copy`: the new question is its parent again: the same text once case, punctuation and
  spacing are normalised, or the same numbers with at least half (`NEAR_COPY_OVERLAP`) of the parent's
  word 3-grams (fdd/verify/novelty.py, which applies the same measure to every question a new
  problem must not repeat) (a renamed person, an appended "Show your work."). A harder variation adds
  numbers and a similar problem changes them, so neither is caught.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Sequence

from fdd.verify.novelty import NUMBER as _NUMBER
from fdd.verify.novelty import near_copy

CHECKS = ("literal", "ignores_question", "answer_fit", "near_copy")
DEFAULT_CHECKS = ("literal", "answer_fit", "near_copy")
_WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000, "million": 1e6,
    "dozen": 12, "half": 2, "twice": 2, "double": 2, "triple": 3, "thrice": 3, "quarter": 4, "third": 3,
    "fourth": 4, "fifth": 5, "pair": 2, "once": 1,
}
_WORD_RE = re.compile(r"\b(" + "|".join(_WORD_NUMBERS) + r")s?\b", re.I)
# Nouns after "how many" whose count may be fractional (units of measure, money, time, rates).
_MEASURES = set("""
    second seconds minute minutes hour hours day days week weeks month months year years decade decades
    inch inches foot feet yard yards mile miles meter meters metre metres centimeter centimeters
    millimeter millimeters kilometer kilometers km cm mm m ft
    pound pounds ounce ounces gram grams kilogram kilograms kg lb lbs ton tons tonne tonnes
    cup cups gallon gallons liter liters litre litres milliliter milliliters ml quart quarts pint pints
    tablespoon tablespoons teaspoon teaspoons
    dollar dollars cent cents euro euros pound_sterling yen rupees
    percent percentage degrees degree calories calorie points point square cubic times acres acre
    more fewer less total of in did does do are is were was will would can could should have has
""".split())
_HOW_MANY = re.compile(r"\bhow\s+many\s+(?:more\s+|fewer\s+|less\s+|whole\s+|full\s+|total\s+|different\s+)*"
                       r"([a-z]+)", re.I)
_HOW_MUCH = re.compile(r"\bhow\s+(?:many|much)\b", re.I)
_COMPUTES = (ast.BinOp, ast.Call, ast.AugAssign, ast.Compare, ast.BoolOp, ast.comprehension, ast.Subscript,
             ast.FunctionDef, ast.For, ast.While)


def question_numbers(question: str) -> set[float]:
    """The numbers a question states: digits (with thousands separators), and number words."""
    out = set()
    for m in _NUMBER.finditer(question):
        try:
            out.add(float(m.group(0).replace(",", "")))
        except ValueError:
            continue
    out |= {float(_WORD_NUMBERS[m.group(1).lower()]) for m in _WORD_RE.finditer(question)}
    return out


def _constants(tree: ast.AST) -> set[float]:
    return {float(n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, int | float) and not isinstance(n.value, bool)}


def _tree(program: str) -> ast.AST | None:
    try:
        return ast.parse(program or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def is_literal(program: str) -> bool:
    """A program that computes nothing: only names bound to constants (a unary minus is a constant)."""
    tree = _tree(program)
    return tree is not None and not any(isinstance(n, _COMPUTES) for n in ast.walk(tree))


def ignores_question(program: str, question: str) -> bool:
    """A program using none of the question's numbers (as written, or as a percentage's fraction)."""
    tree, numbers = _tree(program), question_numbers(question)
    if tree is None or not numbers:
        return False
    consts = _constants(tree)

    def close(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)

    scaled = {v * s for v in numbers for s in (1, 0.01, 100)} | {1 / v for v in numbers if v}  # 50% / half
    return not any(close(c, v) for v in scaled for c in consts)


def answer_unfit(answer: float, question: str) -> bool:
    """A negative "how many / how much", or a non-whole count of countable things."""
    if _HOW_MUCH.search(question) and answer < 0:
        return True
    if abs(answer - round(answer)) <= 1e-9:
        return False
    return any(m.group(1).lower() not in _MEASURES for m in _HOW_MANY.finditer(question))


def rejection(question: str, rationale: str, answer: float, parent: str | None, fmt: str = "pot",
              checks: Sequence[str] = DEFAULT_CHECKS, parent_answer: float | None = None) -> str | None:
    """The first check (in `checks` order) that rejects the problem, or None. A near-copy must also
    give the parent's answer (when known): a harder variation that adds a step without a new number
    ("How many minutes is that?") keeps the numbers and most of the text, but not the answer."""
    tests: dict[str, Callable[[], bool]] = {
        "literal": lambda: fmt == "pot" and is_literal(rationale),
        "ignores_question": lambda: fmt == "pot" and ignores_question(rationale, question),
        "answer_fit": lambda: answer_unfit(answer, question),
        "near_copy": lambda: parent is not None and near_copy(question, parent) and (
            parent_answer is None or math.isclose(answer, parent_answer, rel_tol=1e-9, abs_tol=1e-9)),
    }
    for name in checks:
        if name not in tests:
            raise ValueError(f"unknown check {name!r} (known: {', '.join(CHECKS)})")
        if tests[name]():
            return name
    return None
