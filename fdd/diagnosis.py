"""Diagnosis by tag: where the student fails and where the teacher's new problems go.

Problems may carry `tags` (fdd/problems.py), e.g. {"kind": "rate", "steps": 2} on synthetic
problems, {"steps": 3} on GSM8K (calculator annotations of the gold solution), {"type":
"Subtraction"} on SVAMP and ASDiv. These functions count per tag value, for summary.json:

- `eval.<set>.by_tag.<tag>.<value>`  = {"accuracy", "n"}            (each evaluation set)
- `pool_by_tag.<tag>.<value>`        = {"easy", "hard"[, "borderline"]}  (the feedback pool's verdicts)
- `added_by_tag.<tag>.<value>`       = {"harder", "similar"}       (verified new problems)

Tag values become strings (they are JSON object keys). Untagged problems are left out of the
counts, so a set without tags has no `by_tag` at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from fdd.problems import Problem


def accuracy_by_tag(problems: Sequence[Problem], correct: Mapping[str, bool]) -> dict[str, dict[str, dict]]:
    """{tag: {value: {"accuracy", "n"}}} over the problems whose id is in `correct`."""
    counts: dict[str, dict[str, list[int]]] = {}
    for p in problems:
        if p.id not in correct:
            continue
        for tag, value in (p.tags or {}).items():
            slot = counts.setdefault(str(tag), {}).setdefault(str(value), [0, 0])
            slot[0] += bool(correct[p.id])
            slot[1] += 1
    return {tag: {v: {"accuracy": c / n, "n": n} for v, (c, n) in values.items()} for tag, values in counts.items()}


def counts_by_tag(labelled: Iterable[tuple[Problem, str]], labels: Sequence[str]) -> dict[str, dict[str, dict]]:
    """{tag: {value: {label: count}}} for (problem, label) pairs; every label appears (0 if none)."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for p, label in labelled:
        for tag, value in (p.tags or {}).items():
            slot = out.setdefault(str(tag), {}).setdefault(str(value), dict.fromkeys(labels, 0))
            slot[label] = slot.get(label, 0) + 1
    return out


def inherit_tags(new: Iterable[Problem], parents: Mapping[str, Problem]) -> None:
    """A new problem without tags of its own takes its parent's (a copy), so the pool and the
    additions can be counted by kind even when the teacher (an LLM) cannot label what it writes."""
    for p in new:
        parent = parents.get(p.parent_id) if p.parent_id is not None else None
        if not p.tags and parent is not None and parent.tags:
            p.tags = dict(parent.tags)
