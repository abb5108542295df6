"""Verification of the new problems a teacher writes after a round: what reaches the training set.

In order, each rejection counted under its own name (summary.json `rounds[k].rejected_by`):
`truncated` (the last problem of a reply cut at the token limit), `invalid` (the rationale does not
run to a finite number), `disagree` (a preset answer differs), novelty (fdd/verify/novelty.py:
`copies_prompt`, `duplicate`, `copies_known`, `copies_new`), `contaminated` (overlaps an evaluation
set), the static checks (fdd/verify/checks.py, `teacher.checks`), and last, with a resolver
(`teacher.verify=resolve`, fdd/teachers/agreement.py), independent solutions that must agree. The
agreed (else executed) result becomes the answer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from fdd.answers import answers_match
from fdd.problems import Problem
from fdd.rationales import RationaleFormat, truncated
from fdd.verify.checks import DEFAULT_CHECKS, rejection
from fdd.verify.novelty import Novelty


@dataclass
class Verified:
    kept: list[Problem]
    rejected: Counter  # reason -> count


def verify(candidates: Sequence[Problem], fmt: RationaleFormat, known: Iterable[Problem | str],
           decontaminator=None, parents: Mapping[str, Problem] | None = None, resolver=None,
           checks: Sequence[str] = DEFAULT_CHECKS, examples: Iterable[str] = ()) -> Verified:
    """The candidates worth training on, and why the others were not. `known`: the training set and
    the pool (problems, or bare questions); `examples`: the questions of the prompts that produced
    the candidates (an LLM teacher's few-shot examples)."""
    known = [(k.question, k.answer) if isinstance(k, Problem) else (k, None) for k in known]
    novelty = Novelty(known, examples)
    results = fmt.answers([c.rationale or "" for c in candidates])
    kept, rejected = [], Counter()
    for c, r in zip(candidates, results):
        if truncated(c.rationale):  # the last problem of a reply cut at the token limit: maybe incomplete
            rejected["truncated"] += 1
            continue
        if r.value is None or not math.isfinite(r.value):
            rejected["invalid"] += 1
            continue
        if c.answer is not None and not answers_match(r.value, c.answer):
            rejected["disagree"] += 1
            continue
        if copied := novelty.copied(c.question, r.value):
            rejected[copied] += 1
            continue
        if decontaminator is not None and decontaminator.check(c.question):
            rejected["contaminated"] += 1
            continue
        parent = (parents or {}).get(c.parent_id) if c.parent_id else None
        reason = rejection(c.question, c.rationale or "", r.value, parent.question if parent else None,
                           fmt.name, checks, parent.answer if parent else None)
        if reason is not None:
            rejected[reason] += 1
            continue
        novelty.keep(c.question, float(r.value))
        c.answer = float(r.value)
        kept.append(c)
    if resolver is not None and kept:
        agreed, relabelled = [], False
        for c, res in zip(kept, resolver(kept)):
            if res.reason is not None:
                rejected[res.reason] += 1
                continue
            relabelled |= not answers_match(res.answer, c.answer)
            c.answer, c.rationale = res.answer, res.rationale
            agreed.append(c)
        kept = _still_new(agreed, known, rejected) if relabelled else agreed
    return Verified(kept, rejected)


def _still_new(kept: list[Problem], known: list, rejected: Counter) -> list[Problem]:
    """Novelty again after agreement changed some labels: an outvoted program's problem may now give
    the answer of a problem kept beside it (the first one stays)."""
    novelty, out = Novelty(known), []
    for c in kept:
        if copied := novelty.copied(c.question, c.answer):
            rejected[copied] += 1
            continue
        novelty.keep(c.question, c.answer)
        out.append(c)
    return out
