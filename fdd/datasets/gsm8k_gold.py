"""GSM8K worked solutions as Program-of-Thought programs that reproduce the gold answer.

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
- a literal annotation (`1.5 / .25 = <<6=6>>6`, `2J = <<24=24>>24`) is read as the computation
  written before it; `ans` is never a bare literal: a solution that only states its answer is
  an exception, not the program `ans = 6`;
- `ans` is the last step whose value is gold; if the writer finished in prose, `ans` says how
  (`* 100` for a percentage, a unit conversion, `round`/`math.floor`/`math.ceil`); steps the
  answer does not depend on are dropped.

Candidates are executed in the sandbox (fdd.sandbox) and kept only if they reproduce gold; the
same steps with unlinked literals are the fallback when linking changes the value. What still
fails is reported with a reason; docs/gsm8k_gold.md lists GSM8K's exceptions (dataset errors,
answers found by reasoning rather than arithmetic, clock times, typos).

Three modules: gsm8k_arith.py reads the writer's arithmetic, gsm8k_steps.py finds the steps, this
one writes and verifies the programs (`convert`) and the CoT/EoT views (`to_cot`, `to_eot`).
`teacher=gold` (fdd/teachers/gold.py) hands these out as rationales; `python -m fdd.datasets
gsm8k --check-gold` reports what converts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from fdd.datasets.gsm8k import final_answer
from fdd.datasets.gsm8k_arith import _ANNOTATION, _close, _eval, _num, _render, _tokens
from fdd.datasets.gsm8k_steps import Step, _unique, solution_steps
from fdd.problems import Problem


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
    # `ans` is never a bare restated literal (`<<7=7>>7`): a program that computes nothing is no rationale
    computes = [steps[i].kind == "equation" or any(t[0] == "var" for t in exprs[i])
                or sum(t[0] == "num" for t in exprs[i]) > 1 for i in range(len(steps))]
    pick, wrap = None, "{}"
    checked = [i for i in range(len(steps) - 1, -1, -1) if steps[i].kind != "unchecked"]
    for i in checked:
        if computes[i] and _close(values[i], gold):
            pick = i
            break
    if pick is None:
        for i in checked:
            w = _final_wrap(values[i], gold)
            if w and (computes[i] or w != "{}"):
                pick, wrap = i, w
                break
    if pick is None:
        pick = next((i for i in range(len(steps) - 1, -1, -1) if computes[i] and _close(values[i], gold)), None)
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
# Batch conversion (verified in the sandbox) and the CoT / EoT views


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
    from fdd.sandbox import execute

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
