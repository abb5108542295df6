"""ASDiv (Miao et al., 2020): 2,305 diverse word problems, and its arithmetic subset ASDiv-A.

XML: `<Problem ID="nluds-0001">` with `Body`, `Question`, `Solution-Type`, `Answer` (`9 (apples)`),
`Formula`. The question is Body + " " + Question. Tags: `type`, the `Solution-Type` (Addition,
Subtraction, Multiplication, Common-Division, Sum, TVQ-Final, GCD, Ratio, … 23 values).

`subset`: `all` (default: the 2,305 problems, as evaluated by the distillation papers this project
follows) or `asdiv_a` (the 1,218 ids listed in `asdiv-a-fold*.txt`, next to the XML file).

Answers: a number with an optional unit in brackets (`9 (apples)`, `2.5 (dollars)`), a fraction
(`5/2`, `-(1/3)`) -> a float. Answers that are not one number are reported in `failed` with the
reason, never guessed: several values (`5 (years old); 15 (years old)`), ratios (`3:4`), times of
day (`3:30 p.m.`), names and words (`Mrs. Hilt`, `Yes`). Hub: `EleutherAI/asdiv` (config `asdiv`,
split `validation`, same order as the XML, no ids: ids are rebuilt as `nluds-%04d`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from fdd.answers import parse_number
from fdd.datasets import Loaded, register
from fdd.datasets.files import SPLITS_ONE_SET, check_options, check_split, hub_rows, local_file
from fdd.problems import Problem

HUB_ID, HUB_CONFIG = "EleutherAI/asdiv", "asdiv"
RELPATH = "asdiv/ASDiv.xml"
SUBSETS = ("all", "asdiv_a")


def parse_answer(text: str) -> tuple[float | None, str]:
    """(value, "") or (None, reason) for an ASDiv answer string."""
    raw = (text or "").strip()
    if ";" in raw:
        return None, f"several answers: {raw!r}"
    if re.fullmatch(r"\d+\s*:\s*\d+", raw):
        return None, f"ratio, not a single number: {raw!r}"
    if re.search(r"\d:\d\d", raw):
        return None, f"time of day, not a number: {raw!r}"
    value = parse_number(re.sub(r"\s*\([^()]*[A-Za-z][^()]*\)\s*$", "", raw))  # drop the unit: "9 (apples)"
    if value is None:
        return None, f"not a number: {raw!r}"
    return value, ""


def _xml_rows(path: Path) -> list[dict]:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ValueError(f"asdiv: {path} is not valid XML ({e})") from None
    rows = []
    for p in root.iter("Problem"):
        rows.append({"id": p.get("ID"), "body": p.findtext("Body") or "", "question": p.findtext("Question") or "",
                     "answer": p.findtext("Answer") or "", "solution_type": p.findtext("Solution-Type") or ""})
    return rows


def asdiv_a_ids(folder: Path) -> set[str]:
    """Union of the ids in asdiv-a-fold*.txt (the ASDiv-A cross-validation folds)."""
    files = sorted(folder.glob("asdiv-a-fold*.txt"))
    if not files:
        raise FileNotFoundError(f"asdiv: subset asdiv_a needs asdiv-a-fold*.txt in {folder}")
    return {line.strip() for f in files for line in f.read_text().splitlines() if line.strip()}


def parse(rows: list[dict]) -> Loaded:
    problems, failed = [], []
    for i, r in enumerate(rows):
        pid = r.get("id") or f"nluds-{i + 1:04d}"
        question = f"{r['body'].strip()} {r['question'].strip()}".strip()
        value, reason = parse_answer(r["answer"])
        if not question:
            failed.append({"id": pid, "reason": "missing question"})
        elif value is None:
            failed.append({"id": pid, "reason": reason})
        else:
            kind = str(r.get("solution_type") or "").strip()
            problems.append(Problem(id=pid, question=question, answer=value, source="asdiv",
                                    tags={"type": kind} if kind else {}))
    return Loaded("asdiv", problems, failed)


@register("asdiv")
def load(split: str = "test", path: str | None = None, data_dir: str | None = None, subset: str = "all",
         **options) -> Loaded:
    """ASDiv (`subset=all`, 2,305 records) or ASDiv-A (`subset=asdiv_a`, 1,218); `split` is ignored."""
    check_split("asdiv", split, SPLITS_ONE_SET)
    check_options("asdiv", options)
    if subset not in SUBSETS:
        raise ValueError(f"asdiv: unknown subset {subset!r} (known: {', '.join(SUBSETS)})")
    file = local_file("asdiv", path, data_dir, RELPATH)
    if file is not None:
        rows = _xml_rows(file)
    else:
        rows = hub_rows("asdiv", HUB_ID, HUB_CONFIG, ["validation"], data_dir, RELPATH)
        rows = [{"id": f"nluds-{i + 1:04d}", **r} for i, r in enumerate(rows)]
    if subset == "asdiv_a":
        folder = file.parent if file is not None else (Path(data_dir).expanduser() / "asdiv" if data_dir else None)
        if folder is None:
            raise FileNotFoundError("asdiv: subset asdiv_a needs the fold files (asdiv-a-fold*.txt); pass data_dir=")
        keep = asdiv_a_ids(folder)
        rows = [r for r in rows if r["id"] in keep]
    loaded = parse(rows)
    loaded.name = "asdiv" if subset == "all" else "asdiv_a"
    return loaded
