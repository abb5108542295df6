"""Generation → answers → accuracy.

The student's texts (fdd/student/generation.py: batched, stopped once the rationale is finished,
fitted to the model's context) are turned into answers by the rationale format (PoT: executed in
the sandbox). Every text records how it ended: `eos`, `done` (the rationale was finished) or
`limit` (cut at `max_new_tokens` or the context, counted per round in summary.json). With `samples` > 1 the answer
is the majority vote over the executed answers of sampled rationales (self-consistency), and
`pass_rate` the fraction of samples whose answer is right (fdd/rounds/verdicts.py).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from fdd.answers import answers_match
from fdd.problems import Problem
from fdd.rationales import RationaleFormat
from fdd.student.generation import generate


@dataclass
class Verdict:
    id: str
    output: str
    answer: float | None
    error: str | None
    correct: bool
    pass_rate: float = 0.0  # fraction of the samples whose executed answer is right
    cut: int = 0  # samples cut at max_new_tokens (or at the model's context)
    prompt_cut: bool = False  # the question was shortened to fit max_source_len or the context


def vote(answers: Sequence[float | None]) -> float | None:
    """Majority over executed answers (rounded to tame float noise); ties go to the first seen.
    Non-finite answers (nan, inf) are no answer: nan never equals itself, so it could not be counted."""
    valid = [a for a in answers if a is not None and math.isfinite(a)]
    if not valid:
        return None
    counts = Counter(round(a, 6) for a in valid)
    best = max(counts.values())
    return next(a for a in valid if counts[round(a, 6)] == best)


def solve(model, tokenizer, problems: Sequence[Problem], fmt: RationaleFormat, samples: int = 1,
          stop_early: bool = True, **gen_kw) -> list[Verdict]:
    gens = generate(model, tokenizer, [p.question for p in problems], samples=samples,
                    fmt=fmt if stop_early else None, **gen_kw)
    texts = [[g.text for g in gs] for gs in gens]
    flat = fmt.answers([t for ts in texts for t in ts])
    verdicts, k = [], 0
    for p, ts, gs in zip(problems, texts, gens):
        got = flat[k:k + len(ts)]
        k += len(ts)
        answer = vote([a.value for a in got])
        error = None if answer is not None else ((got[0].error or "non_finite") if got else "empty")
        correct = answer is not None and p.answer is not None and answers_match(answer, p.answer)
        passed = sum(a.value is not None and p.answer is not None and answers_match(a.value, p.answer) for a in got)
        verdicts.append(Verdict(p.id, ts[0] if ts else "", answer, error, correct, passed / len(got) if got else 0.0,
                                sum(g.end == "limit" for g in gs), any(g.prompt_cut for g in gs)))
    return verdicts


def accuracy(verdicts: Sequence[Verdict]) -> dict:
    n = len(verdicts)
    return {"accuracy": (sum(v.correct for v in verdicts) / n) if n else 0.0, "n": n}
