"""Diagnosis by tag: where the student fails and where the teacher's new problems go.

Problems may carry `tags` (fdd/problems.py), e.g. {"kind": "rate", "steps": 2} on synthetic
problems, {"steps": 3} on GSM8K (calculator annotations of the gold solution), {"type":
"Subtraction"} on SVAMP and ASDiv. These functions count per tag value, for summary.json:

- `eval.<set>.by_tag.<tag>.<value>`  = {"accuracy", "n"}            (each evaluation set)
- `pool_by_tag.<tag>.<value>`        = {"easy", "hard"[, "borderline"]}  (the feedback pool's verdicts)
- `requests_by_tag.<tag>.<value>`    = {"harder", "similar"}       (requests sent, by the parent's tags)
- `added_by_tag.<tag>.<value>`       = {"harder", "similar"}       (verified new problems)

Read side by side they trace the feedback chain for one run: which problems the student fails, which
parents the teacher is asked about, what it writes that is kept, and what the student then solves.
Tag values become strings (they are JSON object keys). Untagged problems are left out of the
counts, so a set without tags has no `by_tag` at all. A list-valued tag (`step_kinds`, the kind of
every step of a synthetic problem) is counted by membership: `step_kinds=rate` counts the problems
with at least one rate step (once each), so its values overlap and do not add up to the set.

Where the student goes wrong (PoT): `first_wrong_steps` executes the student's program and the
reference program (the problem's verified rationale) step by step and finds the first reference
step whose value the student never computed: its position (1-based, counting the reference's
computing assignments; givens such as `apples = 12` and aliases such as `ans = total` are not
steps) and its kind: the problem's `step_kinds` tag where it has one of the right length, else the
step's operation (add, sub, mul, div, ...). A failure is `syntax` (the program does not parse),
`runtime` (it raised, timed out, gave no number) or `wrong_value` (it ran to a wrong answer); a
program that raised still shows the values it computed before. A student's value "computes" a
step when it matches it as answers do (fdd/answers.py). Only top-level assignments are probed,
each by running the program up to it with `ans` set to it: the values inside a `solution()`
function are not seen, nor sub-expressions never assigned to a name.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from fdd.answers import answers_match
from fdd.problems import Problem

_OPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.FloorDiv: "div", ast.Mod: "mod",
        ast.Pow: "pow"}
_UNPROBED = ("syntax", "timeout", "memory")  # errors whose program cannot show any value (or costs a timeout)


def accuracy_by_tag(problems: Sequence[Problem], correct: Mapping[str, bool]) -> dict[str, dict[str, dict]]:
    """{tag: {value: {"accuracy", "n"}}} over the problems whose id is in `correct`."""
    counts: dict[str, dict[str, list[int]]] = {}
    for p in problems:
        if p.id not in correct:
            continue
        for tag, value in _scalar_tags(p):
            slot = counts.setdefault(str(tag), {}).setdefault(str(value), [0, 0])
            slot[0] += bool(correct[p.id])
            slot[1] += 1
    return {tag: {v: {"accuracy": c / n, "n": n} for v, (c, n) in values.items()} for tag, values in counts.items()}


def counts_by_tag(labelled: Iterable[tuple[Problem, str]], labels: Sequence[str]) -> dict[str, dict[str, dict]]:
    """{tag: {value: {label: count}}} for (problem, label) pairs; every label appears (0 if none)."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for p, label in labelled:
        for tag, value in _scalar_tags(p):
            slot = out.setdefault(str(tag), {}).setdefault(str(value), dict.fromkeys(labels, 0))
            slot[label] = slot.get(label, 0) + 1
    return out


def inherit_tags(new: Iterable[Problem], parents: Mapping[str, Problem]) -> None:
    """A new problem without tags of its own takes its parent's (a copy), so the pool and the
    additions can be counted by kind even when the teacher (an LLM) cannot label what it writes."""
    for p in new:
        parent = parents.get(p.parent_id) if p.parent_id is not None else None
        if not p.tags and parent is not None and parent.tags:
            p.tags = dict(parent.tags)


def mark_rare(problems: Iterable[Problem], rare: set[str]) -> None:
    """Tag each problem with step kinds `rare_kind` yes/no: whether it holds a kind the training set
    made rare (`dataset.kind_weights`), the weakness a skewed testbed puts there on purpose."""
    for p in problems if rare else ():
        kinds = (p.tags or {}).get("step_kinds")
        if isinstance(kinds, list | tuple):
            p.tags["rare_kind"] = "yes" if rare & set(kinds) else "no"


def _scalar_tags(p: Problem) -> list[tuple[str, object]]:
    """(tag, value) pairs a problem is counted under: scalar tags as they are, a list tag once per
    distinct element (membership)."""
    out = []
    for t, v in (p.tags or {}).items():
        if isinstance(v, list | tuple):
            out += [(t, x) for x in dict.fromkeys(v) if not isinstance(x, list | tuple | dict)]
        elif not isinstance(v, dict):
            out.append((t, v))
    return out


