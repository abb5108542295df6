"""The kinds of steps, modelled on GSM8K's common patterns, and the sentences that state them.

Each step turns the running quantity (a value with a unit, held by the story's current person)
into a new one with one arithmetic operation:

| kind | what it models | operations |
| --- | --- | --- |
| `change` | buying, giving, losing | add, sub |
| `compare` | n more / n fewer / n times as many as another person, in both directions; the question then follows that person | add, sub, mul, div |
| `rate` | pay per hour, items made per hour, time needed at a rate | mul, div |
| `price` | unit prices and totals, how many a sum buys, change from a bill | mul, div, rsub |
| `fraction` | a fraction of a quantity kept or taken away | of, off |
| `percent` | a percentage kept, taken away or added | of, off, up |
| `group` | several containers or days, equal shares, sums across people | mul, div, sum |
| `convert` | hours → minutes, weeks → days, dollars → cents, dozens and pairs (the constant is never stated) | mul, div |

They differ in what a student must do: copy one number and pick + or − (`change`), read a
direction from word order (`compare`), recall a constant (`convert`), turn words into a fraction
and write a two-operation expression (`fraction`, `percent`), or copy two numbers (`group` sums).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from math import gcd

from fdd.datasets.synthetic.vocab import (
    BILLS,
    CONVERSIONS,
    FRACTIONS,
    OBJECTS,
    PARTS,
    PERCENTS,
    PLURAL,
    SINGULAR,
    TIME,
    conversion,
    unit_class,
)

MAX_VALUE = 999
ANY = ("count", "money", "time")


@dataclass(frozen=True)
class Template:
    kind: str
    op: str            # the operation; "*" (convert): decided by the units
    text: str
    ins: tuple[str, ...] = ANY   # unit classes, or unit names, it reads well with
    out: str = "same"  # the unit after: same | obj (the story's object) | new ({new}) | tnew ({tnew}) | a unit


T = Template
TEMPLATES: list[Template] = [
    T("change", "add", "{name} gets {n} more {unit}."),
    T("change", "add", "{other} gives {name} {n} more {unit}."),
    T("change", "add", "Then {name} buys {n} more {unit}.", ("object",)),
    T("change", "add", "{name} earns {n} more {unit}.", ("money",)),
    T("change", "sub", "{name} gives {n} {unit} to {other}.", ("count", "money")),
    T("change", "sub", "{name} loses {n} {unit}.", ("count", "money")),
    T("change", "sub", "Then {name} uses up {n} of the {unit}."),
    T("change", "sub", "{name} spends {n} {unit} on lunch.", ("money", "time")),
    T("compare", "add", "{other} has {n} more {unit} than {name}."),
    T("compare", "add", "{name} has {n} fewer {unit} than {other}."),
    T("compare", "sub", "{other} has {n} fewer {unit} than {name}."),
    T("compare", "sub", "{name} has {n} more {unit} than {other}."),
    T("compare", "mul", "{other} has {n} times as many {unit} as {name}."),
    T("compare", "mul", "{other} has {n} times the number of {unit} that {name} has."),
    T("compare", "div", "{name} has {n} times as many {unit} as {other}."),
    T("compare", "div", "{other} has {part} as many {unit} as {name}."),
    T("rate", "mul", "{name} earns {n} dollars per {tsing}.", ("time",), "dollars"),
    T("rate", "mul", "{name} is paid {n} dollars for each {tsing}.", ("time",), "dollars"),
    T("rate", "mul", "{name} makes {n} {obj} every {tsing}.", ("time",), "obj"),
    T("rate", "mul", "{name} picks {n} {obj} in each {tsing}.", ("time",), "obj"),
    T("rate", "div", "{name} packs {n} of the {unit} per {tnew}.", ("count",), "tnew"),
    T("rate", "div", "{name} spends the {unit} at {n} {unit} per {tnew}.", ("money",), "tnew"),
    T("rate", "div", "{name} uses {n} {unit} each {tnew} until they are gone.", ("count", "money"), "tnew"),
    T("price", "mul", "Each of the {unit} costs {n} dollars.", ("count",), "dollars"),
    T("price", "mul", "{name} sells the {unit} for {n} dollars each.", ("count",), "dollars"),
    T("price", "mul", "{name} pays {n} dollars for each of the {unit}.", ("count",), "dollars"),
    T("price", "div", "{name} spends all the {unit} on {obj} that cost {n} {unit} each.", ("money",), "obj"),
    T("price", "div", "{name} uses the {unit} to buy {obj} at {n} {unit} each.", ("money",), "obj"),
    T("price", "rsub", "{name} pays with a {n} dollar bill and gets the change.", ("dollars",)),
    T("price", "rsub", "{name} hands over {n} dollars and keeps the change.", ("dollars",)),
    T("fraction", "of", "{name} keeps {frac} of the {unit}."),
    T("fraction", "of", "Only {frac} of the {unit} are left after a while."),
    T("fraction", "off", "{name} gives away {frac} of the {unit}.", ("count", "money")),
    T("fraction", "off", "{name} uses {frac} of the {unit}."),
    T("fraction", "off", "Then {name} loses {frac} of the {unit}.", ("count", "money")),
    T("percent", "of", "{name} keeps {n}% of the {unit}."),
    T("percent", "of", "Only {n} percent of the {unit} are kept."),
    T("percent", "off", "{name} gives away {n}% of the {unit}.", ("count", "money")),
    T("percent", "off", "{name} gets a {n}% discount on the {unit}.", ("money",)),
    T("percent", "up", "The {unit} grow by {n}%."),
    T("percent", "up", "{name} adds {n} percent more {unit}."),
    T("group", "mul", "{name} has {n} bags with that many {unit} in each.", ("count",)),
    T("group", "mul", "The same happens on each of {n} days."),
    T("group", "div", "{name} shares the {unit} equally among {n} friends and keeps one share.", ("count", "money")),
    T("group", "div", "{name} splits the {unit} into {n} equal groups and keeps one group."),
    T("group", "div", "{name} packs the {unit} into boxes of {n}.", ("object",), "boxes"),
    T("group", "sum", "{other} has {n} {unit} and {other2} has {m} {unit}, and they put them together with "
                      "{name}'s."),
    T("group", "sum", "{other} brings {n} {unit} and {other2} brings {m} {unit} to add to {name}'s."),
    T("convert", "*", "{name} counts the time in {new}.", ("time",), "new"),
    T("convert", "*", "{name} writes the time down in {new}.", ("time",), "new"),
    T("convert", "*", "{name} changes the {unit} into {new}.", ("money",), "new"),
    T("convert", "*", "{name} packs the {unit} into cartons of a dozen.", ("object",), "cartons"),
    T("convert", "*", "{name} puts the {unit} into pairs.", ("object",), "pairs"),
    T("convert", "*", "Each of the {unit} holds a dozen {obj}.", ("boxes", "bags", "cartons"), "obj"),
]
KINDS = sorted({t.kind for t in TEMPLATES})
OPS_OF = {k: sorted({t.op for t in TEMPLATES if t.kind == k} - {"*"}) or ["mul", "div"] for k in KINDS}

# Operand ranges per kind for the one-number operations.
_MUL = {"compare": (2, 5), "rate": (2, 15), "price": (2, 12), "group": (2, 6)}
_DIV = {"compare": (2, 5), "rate": (2, 12), "price": (2, 20), "group": (2, 9)}


def accepts(t: Template, unit: str) -> bool:
    return any(c == unit or c == unit_class(unit) or (c == "object" and unit in OBJECTS) for c in t.ins)


def apply(op: str, v: int, args: tuple[int, ...]) -> int:
    a = args[0]
    if op == "add":
        return v + a
    if op == "sub":
        return v - a
    if op == "mul":
        return v * a
    if op == "div":
        return v // a
    if op == "rsub":
        return a - v
    if op == "sum":
        return v + a + args[1]
    part = v * a // args[1]
    return {"of": part, "off": v - part, "up": v + part}[op]


def expression(op: str, x: str, args: tuple[int, ...], div: str = "//") -> str:
    """The operation as a Python/equation expression on the variable `x`."""
    a = args[0]
    return {"add": f"{x} + {a}", "sub": f"{x} - {a}", "mul": f"{x} * {a}", "div": f"{x} {div} {a}",
            "rsub": f"{a} - {x}", "sum": f"{x} + {a} + {args[-1]}", "of": f"{x} * {a} {div} {args[-1]}",
            "off": f"{x} - {x} * {a} {div} {args[-1]}", "up": f"{x} + {x} * {a} {div} {args[-1]}"}[op]


def _ok(v: int) -> bool:
    return 1 <= v <= MAX_VALUE


def _fractions(v: int, rng: random.Random) -> list[tuple[tuple[int, int], str]]:
    words = [((a, b), w) for w, (a, b) in FRACTIONS.items() if v % b == 0]
    digits = [((a, b), f"{a}/{b}") for b in range(2, 11) for a in range(1, b)
              if gcd(a, b) == 1 and v % b == 0 and (a, b) not in FRACTIONS.values()]
    pool = words if words and (not digits or rng.random() < 0.5) else digits
    return pool


def sample(t: Template, v: int, unit: str, rng: random.Random, op: str | None = None
           ) -> tuple[str, tuple[int, ...], str, str] | None:
    """A random legal (op, args, phrase, unit after) for template `t` at value `v` in `unit`, with
    every result a positive integer ≤ MAX_VALUE; None if there is none. `phrase` is the word form
    of a fraction or part; `unit after` is "obj" when the step produces the story's object."""
    kind = t.kind
    if kind == "convert":
        if t.out == "new":
            outs = [dst for (src, dst) in conversion_table_for(unit)]
        else:
            outs = [t.out]
        cands = []
        for dst in outs:
            rule = conversion(unit, dst) if dst != "obj" else ("mul", 12)
            if rule and (op is None or rule[0] == op) and _ok(apply(rule[0], v, (rule[1],))) and \
                    (rule[0] == "mul" or v % rule[1] == 0):
                cands.append((rule[0], (rule[1],), "", dst))
        return rng.choice(cands) if cands else None
    if op is not None and op != t.op:
        return None
    op = t.op
    out = t.out
    if out == "tnew":
        out = rng.choice(TIME)
    phrase, args = "", None
    if kind == "percent":
        ps = [p for p in PERCENTS if v * p % 100 == 0 and _ok(apply(op, v, (p, 100)))]
        args = (rng.choice(ps), 100) if ps else None
    elif kind == "fraction":
        fr = _fractions(v, rng)
        if fr:
            args, phrase = rng.choice(fr)
    elif "{part}" in t.text:
        ds = [(d, w) for w, d in PARTS.items() if v % d == 0 and v > d]
        if ds:
            d, phrase = rng.choice(ds)
            args = (d,)
    elif op == "add":
        args = (rng.randint(1, min(50, MAX_VALUE - v)),) if v < MAX_VALUE else None
    elif op == "sub":
        args = (rng.randint(1, min(50, v - 1)),) if v > 1 else None
    elif op == "mul":
        lo, hi = _MUL[kind]
        ns = [n for n in range(lo, hi + 1) if v * n <= MAX_VALUE]
        args = (rng.choice(ns),) if ns else None
    elif op == "div":
        lo, hi = _DIV[kind]
        ns = [n for n in range(lo, hi + 1) if v % n == 0 and v > n]
        args = (rng.choice(ns),) if ns else None
    elif op == "rsub":
        bills = [b for b in BILLS if b > v and b - v <= MAX_VALUE]
        args = (rng.choice(bills),) if bills else None
    elif op == "sum":
        room = MAX_VALUE - v
        if room >= 2:
            a = rng.randint(1, min(30, room - 1))
            args = (a, rng.randint(1, min(30, room - a)))
    if args is None:
        return None
    return op, args, phrase, out


def conversion_table_for(unit: str) -> list[tuple[str, str]]:
    return [(s, d) for (s, d) in CONVERSIONS if s == unit]


def singular(unit: str) -> str:
    return SINGULAR.get(unit, unit)


def plural(word: str) -> str:
    return PLURAL.get(word, word)
