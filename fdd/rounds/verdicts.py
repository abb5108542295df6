"""The student's verdict on a feedback-pool problem: easy, hard, or (pass rate only) borderline.

`feedback.verdict`:
- `greedy` (default, the paper's): one greedy solution; easy if its executed answer is right.
- `pass_rate`: `feedback.samples` sampled solutions at `feedback.temperature`; the pass rate is the
  fraction whose answer is right. Easy if rate >= `feedback.easy_min` (default 1.0: every sample
  right), hard if rate <= `feedback.hard_max` (default 0.0: none right), else borderline.
  `feedback.borderline` says what the teacher does with a borderline problem: `both` (default: a
  harder variation AND a similar problem — the student half-knows it, so it is worth both pushing
  and consolidating), `harder`, `similar`, or `skip` (no request).
"""

from __future__ import annotations

from collections.abc import Sequence

VERDICTS = ("greedy", "pass_rate")
BORDERLINE = ("both", "harder", "similar", "skip")
LABELS = ("easy", "hard", "borderline")


def check(fb) -> str | None:
    """A one-line problem with the feedback config's verdict keys, or None if they are usable."""
    verdict = fb.get("verdict", "greedy")
    if verdict not in VERDICTS:
        return f"feedback.verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}"
    if verdict == "greedy":
        return None
    if int(fb.get("samples", 1)) < 1:
        return f"feedback.samples must be >= 1, got {fb.get('samples')}"
    if float(fb.get("temperature", 1.0)) <= 0:
        return f"feedback.temperature must be > 0 for sampling, got {fb.get('temperature')}"
    easy_min, hard_max = float(fb.get("easy_min", 1.0)), float(fb.get("hard_max", 0.0))
    if not 0.0 <= hard_max < easy_min <= 1.0:
        return f"need 0 <= feedback.hard_max < feedback.easy_min <= 1, got hard_max={hard_max}, easy_min={easy_min}"
    if fb.get("borderline", "both") not in BORDERLINE:
        return f"feedback.borderline must be one of {', '.join(BORDERLINE)}, got {fb.get('borderline')!r}"
    return None


def sampling(fb) -> dict:
    """How the student solves the pool: {"samples", "temperature"} for evaluate.solve."""
    if fb.get("verdict", "greedy") == "pass_rate":
        return {"samples": int(fb.samples), "temperature": float(fb.get("temperature", 1.0))}
    return {"samples": 1}


def label(pass_rate: float, correct: bool, fb) -> str:
    """easy | hard | borderline for one problem (greedy: by `correct` alone)."""
    if fb.get("verdict", "greedy") != "pass_rate":
        return "easy" if correct else "hard"
    if pass_rate >= float(fb.get("easy_min", 1.0)):
        return "easy"
    if pass_rate <= float(fb.get("hard_max", 0.0)):
        return "hard"
    return "borderline"


def branches(borderline_to: str) -> tuple[bool, bool]:
    """(gets a harder variation, gets a similar problem) for a borderline problem."""
    return borderline_to in ("both", "harder"), borderline_to in ("both", "similar")


def split(labels: Sequence[str]) -> dict[str, list[int]]:
    """Indices per label."""
    out: dict[str, list[int]] = {k: [] for k in LABELS}
    for i, lab in enumerate(labels):
        out[lab].append(i)
    return out