# --- where the student goes wrong ----------------------------------------------------------------
@dataclass(frozen=True)
class FirstWrong:
    """A failed PoT solution against its reference: see the module docstring."""

    failure: str              # syntax | runtime | wrong_value
    position: int | None      # 1-based reference step the student never computed; None: all were, or unknown
    kind: str | None          # that step's kind (step_kinds tag) or operation
    steps: int                # computing steps in the reference program
    line: str | None = None   # that step's line in the reference program

    def as_dict(self) -> dict:
        return asdict(self)


def _assignments(source: str) -> tuple[ast.Module, list[tuple[int, str, ast.expr]]] | None:
    """The parsed program and its top-level assignments to one name: (statement index, name, value);
    `x += e` counts as `x = x + e`. None if it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    out = []
    for i, st in enumerate(tree.body):
        if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
            out.append((i, st.targets[0].id, st.value))
        elif isinstance(st, ast.AnnAssign) and st.value is not None and isinstance(st.target, ast.Name):
            out.append((i, st.target.id, st.value))
        elif isinstance(st, ast.AugAssign) and isinstance(st.target, ast.Name):
            out.append((i, st.target.id, ast.BinOp(ast.Name(st.target.id, ast.Load()), st.op, st.value)))
    return tree, out


def _computes(value: ast.expr) -> bool:
    """Whether an assigned value is a step: not a given number nor another name."""
    if isinstance(value, ast.UnaryOp) and isinstance(value.operand, ast.Constant):
        return False
    return not isinstance(value, ast.Constant | ast.Name)


def _operation(value: ast.expr) -> str:
    if isinstance(value, ast.BinOp):
        return _OPS.get(type(value.op), "other")
    return "call" if isinstance(value, ast.Call) else "other"


def _probe(tree: ast.Module, index: int, name: str) -> str:
    """The program up to statement `index`, with its answer set to `name`."""
    body = [*tree.body[:index + 1], ast.Assign([ast.Name("ans", ast.Store())], ast.Name(name, ast.Load()))]
    return ast.unparse(ast.fix_missing_locations(ast.Module(body=body, type_ignores=[])))


def first_wrong_steps(failures: Sequence[tuple[Problem, str, str | None]], execute=None,
                      reference_cache: dict | None = None) -> list[FirstWrong]:
    """One `FirstWrong` per (problem, student output, student error) of a failed PoT solution. All
    probes run in one sandbox batch (`execute`, default fdd.sandbox.execute); `reference_cache`
    keeps the reference's step values between rounds (the feedback pool is often the same)."""
    if execute is None:
        from fdd.sandbox import execute
    cache = reference_cache if reference_cache is not None else {}
    programs: list[str] = []
    plans = []
    for p, output, error in failures:
        ref_key = (p.id, p.rationale)
        ref = None
        if ref_key not in cache:
            parsed = _assignments(p.rationale or "")
            if parsed is not None:
                tree, assigns = parsed
                steps = [(i, name, value) for i, name, value in assigns if _computes(value)]
                ref = (len(programs), steps, tree)
                programs += [_probe(tree, i, name) for i, name, _ in steps]
        stu = None
        failure = "syntax" if error == "syntax" else "runtime" if error else "wrong_value"
        if error not in _UNPROBED and (parsed_stu := _assignments(output or "")) is not None:
            tree, assigns = parsed_stu
            stu = (len(programs), len(assigns))
            programs += [_probe(tree, i, name) for i, name, _ in assigns]
        plans.append((p, failure, ref_key, ref, stu))
    outcomes = execute(programs) if programs else []
    out = []
    for p, failure, ref_key, ref, stu in plans:
        if ref is not None:
            start, steps, tree = ref
            values = [o.answer for o in outcomes[start:start + len(steps)]]
            lines = (p.rationale or "").split("\n")
            cache[ref_key] = [(v, _operation(value), lines[tree.body[i].lineno - 1].strip() if tree.body[i].lineno <= len(lines) else None)
                              for v, (i, _, value) in zip(values, steps)]
        reference = cache.get(ref_key)
        if not reference or any(v is None for v, _, _ in reference):  # the reference itself cannot be probed
            out.append(FirstWrong(failure, None, None, len(reference or [])))
            continue
        if stu is None:  # nothing of the student's program could run
            out.append(FirstWrong(failure, None, None, len(reference)))
            continue
        got = [o.answer for o in outcomes[stu[0]:stu[0] + stu[1]] if o.answer is not None]
        first = next((j for j, (v, _, _) in enumerate(reference) if not any(answers_match(g, v) for g in got)), None)
        if first is None:
            out.append(FirstWrong(failure, None, None, len(reference)))
            continue
        kinds = (p.tags or {}).get("step_kinds")
        kind = kinds[first] if isinstance(kinds, list) and len(kinds) == len(reference) else reference[first][1]
        out.append(FirstWrong(failure, first + 1, str(kind), len(reference), reference[first][2]))
    return out


def first_wrong_counts(diagnoses: Sequence[FirstWrong]) -> dict:
    """summary.json's `diagnosis` of a round: failures by type, first wrong steps by kind and by
    position (`none`: every reference step was computed, or the program showed nothing)."""
    return {"failures": len(diagnoses),
            "failure": dict(Counter(d.failure for d in diagnoses)),
            "first_wrong_kind": dict(Counter(d.kind for d in diagnoses if d.kind is not None)),
            "first_wrong_position": dict(Counter(str(d.position) if d.position else "none" for d in diagnoses))}
