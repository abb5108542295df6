"""Words of the synthetic family: people, objects, units and the number words it uses.

Every unit belongs to one class (count, money, time); a step's sentence says which classes of
quantity it reads well with (fdd.datasets.synthetic.kinds), so a story stays readable while its
quantity changes unit (hours of work → dollars → cents).
"""

from __future__ import annotations

NAMES = ["Ava", "Ben", "Cara", "Dan", "Eli", "Fay", "Gus", "Hana", "Ivan", "Jade", "Kai", "Lena", "Milo",
         "Nina", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Vic", "Wes", "Yara", "Zoe", "Liam",
         "Maya", "Noah", "Owen", "Ruby"]
OBJECTS = ["apples", "books", "coins", "stickers", "marbles", "pencils", "cookies", "stamps", "shells",
           "cards", "candies", "toys", "flowers", "eggs", "balloons", "buttons", "rocks", "beads", "cups",
           "keys"]
# Containers that hold a dozen of the story's object; a story may start with them (not with "pairs").
HOLDERS = ("boxes", "bags", "cartons")
CONTAINERS = [*HOLDERS, "pairs"]
MONEY = ["dollars", "cents"]
TIME = ["minutes", "hours", "days", "weeks"]
# Units of a stretch of work measured at a rate ("3 minutes to pack each", "5 per hour").
WORK_UNITS = ("minutes", "hours")
SINGULAR = {"minutes": "minute", "hours": "hour", "days": "day", "weeks": "week"}
PLURAL = {v: k for k, v in SINGULAR.items()}

# Fractions written as words; any other a/b is written with digits.
FRACTIONS = {"half": (1, 2), "a third": (1, 3), "a quarter": (1, 4), "two thirds": (2, 3),
             "three quarters": (3, 4), "two fifths": (2, 5), "three fifths": (3, 5)}
# "half as many", "a third as many": a comparison that divides.
PARTS = {"half": 2, "a third": 3, "a quarter": 4}
PERCENTS = [5, 10, 20, 25, 30, 40, 50, 60, 75, 80]
BILLS = [10, 20, 50, 100, 200, 500]

# Unit conversions with a constant the question never states: (from, to) -> (op, constant). Time is
# time worked, so there is no days -> hours (a day of work is not 24 hours).
CONVERSIONS = {("hours", "minutes"): ("mul", 60), ("minutes", "hours"): ("div", 60),
               ("weeks", "days"): ("mul", 7), ("days", "weeks"): ("div", 7),
               ("dollars", "cents"): ("mul", 100), ("cents", "dollars"): ("div", 100)}


def unit_class(unit: str) -> str:
    if unit in MONEY:
        return "money"
    if unit in TIME:
        return "time"
    return "count"


def conversion(src: str, dst: str) -> tuple[str, int] | None:
    """(op, constant) turning a quantity in `src` into `dst`, or None: the stated table, plus the
    counting words (a dozen per carton, two per pair, a dozen objects in each box or bag)."""
    if (src, dst) in CONVERSIONS:
        return CONVERSIONS[(src, dst)]
    if src in OBJECTS and dst == "cartons":
        return ("div", 12)
    if src in OBJECTS and dst == "pairs":
        return ("div", 2)
    if src in HOLDERS and dst in OBJECTS:
        return ("mul", 12)
    return None


def fraction_value(text: str) -> tuple[int, int]:
    if text in FRACTIONS:
        return FRACTIONS[text]
    a, b = text.split("/")
    return int(a), int(b)
