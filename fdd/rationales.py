"""Rationale formats: how a rationale becomes a student target, and how an answer is read back.

A format is selected by name (`rationale=pot|cot|eot`). Every format turns a batch of rationale
texts (teacher-written or student-generated) into numeric answers, so evaluation and verification
share one code path:

- `pot` (Program-of-Thought): a Python program, executed in the sandbox (fdd.sandbox).
- `cot` (Chain-of-Thought): worked text ending in "The answer is X."; X is read (fdd.answers),
  nothing runs.
- `eot` (Equation-of-Thought): a system of equations, one per line (`x = 12 + 5`, `2 * y = x`),
  ending in `ans = ...`, solved with sympy. The text is only *parsed* here (with `ast`, checked
  to hold names, numbers and arithmetic) and translated into a small sympy program that the
  sandbox runs, because sympy's own string parser calls `eval` on untrusted text.

Every format also says where a generated rationale is finished (`end`), so generation can stop a
sequence there instead of running to the token limit (fdd/student/stopping.py): a barely trained student
rarely emits EOS, and one such sequence holds its whole batch to `max_new_tokens`.
- all formats: a line that starts a new "Question:" (the student imitating a few-shot prompt);
- pot: the completed top-level statement that sets `ans` (brackets closed), or a blank line after
  a `return` (a `solution()` function); and a program that is already a syntax error whatever
  follows (`hopeless`: completed lines that fail to parse, or a line of prose), whose answer is
  an error either way;
- eot: the completed `ans = ...` line, or a blank line after it;
- cot: the end of the sentence that states the answer ("The answer is X." / "#### X").
A rationale that sets its answer before its last line (`ans = 0`, then a loop adding to it) would
be cut short by the answer rules; `early_end` finds such training targets, and a run whose round-0
targets hold more than a few of them generates `without_answer_rule` (fdd/pipeline.py `stop_rules`).
"""

from __future__ import annotations

import ast
import copy
import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from fdd.problems import Problem


class Rationale(str):
    """A teacher's text that may be cut short: its reply stopped at the token limit
    (`finish_reason=length`). Verification uses such a text only against a gold answer (round 0)
    and names the cut as the rejection reason (`truncated`, fdd/verify/)."""

    truncated: bool = False

    def __new__(cls, text: str, truncated: bool = False) -> Rationale:
        obj = super().__new__(cls, text)
        obj.truncated = truncated
        return obj


def truncated(text: object) -> bool:
    """Whether a teacher text is marked as possibly cut (see `Rationale`)."""
    return bool(getattr(text, "truncated", False))


@dataclass(frozen=True)
class Answer:
    value: float | None
    error: str | None = None


_NEW_QUESTION = re.compile(r"^[ \t]*Question[ \t]*:", re.M)
_SETS_ANS = re.compile(r"ans[ \t]*(?::[^=\n]*)?=(?!=)")  # at column 0: `ans = ...`, `ans: float = ...`
_RETURN = re.compile(r"[ \t]+return\b")
_OPEN, _CLOSE = "([{", ")]}"
_PROSE = re.compile(r"[ \t]*([A-Za-z_]\w*)[ \t]+([A-Za-z_]\w*)(?=[^\w])")  # two words, the second complete
_KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | {"print", "exec"}


class RationaleFormat:
    name: str = ""
    triggers: str = "\n:"  # a token holding one of these may finish a rationale: only then is `end` asked
    answer_rule: bool = True  # `end` also at the statement that gives the answer (off: `without_answer_rule`)

    def without_answer_rule(self) -> RationaleFormat:
        """This format with `end` reduced to the rules that cannot cut a rationale short: a new
        "Question:" line (and EOS, in generation). For runs whose training targets state their answer
        before they end (fdd/pipeline.py `stop_rules`)."""
        fmt = copy.copy(self)
        fmt.answer_rule = False
        return fmt

    def render(self, problem: Problem) -> str:
        """The student's training target for a problem."""
        return (problem.rationale or "").strip()

    def answers(self, texts: Sequence[str]) -> list[Answer]:
        raise NotImplementedError

    def end(self, text: str) -> int | None:
        """Where the rationale that `text` begins is finished (cut there), or None while it may go on."""
        q = _NEW_QUESTION.search(text)
        return q.start() if q else None

    def hopeless(self, text: str) -> bool:
        """Whether no continuation of `text` can give an answer (generation may stop, the text stays)."""
        return False

    def cut(self, text: str) -> str:
        """`text` up to the end of its rationale (all of it if it never finishes)."""
        e = self.end(text)
        return text if e is None else text[:e].rstrip()

    def early_end(self, target: str) -> bool:
        """Whether generation would stop inside this training target: `end` fires on one of its
        prefixes (the ones a trigger token can end) before the target's last line."""
        target = target.rstrip()
        for i, ch in enumerate(target):
            if ch in self.triggers and (e := self.end(target[:i + 1])) is not None and e < len(target):
                return True
        return False


