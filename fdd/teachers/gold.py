"""`teacher=gold`: the dataset's own worked solutions as rationales (conf/teacher/gold.yaml).

The conversion of a GSM8K solution into a verified program lives with the data, in
fdd/datasets/gsm8k_gold.py (see docs/gsm8k_gold.md); this teacher only hands its results out.
"""

from __future__ import annotations

from fdd.datasets.gsm8k_gold import convert, to_cot, to_eot
from fdd.problems import Problem
from fdd.teachers.base import Usage


class GoldTeacher:
    """Teacher whose rationales are the dataset's own worked solutions (GSM8K style).

    `pot`: the verified program from `convert`; `eot`: the same program as equations; `cot`: the
    solution text itself. It cannot write new problems, so `harder` / `similar` return nothing:
    with this teacher the loop only re-trains on the seed set (an upper baseline for round-0 data
    quality). Problems without a `#### answer` solution in `rationale` get no candidate.
    """

    def __init__(self, rationale: str = "pot", **_ignored) -> None:
        if rationale not in ("pot", "eot", "cot"):
            raise ValueError(f"gold teacher: unknown rationale format {rationale!r} (pot, eot, cot)")
        self.rationale = rationale
        self._usage = Usage()

    def annotate(self, problems: list[Problem]) -> list[list[str]]:
        self._usage.requests += len(problems)
        if self.rationale == "cot":
            out = [[to_cot(p.rationale)] if p.rationale and "####" in p.rationale else [] for p in problems]
        else:
            out = []
            for r in convert(problems):
                text = r.program if (r.program and self.rationale == "pot") else (to_eot(r.program) if r.program else None)
                out.append([text] if text else [])
        self._usage.unparsed += sum(not c for c in out)
        return out

    def harder(self, problems: list[Problem], n: int, round: int, attempts=None) -> list[list[Problem]]:
        return [[] for _ in problems]

    def similar(self, problems: list[Problem], n: int, round: int, attempts=None) -> list[list[Problem]]:
        return [[] for _ in problems]

    def usage(self) -> Usage:
        return self._usage
