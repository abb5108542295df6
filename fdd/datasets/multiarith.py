"""MultiArith (Roy & Roth, 2015) and its MAWPS siblings AddSub and SingleEq.

All three are JSON arrays of `{"iIndex", "sQuestion", "lEquations", "lSolutions"}`; the answer is
`lSolutions[0]` (a number or a numeric string). Ids: `multiarith-<iIndex>`. No official split
(papers evaluate on the whole set), so `split` selects nothing. Local files:
`multiarith/MultiArith.json`, `addsub/AddSub.json`, `singleeq/questions.json`. Hub: MultiArith
from `ChilleD/MultiArith` (train + test = the 600 problems; fields `question`, `final_ans`).
AddSub and SingleEq have no hub copy we rely on: they need a local file.
"""

from __future__ import annotations

from fdd.answers import parse_number
from fdd.datasets import Loaded, register
from fdd.datasets.files import (
    SPLITS_ONE_SET,
    check_options,
    check_split,
    hub_rows,
    local_file,
    read_json_records,
)
from fdd.problems import Problem

SETS = {  # name -> (relpath, hub id or None)
    "multiarith": ("multiarith/MultiArith.json", "ChilleD/MultiArith"),
    "addsub": ("addsub/AddSub.json", None),
    "singleeq": ("singleeq/questions.json", None),
}


def parse(records: list[dict], name: str) -> Loaded:
    problems, failed = [], []
    for i, r in enumerate(records):
        index = r.get("iIndex", i)
        pid = f"{name}-{index}"
        question = str(r.get("sQuestion", r.get("question")) or "").strip()
        solutions = r.get("lSolutions")
        raw = solutions[0] if isinstance(solutions, list) and solutions else r.get("final_ans")
        value = parse_number(raw) if raw is not None else None
        if not question:
            failed.append({"id": pid, "reason": "missing question"})
        elif value is None:
            failed.append({"id": pid, "reason": f"answer is not a number: {raw!r}"})
        else:
            problems.append(Problem(id=pid, question=question, answer=value, source=name))
    return Loaded(name, problems, failed)


def _load(name: str, split: str, path: str | None, data_dir: str | None, options: dict) -> Loaded:
    check_split(name, split, SPLITS_ONE_SET)
    check_options(name, options)
    relpath, hub_id = SETS[name]
    file = local_file(name, path, data_dir, relpath)
    if file is not None:
        return parse(read_json_records(name, file), name)
    if hub_id is None:
        where = f"{data_dir}/{relpath}" if data_dir is not None else relpath
        raise FileNotFoundError(f"{name}: {where} not found (no hub copy: pass path= or data_dir=)")
    return parse(hub_rows(name, hub_id, None, ["train", "test"], data_dir, relpath), name)


@register("multiarith")
def load(split: str = "test", path: str | None = None, data_dir: str | None = None, **options) -> Loaded:
    """The 600 MultiArith problems (`split` is ignored)."""
    return _load("multiarith", split, path, data_dir, options)


@register("addsub")
def load_addsub(split: str = "test", path: str | None = None, data_dir: str | None = None, **options) -> Loaded:
    """The 395 AddSub problems (local file only)."""
    return _load("addsub", split, path, data_dir, options)


@register("singleeq")
def load_singleeq(split: str = "test", path: str | None = None, data_dir: str | None = None, **options) -> Loaded:
    """The 508 SingleEq problems (local file only)."""
    return _load("singleeq", split, path, data_dir, options)