def _answer_line_end(text: str, returns: bool) -> int | None:
    """End of the first completed top-level statement that sets `ans` (brackets balanced over its
    lines), or the start of a blank line after it or, with `returns`, after a `return` line."""
    pos, depth, pending, answered = 0, 0, False, False
    for line in text.split("\n")[:-1]:  # completed lines only
        line += "\n"
        stripped = line.strip()
        if not stripped:
            if answered:
                return pos
        else:
            answered = False
            if not pending and _SETS_ANS.match(line):
                pending, depth = True, 0
            elif returns and _RETURN.match(line):
                answered = True
            if pending:
                depth += sum(line.count(c) for c in _OPEN) - sum(line.count(c) for c in _CLOSE)
                if depth <= 0 and not stripped.endswith("\\"):
                    return pos + len(line)
        pos += len(line)
    return None


class PoT(RationaleFormat):
    """Program-of-Thought: a Python program; its `ans` (see fdd.sandbox) is the answer."""

    name = "pot"

    def answers(self, texts: Sequence[str]) -> list[Answer]:
        from fdd.sandbox import execute

        return [Answer(o.answer, o.error) for o in execute(list(texts))]

    def end(self, text: str) -> int | None:
        ends = [super().end(text), _answer_line_end(text, returns=True) if self.answer_rule else None]
        return min((e for e in ends if e is not None), default=None)

    def hopeless(self, text: str) -> bool:
        """The completed lines are a syntax error that no further line can mend (`codeop`, the
        interactive interpreter's test: compile only, nothing runs), or, outside any open bracket or
        string, the line being written starts with two plain words ("To solve", "Jamaar has"): no
        Python statement does."""
        import codeop
        import warnings

        cut = text.rfind("\n") + 1
        done = text[:cut]
        complete = True
        if done.strip():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SyntaxWarning for odd literals
                try:
                    complete = codeop.compile_command(done, "<rationale>", "exec") is not None
                except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
                    return True
        m = _PROSE.match(text, cut)
        return bool(complete and m and not ({m.group(1), m.group(2)} & _KEYWORDS))


# --- Chain-of-Thought -------------------------------------------------------------------------
def cot_answer(text: str) -> float | None:
    """The final answer of worked text: "The answer is X" / "#### X" / a boxed value, else the last
    number (fdd.answers.extract_final_answer, so gold labels and outputs follow one set of rules)."""
    from fdd.answers import extract_final_answer

    return extract_final_answer(text or "")


_ANSWER_CUE = re.compile(r"answer\s+is\b|####", re.I)
_SENTENCE_END = re.compile(r"[.!](?=\s)|\n")


class CoT(RationaleFormat):
    """Chain-of-Thought: worked text; the number in its final "The answer is X." is the answer."""

    name = "cot"
    triggers = "\n:.! \t"  # a sentence ends at its full stop, seen once the next token is a space

    def end(self, text: str) -> int | None:
        """The end of the first sentence that states the answer with a number in it."""
        q = super().end(text)
        if not self.answer_rule:
            return q
        for m in _ANSWER_CUE.finditer(text if q is None else text[:q]):
            rest = text[m.end():]
            e = _SENTENCE_END.search(rest)
            if e is not None and any(ch.isdigit() for ch in rest[:e.start()]):
                return m.end() + e.end()
        return q

    def answers(self, texts: Sequence[str]) -> list[Answer]:
        out = []
        for t in texts:
            v = cot_answer(t)
            out.append(Answer(v) if v is not None else Answer(None, "no_answer"))
        return out


# --- Equation-of-Thought ----------------------------------------------------------------------
_ARITH_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.Constant, ast.Add, ast.Sub,
                ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Mod, ast.FloorDiv)
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.Mod: "%", ast.FloorDiv: "//"}
_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.S)
_MAX_EQUATIONS = 64


def _arith(expr: str) -> ast.expr | None:
    """The parsed expression if it holds only names, int/float literals and arithmetic."""
    if not expr or len(expr) > 500:
        return None
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for node in ast.walk(tree):
        if not isinstance(node, _ARITH_NODES):
            return None
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, int | float)):
            return None
    return tree.body


