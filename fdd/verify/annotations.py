"""Round 0: which teacher rationale, if any, each training problem is trained with."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from fdd.answers import answers_match
from fdd.problems import Problem
from fdd.rationales import RationaleFormat, truncated
from fdd.verify.new_problems import Verified


def annotate(problems: Sequence[Problem], candidates: Sequence[Sequence[str]], fmt: RationaleFormat,
             decontaminator=None) -> Verified:
    """Keep each seed problem with the first teacher rationale that reproduces its gold answer.
    Rejected: `contaminated`, `no_rationale`, `wrong`, or `truncated` (no candidate was right and one
    came from a reply cut at the teacher's token limit: raising it may help)."""
    flat = [t for ts in candidates for t in ts]
    results = fmt.answers(flat)
    kept, rejected, k = [], Counter(), 0
    for p, ts in zip(problems, candidates):
        got = results[k:k + len(ts)]
        k += len(ts)
        if decontaminator is not None and decontaminator.check(p.question):
            rejected["contaminated"] += 1
            continue
        good = next((t for t, r in zip(ts, got) if r.value is not None and p.answer is not None
                     and answers_match(r.value, p.answer)), None)
        if good is None:
            rejected["truncated" if any(map(truncated, ts)) else "wrong" if ts else "no_rationale"] += 1
            continue
        p.rationale = good
        kept.append(p)
    return Verified(kept, rejected)
