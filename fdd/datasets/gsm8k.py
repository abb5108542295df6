"""GSM8K (Cobbe et al., 2021): grade-school word problems with worked solutions.

Records: `{"question", "answer"}`; the answer is a worked solution with calculator annotations
(`<<48/2=24>>`) ending in `#### 72`. We keep the solution text as `rationale` (the `gold` teacher
turns it into a program; other teachers overwrite it) and the number after `####` as `answer`.
Tags: `steps`, the number of calculator annotations in the gold solution (its arithmetic steps;
0 for the few solutions written without any), for accuracy by step count (fdd/rounds/diagnosis.py).
Ids: `gsm8k-train-00012` (position in the file). Local file: `gsm8k/{split}.jsonl`; hub:
`openai/gsm8k`, config `main`.
"""

from __future__ import annotations

import re

from fdd.answers import parse_number
from fdd.datasets import Loaded, register
from fdd.datasets.files import check_options, check_split, hub_rows, local_file, read_json_records
from fdd.problems import Problem

HUB_ID, HUB_CONFIG = "openai/gsm8k", "main"
_FINAL = re.compile(r"####\s*(.*?)\s*$", re.S)
_CALC = re.compile(r"<<[^<>]*>>")


def final_answer(solution: str) -> float | None:
    """The gold number after `####` (thousands separators allowed), or None."""
    m = _FINAL.search(solution or "")
    return parse_number(m.group(1)) if m else None


def parse(records: list[dict], split: str, source: str = "gsm8k") -> Loaded:
    problems, failed = [], []
    for i, r in enumerate(records):
        pid = f"{source}-{split}-{i:05d}"
        question, solution = r.get("question"), r.get("answer")
        if not isinstance(question, str) or not question.strip():
            failed.append({"id": pid, "reason": "missing question"})
            continue
        if not isinstance(solution, str):
            failed.append({"id": pid, "reason": "missing answer"})
            continue
        gold = final_answer(solution)
        if gold is None:
            tail = solution.strip().splitlines()[-1][:60] if solution.strip() else ""
            failed.append({"id": pid, "reason": f"no '#### <number>' line (last line: {tail!r})"})
            continue
        problems.append(Problem(id=pid, question=question.strip(), answer=gold, rationale=solution, source=source,
                                tags={"steps": len(_CALC.findall(solution))}))
    return Loaded(source, problems, failed)


@register("gsm8k")
def load(split: str = "train", path: str | None = None, data_dir: str | None = None, **options) -> Loaded:
    """GSM8K `train` (7,473) or `test` (1,319)."""
    check_split("gsm8k", split, ("train", "test"))
    check_options("gsm8k", options)
    relpath = f"gsm8k/{split}.jsonl"
    file = local_file("gsm8k", path, data_dir, relpath)
    records = read_json_records("gsm8k", file) if file else hub_rows("gsm8k", HUB_ID, HUB_CONFIG, [split],
                                                                       data_dir, relpath)
    return parse(records, split)