def eot_equations(text: str) -> list[tuple[str, str]] | None:
    """The (lhs, rhs) pairs of an Equation-of-Thought text, or None if it has none.

    Lenient about what surrounds them (a ``` fence, bullets, numbering, `#` comments, prose lines
    are skipped). An `ans = ...` line is required, or added for the last equation's left side when
    that is a single name."""
    src = text or ""
    fenced = _FENCE.findall(src)
    if fenced:
        src = fenced[0]
    eqs: list[tuple[str, str]] = []
    for raw in src.replace("\r\n", "\n").split("\n"):
        line = re.sub(r"#.*", "", raw)
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", line).strip().rstrip(".;,")
        if line.count("=") != 1 or any(op in line for op in ("==", "<=", ">=", "!=")):
            continue
        lhs, rhs = (s.strip() for s in line.split("="))
        if _arith(lhs) is not None and _arith(rhs) is not None:
            eqs.append((lhs, rhs))
    if not eqs or len(eqs) > _MAX_EQUATIONS:
        return None
    if not any(lhs == "ans" for lhs, _ in eqs):
        if not re.fullmatch(r"[A-Za-z_]\w*", eqs[-1][0]):
            return None
        eqs.append(("ans", eqs[-1][0]))
    return eqs


def _sympy_src(node: ast.expr, names: dict[str, str]) -> str:
    """Python source building the expression with sympy objects (never via a string parser)."""
    if isinstance(node, ast.Name):
        return names.setdefault(node.id, f"s{len(names)}")
    if isinstance(node, ast.Constant):
        if isinstance(node.value, int):
            return f"Integer({node.value})"
        q = Fraction(repr(node.value))
        return f"Rational({q.numerator}, {q.denominator})"
    if isinstance(node, ast.UnaryOp):
        return f"({'-' if isinstance(node.op, ast.USub) else '+'}{_sympy_src(node.operand, names)})"
    if isinstance(node, ast.BinOp):
        return f"({_sympy_src(node.left, names)} {_OPS[type(node.op)]} {_sympy_src(node.right, names)})"
    raise ValueError(f"unexpected node {type(node).__name__}")


def eot_program(text: str) -> str | None:
    """A sandbox program that solves the EoT system with sympy and leaves the answer in `ans`
    (a real solution; a non-negative one if there are several); None if the text has no system."""
    eqs = eot_equations(text)
    if eqs is None:
        return None
    names: dict[str, str] = {"ans": "s0"}
    try:
        sides = [(_sympy_src(_arith(lhs), names), _sympy_src(_arith(rhs), names)) for lhs, rhs in eqs]
    except (ValueError, OverflowError, RecursionError):
        return None
    symbols = sorted(set(names.values()), key=lambda s: int(s[1:]))
    lines = ["from sympy import Eq, Integer, Rational, Symbol, solve"]
    lines += [f"{s} = Symbol('{s}')" for s in symbols]
    lines.append("equations = [" + ", ".join(f"Eq({a}, {b})" for a, b in sides) + "]")
    # check=False: solve's solution check imports sympy.physics.units, whose import-time sympify
    # of strings the sandbox refuses; we pick a real (preferably non-negative) solution ourselves.
    lines.append(f"solutions = solve(equations, [{', '.join(symbols)}], dict=True, check=False)")
    lines += ["ans = None",
              "for solution in solutions:",
              "    value = solution.get(s0)",
              "    if value is not None and value.is_number and value.is_real:",
              "        if ans is None or (ans < 0 and value >= 0):",
              "            ans = value"]
    return "\n".join(lines) + "\n"


class EoT(RationaleFormat):
    """Equation-of-Thought: a system of equations ending in `ans = ...`, solved with sympy in the sandbox."""

    name = "eot"

    def end(self, text: str) -> int | None:
        ends = [super().end(text), _answer_line_end(text, returns=False) if self.answer_rule else None]
        return min((e for e in ends if e is not None), default=None)

    def answers(self, texts: Sequence[str]) -> list[Answer]:
        from fdd.sandbox import execute

        programs = [eot_program(t) for t in texts]
        runnable = [p for p in programs if p is not None]
        outcomes = iter(execute(runnable)) if runnable else iter(())
        out = []
        for p in programs:
            if p is None:
                out.append(Answer(None, "syntax"))
            else:
                o = next(outcomes)
                out.append(Answer(o.answer, o.error))
        return out


FORMATS: dict[str, type[RationaleFormat]] = {"pot": PoT, "cot": CoT, "eot": EoT}


def get_format(name: str) -> RationaleFormat:
    try:
        return FORMATS[name]()
    except KeyError:
        raise ValueError(f"unknown rationale format {name!r} (known: {', '.join(sorted(FORMATS))})") from None
