"""Worked solutions of a Spec in each rationale format (pot, cot, eot; fdd/rationales.py reads them).

PoT keeps one variable per unit (`hours = 6`, `dollars = hours * 12`, ...), so the program names
what each number means, as a teacher's would; EoT numbers its unknowns, since an equation system
cannot reassign a name; CoT writes each operation with its result.
"""

from __future__ import annotations

from fdd.datasets.synthetic.kinds import apply, expression
from fdd.datasets.synthetic.spec import Spec


def render_program(spec: Spec) -> str:
    units = spec.units()
    lines = [f"{spec.unit} = {spec.start}"]
    for s, before in zip(spec.steps, units):
        lines.append(f"{s.unit} = {expression(s.op, before, s.args)}")
    lines.append(f"ans = {units[-1]}")
    return "\n".join(lines)


def render_equations(spec: Spec) -> str:
    names = [f"{u}{i}" for i, u in enumerate(spec.units())]
    lines = [f"{names[0]} = {spec.start}"]
    for i, s in enumerate(spec.steps):
        lines.append(f"{names[i + 1]} = {expression(s.op, names[i], s.args, div='/')}")
    lines.append(f"ans = {names[-1]}")
    return "\n".join(lines)


def render_cot(spec: Spec) -> str:
    parts = [f"{spec.name} starts with {spec.start} {spec.unit}."]
    v = spec.start
    for s in spec.steps:
        r = apply(s.op, v, s.args)
        if s.op in ("off", "up"):
            part = v * s.args[0] // s.args[1]
            parts.append(f"{v} * {s.args[0]} / {s.args[1]} = {part}.")
            parts.append(f"{v} {'-' if s.op == 'off' else '+'} {part} = {r}.")
        else:
            parts.append(f"{expression(s.op, str(v), s.args, div='/')} = {r} {s.unit}.")
        v = r
    parts.append(f"The answer is {v}.")
    return " ".join(parts)


RENDER = {"pot": render_program, "cot": render_cot, "eot": render_equations}
