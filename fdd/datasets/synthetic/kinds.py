"""The kinds of steps, modelled on GSM8K's common patterns, and the sentences that state them.

Each step turns the running quantity (a value with a unit, held by the story's current person)
into a new one with one arithmetic operation:

| kind | what it models | operations |
| --- | --- | --- |
| `change` | buying, giving, losing, a fee or a coupon, more or less work | add, sub |
| `compare` | n more / n fewer / n times as many as another person, in both directions; the question then follows that person | add, sub, mul, div |
| `rate` | pay or items per hour of work, minutes of work per item, items packed per hour | mul, div |
| `price` | selling at a unit price, paying a unit price, how many a sum buys, change from a bill | mul, div, rsub |
| `fraction` | a fraction of a quantity kept or taken away | of, off |
| `percent` | a percentage kept, taken away or added; discounts, tips, taxes | of, off, up |
| `group` | several bags or days, equal shares, sums from two people | mul, div, sum |
| `convert` | hours → minutes, weeks → days, dollars → cents, dozens and pairs (the constant is never stated) | mul, div |

They differ in what a student must do: copy one number and pick + or − (`change`), read a
direction from word order (`compare`), recall a constant (`convert`), turn words into a fraction
and write a two-operation expression (`fraction`, `percent`), or copy two numbers (`group` sums).

Every sentence says what happens to whose quantity, so each template names the *classes* of
quantity it reads well with (a person can have objects and money, pay money, work for a time, but
not "have" hours): `count` (objects or containers someone has), `money` (money someone has),
`cost` (money someone pays) and `time` (time someone works). A step may move the story to another
class (hours of work → dollars earned, cups → minutes of packing, a price → the change kept), and
the question asks in that class's words ("How many minutes does Kai work?").
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from math import gcd

from fdd.datasets.synthetic.vocab import (
    BILLS,
    CONVERSIONS,
    FRACTIONS,
    HOLDERS,
    OBJECTS,
    PARTS,
    PERCENTS,
    PLURAL,
    SINGULAR,
    WORK_UNITS,
    conversion,
    unit_class,
)

MAX_VALUE = 999
CLASSES = ("count", "money", "cost", "time")
# The verb that says a person's quantity of each class ("Ben pays 3 more dollars than Kai").
VERB = {"count": "has", "money": "has", "cost": "pays", "time": "works"}
HAVE = ("count", "money")
ALL = CLASSES


@dataclass(frozen=True)
class Template:
    kind: str
    op: str            # the operation; "*" (convert): decided by the units
    text: str
    ins: tuple[str, ...] = HAVE  # the classes of quantity it reads well with
    only: tuple[str, ...] = ()   # and only these units ("object": any of the story objects), if given
    out: str = "same"  # the unit after: same | obj (the story's object) | new ({new}) | tnew (a work unit) | a unit
    to: str = ""       # the class after, where it is not the class of the unit after ("cost", "money")


T = Template
TEMPLATES: list[Template] = [
    T("change", "add", "{name} gets {n} more {unit}."),
    T("change", "add", "{other} gives {name} {n} more {unit}."),
    T("change", "add", "Then {name} buys {n} more {unit}.", ("count",)),
    T("change", "add", "{name} earns {n} more {unit}.", ("money",)),
    T("change", "add", "{name} also pays {n} {unit} in fees.", ("cost",)),
    T("change", "add", "{name} adds {n} {unit} to that for a snack.", ("cost",)),
    T("change", "add", "Then {name} works {n} more {unit}.", ("time",)),
    T("change", "add", "{name} stays at work {n} {unit} longer.", ("time",), WORK_UNITS),
    T("change", "sub", "{name} gives {n} {unit} to {other}."),
    T("change", "sub", "{name} loses {n} {unit}."),
    T("change", "sub", "Then {name} uses up {n} of the {unit}.", ("count",)),
    T("change", "sub", "{name} spends {n} {unit} on lunch.", ("money",)),
    T("change", "sub", "A coupon takes {n} {unit} off what {name} pays.", ("cost",)),
    T("change", "sub", "{other} takes over {n} of those {unit} from {name}.", ("time",)),
    T("change", "sub", "{name} hands {n} {unit} of the work to {other}.", ("time",)),
    T("compare", "add", "{other} {verb} {n} more {unit} than {name}.", ALL),
    T("compare", "add", "{name} {verb} {n} fewer {unit} than {other}.", ALL),
    T("compare", "sub", "{other} {verb} {n} fewer {unit} than {name}.", ALL),
    T("compare", "sub", "{name} {verb} {n} more {unit} than {other}.", ALL),
    T("compare", "mul", "{other} {verb} {n} times as many {unit} as {name}.", ALL),
    T("compare", "mul", "{other} has {n} times the number of {unit} that {name} has."),
    T("compare", "div", "{name} {verb} {n} times as many {unit} as {other}.", ALL),
    T("compare", "div", "{other} {verb} {part} as many {unit} as {name}.", ALL),
    T("rate", "mul", "{name} earns {n} dollars per {tsing}.", ("time",), out="dollars"),
    T("rate", "mul", "{name} is paid {n} dollars for each {tsing}.", ("time",), out="dollars"),
    T("rate", "mul", "{name} collects {n} {obj} every {tsing}.", ("time",), out="obj"),
    T("rate", "mul", "{name} gets {n} {obj} for each {tsing} of work.", ("time",), out="obj"),
    T("rate", "mul", "It takes {name} {n} minutes to pack each of the {unit}.", ("count",), out="minutes"),
    T("rate", "div", "{name} earns one dollar every {n} {unit}.", ("time",), WORK_UNITS, "dollars"),
    T("rate", "div", "{name} collects {obj}, one every {n} {unit}.", ("time",), out="obj"),
    T("rate", "div", "{name} packs the {unit} at {n} per {tnew}.", ("count",), out="tnew"),
    T("rate", "div", "{name} labels {n} of the {unit} each {tnew} until all are done.", ("count",), out="tnew"),
    T("rate", "mul", "{name} spends the {unit} at a stall that gives {n} {obj} for each of them.", ("money",),
      ("dollars",), "obj"),
    T("rate", "mul", "{name} trades each of the {unit} for {n} {obj}.", ("money",), ("dollars",), "obj"),
    T("rate", "div", "{name} pays for it by saving {n} {unit} from each {tnew} of work.", ("cost",), out="tnew"),
    T("price", "mul", "{name} sells the {unit} for {n} dollars each.", ("count",), out="dollars"),
    T("price", "mul", "{name} sells each of the {unit} for {n} dollars.", ("count",), out="dollars"),
    T("price", "mul", "{name} pays {n} dollars for each of the {unit}.", ("count",), out="dollars", to="cost"),
    T("price", "mul", "Each of the {unit} costs {name} {n} dollars.", ("count",), out="dollars", to="cost"),
    T("price", "div", "{name} spends all the {unit} on {obj} that cost {n} {unit} each.", ("money",), out="obj"),
    T("price", "div", "{name} uses the {unit} to buy {obj} at {n} {unit} each.", ("money",), out="obj"),
    T("price", "rsub", "{name} pays with a {n} dollar bill and keeps the change.", ("cost",), ("dollars",),
      to="money"),
    T("price", "rsub", "{name} hands over {n} dollars and gets the change back.", ("cost",), ("dollars",),
      to="money"),
    T("fraction", "of", "{name} keeps {frac} of the {unit}."),
    T("fraction", "of", "Only {frac} of {name}'s {unit} are left after a week."),
    T("fraction", "of", "With a coupon, {name} pays only {frac} of the price.", ("cost",)),
    T("fraction", "off", "{name} gives away {frac} of the {unit}."),
    T("fraction", "off", "{name} uses {frac} of the {unit}.", ("count",)),
    T("fraction", "off", "Then {name} loses {frac} of the {unit}."),
    T("fraction", "off", "{other} pays {frac} of the bill for {name}.", ("cost",)),
    T("percent", "of", "{name} keeps {n}% of the {unit}."),
    T("percent", "of", "{name} keeps only {n} percent of the {unit}."),
    T("percent", "of", "On sale, {name} pays only {n}% of the price.", ("cost",)),
    T("percent", "off", "{name} gives away {n}% of the {unit}."),
    T("percent", "off", "{name} loses {n} percent of the {unit}."),
    T("percent", "off", "{name} gets {n}% off the price.", ("cost",)),
    T("percent", "up", "{name}'s {unit} grow by {n}% in the bank.", ("money",)),
    T("percent", "up", "{name} buys {n}% more {unit}.", ("count",)),
    T("percent", "up", "A service fee of {n}% is added to {name}'s bill.", ("cost",)),
    T("percent", "up", "A tax of {n}% is added to {name}'s bill.", ("cost",)),
    T("group", "mul", "The {unit} fill one bag, and {name} fills {n} such bags in all.", ("count",), ("object",)),
    T("group", "mul", "The {unit} fill one envelope, and {name} fills {n} such envelopes in all.", ("money",)),
    T("group", "mul", "{name} pays that many {unit} on each of {n} days.", ("cost",)),
    T("group", "mul", "{name} works that many {unit} on each of {n} days.", ("time",), WORK_UNITS),
    T("group", "div", "{name} splits the {unit} into {n} equal groups and keeps one group."),
    T("group", "div", "{name} shares the {unit} equally with friends, {n} people in all, and keeps one share."),
    T("group", "div", "{name} packs the {unit} into boxes of {n}.", ("count",), ("object",), "boxes"),
    T("group", "div", "{name} splits the bill equally among {n} people and pays one share.", ("cost",)),
    T("group", "sum", "{other} gives {name} {n} {unit} and {other2} gives {name} {m} {unit}."),
    T("group", "sum", "{name} gets {n} {unit} from {other} and {m} {unit} from {other2}."),
    T("group", "sum", "{name} also pays {n} {unit} for a snack and {m} {unit} for a drink.", ("cost",)),
    T("group", "sum", "{name} also works {n} {unit} one week and {m} {unit} the next.", ("time",), WORK_UNITS),
    T("convert", "*", "{name} counts the working time in {new}.", ("time",), out="new"),
    T("convert", "*", "{name} writes the working time down in {new}.", ("time",), out="new"),
    T("convert", "*", "{name} changes the {unit} into {new}.", ("money",), out="new"),
    T("convert", "*", "{name} writes the price in {new}.", ("cost",), out="new"),
    T("convert", "*", "{name} packs the {unit} into cartons of a dozen.", ("count",), ("object",), "cartons"),
    T("convert", "*", "{name} puts the {unit} into pairs.", ("count",), ("object",), "pairs"),
    T("convert", "*", "Each of {name}'s {unit} holds a dozen {obj}.", ("count",), HOLDERS, "obj"),
]
KINDS = sorted({t.kind for t in TEMPLATES})
OPS_OF = {k: sorted({t.op for t in TEMPLATES if t.kind == k} - {"*"}) or ["mul", "div"] for k in KINDS}

# Operand ranges per kind for the one-number operations.
_MUL = {"compare": (2, 5), "rate": (2, 15), "price": (2, 12), "group": (2, 6)}
_DIV = {"compare": (2, 5), "rate": (2, 12), "price": (2, 20), "group": (2, 9)}


def base_class(cls: str) -> str:
    """The unit class (count, money, time) of a class of quantity: money paid is money."""
    return "money" if cls == "cost" else cls


def accepts(t: Template, cls: str, unit: str) -> bool:
    """Whether `t` reads well on `unit` held (paid, worked) as class `cls`."""
    if cls not in t.ins or base_class(cls) != unit_class(unit):
        return False
    return not t.only or any(c == unit or (c == "object" and unit in OBJECTS) for c in t.only)


def class_after(t: Template, cls: str, unit: str) -> str:
    """The class of the quantity after a step of `t` from class `cls`, now in `unit`."""
    if t.to:
        return t.to
    return cls if unit_class(unit) == base_class(cls) else unit_class(unit)


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
        out = rng.choice(WORK_UNITS)
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
    elif op == "add":  # numbers in sentences are at least 2 ("1 more apples" would not read well)
        args = (rng.randint(2, min(50, MAX_VALUE - v)),) if v <= MAX_VALUE - 2 else None
    elif op == "sub":
        args = (rng.randint(2, min(50, v - 1)),) if v > 2 else None
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
        if room >= 4:
            a = rng.randint(2, min(30, room - 2))
            args = (a, rng.randint(2, min(30, room - a)))
    if args is None:
        return None
    return op, args, phrase, out


def conversion_table_for(unit: str) -> list[tuple[str, str]]:
    return [(s, d) for (s, d) in CONVERSIONS if s == unit]


def singular(unit: str) -> str:
    return SINGULAR.get(unit, unit)


def plural(word: str) -> str:
    return PLURAL.get(word, word)
