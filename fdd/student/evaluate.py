"""Batched generation → answers → accuracy.

Questions are sorted by length so each padded batch wastes little; a sequence stops at EOS or as
soon as its rationale is finished (fdd/student/stopping.py), and each text is cut there; the student's texts
are turned into answers by the rationale format (PoT: executed in the sandbox). Every generated
text records how it ended: `eos`, `done` (the rationale was finished) or `limit` (cut at
`max_new_tokens`, counted per round in summary.json). With `samples` > 1 the answer
is the majority vote over the executed answers of sampled rationales (self-consistency), and
`pass_rate` the fraction of samples whose answer is right (fdd/rounds/verdicts.py).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from fdd.answers import answers_match
from fdd.problems import Problem
from fdd.rationales import RationaleFormat
from fdd.student.stopping import RationaleStop, generate_causal, row_end
from fdd.student.training import causal_batch


@dataclass
class Verdict:
    id: str
    output: str
    answer: float | None
    error: str | None
    correct: bool
    pass_rate: float = 0.0  # fraction of the samples whose executed answer is right
    cut: int = 0  # samples cut at max_new_tokens


class Generated(NamedTuple):
    text: str
    end: str  # "eos" | "done" (the rationale was finished) | "limit" (cut at max_new_tokens)


@torch.no_grad()
def generate(model, tokenizer, questions: Sequence[str], batch_size: int = 64, max_new_tokens: int = 160,
             samples: int = 1, max_source_len: int = 256, desc: str = "generate",
             temperature: float = 0.7, fmt: RationaleFormat | None = None, chunk: int = 32) -> list[list[Generated]]:
    """For each question, `samples` generated texts (greedy when samples == 1, else sampled at
    `temperature` from the full distribution). With a rationale format `fmt`, a sequence stops as
    soon as its rationale is finished and its text is cut there; without one, only EOS stops it.
    A decoder-only batch drops its finished rows every `chunk` tokens (fdd/student/stopping.py)."""
    was_training = model.training
    model.eval()
    order = sorted(range(len(questions)), key=lambda i: len(questions[i]))
    out: list[list[Generated]] = [[] for _ in questions]
    device = next(model.parameters()).device
    causal = not model.config.is_encoder_decoder
    if causal:
        tokenizer.padding_side = "left"
    kw = {"max_new_tokens": max_new_tokens, "num_beams": 1, "pad_token_id": tokenizer.pad_token_id}
    kw.update({"do_sample": True, "num_return_sequences": samples, "top_k": 0, "temperature": temperature}
              if samples > 1 else {"do_sample": False})
    for start in tqdm(range(0, len(order), batch_size), desc=desc, leave=False, unit="batch"):
        idx = order[start:start + batch_size]
        if causal:  # the student's own prompt template, tokenized exactly as in training; generated in
            # chunks, finished rows dropped between them (fdd/student/stopping.py)
            enc = causal_batch(tokenizer, [questions[i] for i in idx], getattr(model.config, "fdd_prompt", None),
                               max_source_len).to(device)
            rows = generate_causal(model, enc, kw, tokenizer, fmt, chunk)
        else:
            enc = tokenizer([questions[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                            max_length=max_source_len).to(device)
            stop = RationaleStop(fmt, tokenizer, 0) if fmt is not None else None
            gen = model.generate(**enc, **kw, stopping_criteria=[stop] if stop is not None else None).cpu()
            rows = [_row(gen[i].tolist(), tokenizer.eos_token_id, stop, i) for i in range(len(gen))]
        texts = tokenizer.batch_decode([toks for toks, _ in rows], skip_special_tokens=True)
        done = [Generated(fmt.cut(t) if fmt is not None else t, e) for t, (_, e) in zip(texts, rows)]
        for j, i in enumerate(idx):
            out[i] = done[j * samples:(j + 1) * samples]
    if was_training:
        model.train()
    return out


def _row(tokens: list[int], eos: int | None, stop: RationaleStop | None, i: int) -> tuple[list[int], str]:
    """An encoder-decoder row of one `generate` call (decoder start token first): its ids and end."""
    finished = row_end(tokens[1:], eos, stop, i, 1)
    return (tokens[1:], "limit") if finished is None else (tokens[1:1 + finished[0]], finished[1])


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
                                sum(g.end == "limit" for g in gs)))
    return verdicts


def accuracy(verdicts: Sequence[Verdict]) -> dict:
    n = len(verdicts)
    return {"accuracy": (sum(v.correct for v in verdicts) / n) if n else 0.0, "n": n}
