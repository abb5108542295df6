"""Questions of the synthetic family: render a Spec as text, and parse text back into its Spec.

Every sentence comes from a template (fdd.datasets.synthetic.kinds, .spec), so a question can be
read back exactly; the symbolic teacher works from the question text alone, as an LLM would.
"""

from __future__ import annotations

import re

from fdd.datasets.synthetic.kinds import (
    TEMPLATES,
    VERB,
    Template,
    accepts,
    apply,
    base_class,
    class_after,
    plural,
    singular,
)
from fdd.datasets.synthetic.spec import INTRO, QUESTION, Spec, Step, start_class
from fdd.datasets.synthetic.vocab import (
    CONTAINERS,
    FRACTIONS,
    MONEY,
    OBJECTS,
    PARTS,
    TIME,
    WORK_UNITS,
    conversion,
    fraction_value,
    unit_class,
)

_KNOWN_UNITS = set(OBJECTS) | set(CONTAINERS) | set(MONEY) | set(TIME)
_FRAC_RX = "|".join([*sorted(FRACTIONS, key=len, reverse=True), r"\d+/\d+"])
_GROUPS = {"name": r"[A-Z][a-z]+", "other": r"[A-Z][a-z]+", "other2": r"[A-Z][a-z]+", "n": r"\d+", "m": r"\d+",
           "unit": r"[a-z]+", "new": r"[a-z]+", "obj": r"[a-z]+", "tsing": "minute|hour|day|week",
           "tnew": "minute|hour|day|week", "frac": _FRAC_RX, "part": "|".join(PARTS),
           "verb": "|".join(sorted(set(VERB.values())))}
_SENTENCE = re.compile(r"[^.?]+[.?]")


def _pattern(template: str) -> re.Pattern:
    rx, seen = [], set()
    for piece in re.split(r"(\{\w+\})", template):
        key = piece[1:-1] if piece.startswith("{") and piece.endswith("}") else None
        if key is None:
            rx.append(re.escape(piece))
        elif key in seen:
            rx.append(f"(?P={key})")
        else:
            seen.add(key)
            rx.append(f"(?P<{key}>{_GROUPS[key]})")
    return re.compile("".join(rx) + "$")


_INTRO_RX = [_pattern(t.text) for t in INTRO]
_STEP_RX = [_pattern(t.text) for t in TEMPLATES]
_QUESTION_RX = {cls: [_pattern(q) for q in qs] for cls, qs in QUESTION.items()}


def _fields(spec: Spec, s: Step, unit: str, cls: str, subject: str) -> dict:
    others = (*s.others, "", "")
    return {"name": subject, "unit": unit, "other": others[0], "other2": others[1], "n": s.args[0],
            "m": s.args[1] if len(s.args) > 1 else "", "frac": s.phrase, "part": s.phrase, "new": s.unit,
            "tsing": singular(unit), "tnew": singular(s.unit), "obj": spec.obj, "verb": VERB[cls]}


def render_question(spec: Spec) -> str:
    parts = [INTRO[spec.intro].text.format(name=spec.name, n=spec.start, unit=spec.unit)]
    units, classes, subjects = spec.units(), spec.classes(), spec.subjects()
    for s, unit, cls, subject in zip(spec.steps, units, classes, subjects):
        parts.append(TEMPLATES[s.template].text.format(**_fields(spec, s, unit, cls, subject)))
    parts.append(QUESTION[classes[-1]][spec.question].format(unit=units[-1], name=subjects[-1]))
    return " ".join(parts)


def _read_step(t: Template, i: int, g: dict, unit: str, cls: str, subject: str, obj: str) -> Step | None:
    if g.get("name", subject) != subject or g.get("unit", unit) != unit or not accepts(t, cls, unit):
        return None
    if g.get("verb", VERB[cls]) != VERB[cls]:
        return None
    o = g.get("obj")
    if o is not None and (o not in OBJECTS or (obj and o != obj)):
        return None
    tnew = g["new"] if "new" in g else plural(g.get("tnew", ""))
    out = {"same": unit, "obj": o, "new": g.get("new"), "tnew": tnew}.get(t.out, t.out)
    if out not in _KNOWN_UNITS or (t.out == "tnew" and out not in WORK_UNITS):
        return None
    phrase = ""
    if t.kind == "convert":
        rule = conversion(unit, out)
        if rule is None:
            return None
        op, args = rule[0], (rule[1],)
    else:
        op = t.op
        if "frac" in g:
            phrase, args = g["frac"], fraction_value(g["frac"])
            if not 0 < args[0] < args[1]:
                return None
        elif "part" in g:
            phrase, args = g["part"], (PARTS[g["part"]],)
        elif t.kind == "percent":
            args = (int(g["n"]), 100)
        else:
            args = tuple(int(g[k]) for k in ("n", "m") if k in g)
    if op == "div" and args[0] == 0:
        return None
    return Step(t.kind, op, i, args, out, phrase, tuple(g[k] for k in ("other", "other2") if k in g))


def parse_question(text: str) -> Spec | None:
    """Recover the Spec of a family question; None if it is not one."""
    sentences = [s.strip() for s in _SENTENCE.findall(text)]
    if len(sentences) < 2:
        return None
    first = next(((i, m) for i, rx in enumerate(_INTRO_RX) if (m := rx.match(sentences[0]))), None)
    if first is None:
        return None
    intro, m = first
    unit = start_unit = m["unit"]
    if unit not in _KNOWN_UNITS or not any(base_class(c) == unit_class(unit) for c in INTRO[intro].ins):
        return None
    cls = start_class(intro, unit)
    if not accepts(INTRO[intro], cls, unit):
        return None
    name, start, obj = m["name"], int(m["n"]), unit if unit in OBJECTS else ""
    steps, subject, v = [], name, start
    for sent in sentences[1:-1]:
        step = None
        for i, rx in enumerate(_STEP_RX):
            if (m := rx.match(sent)) and (step := _read_step(TEMPLATES[i], i, m.groupdict(), unit, cls, subject,
                                                             obj)):
                break
        if step is None:
            return None
        v = apply(step.op, v, step.args)
        if v < 1:
            return None
        if "{obj}" in TEMPLATES[step.template].text or (not obj and step.unit in OBJECTS):
            obj = obj or step.unit
        steps.append(step)
        cls = class_after(TEMPLATES[step.template], cls, step.unit)
        unit = step.unit
        subject = step.others[0] if step.kind == "compare" else subject
    q = next((i for i, rx in enumerate(_QUESTION_RX[cls]) if (m := rx.match(sentences[-1]))
              and m["unit"] == unit and m.groupdict().get("name", subject) == subject), None)
    if q is None:
        return None
    return Spec(name, obj, start, start_unit, tuple(steps), intro, q)
