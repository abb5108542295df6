"""SVAMP (Patel et al., 2021): 1,000 one-unknown arithmetic problems with perturbations.

Records: `{"ID", "Body", "Question", "Equation", "Answer", "Type"}`; the question is
Body + " " + Question. There is no official train/test split (papers evaluate on all 1,000), so
`split` selects nothing. Local file: `svamp/SVAMP.json`; hub: `MU-NLPC/Calc-svamp` (the same 1,000
problems with their original ids, question already joined, one inconsistent answer corrected).
Tags: `type`, the record's `Type` (Addition, Subtraction, Multiplication, Common-Division; the one
record spelled `Common-Divison` is counted with Common-Division).
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

HUB_ID, HUB_CONFIG = "MU-NLPC/Calc-svamp", "default"
RELPATH = "svamp/SVAMP.json"
_TYPO = {"Common-Divison": "Common-Division"}


def _tags(r: dict) -> dict:
    kind = str(r.get("Type") or r.get("problem_type") or "").strip()
    return {"type": _TYPO.get(kind, kind)} if kind else {}


def _number(value: object) -> float | None:
    return parse_number(value if isinstance(value, str) else value) if value is not None else None


def parse(records: list[dict]) -> Loaded:
    problems, failed = [], []
    for i, r in enumerate(records):
        pid = str(r.get("ID") or r.get("id") or f"svamp-{i:05d}")
        if "Body" in r or "Question" in r:
            question = f"{str(r.get('Body') or '').strip()} {str(r.get('Question') or '').strip()}".strip()
        else:
            question = str(r.get("question") or "").strip()
        answer = _number(r.get("Answer", r.get("result_float")))
        if not question:
            failed.append({"id": pid, "reason": "missing question"})
        elif answer is None:
            failed.append({"id": pid, "reason": f"answer is not a number: {r.get('Answer', r.get('result_float'))!r}"})
        else:
            problems.append(Problem(id=pid, question=question, answer=answer, source="svamp", tags=_tags(r)))
    return Loaded("svamp", problems, failed)


@register("svamp")
def load(split: str = "test", path: str | None = None, data_dir: str | None = None, **options) -> Loaded:
    """All 1,000 SVAMP problems (`split` is accepted for uniformity and ignored)."""
    check_split("svamp", split, SPLITS_ONE_SET)
    check_options("svamp", options)
    file = local_file("svamp", path, data_dir, RELPATH)
    records = read_json_records("svamp", file) if file else hub_rows("svamp", HUB_ID, HUB_CONFIG, ["test"],
                                                                       data_dir, RELPATH)
    return parse(records)
