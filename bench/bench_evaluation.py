"""Batched evaluation vs one problem at a time, same student, same problems, one run.

Builds the embedded default student (scratch T5 with the t5_tiny config), trains it briefly so it
writes realistic programs (stopping at EOS) rather than always running to max_new_tokens, then
times fdd.student.evaluate.solve (generate → execute → compare) on the synthetic evaluation stream:
batched (sorted by length, padded) on N problems, and batch_size=1 on a sample of them.
Throughput is problems/second; the ratio is what the issue asks to be ≥ 10.

    python bench/bench_evaluation.py [--n 1000] [--sequential-n 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from omegaconf import OmegaConf

from fdd.datasets import load
from fdd.rationales import get_format
from fdd.student.evaluate import solve
from fdd.student.models import scratch_t5
from fdd.teachers.symbolic import SymbolicTeacher


def trained_student(steps: int):
    train = load("synthetic", n=2000, seed=0).problems
    teacher = SymbolicTeacher(error_rate=0.0)
    for p, (r,) in zip(train, teacher.annotate(train)):
        p.rationale = r
    cfg = OmegaConf.load("conf/student/t5_tiny.yaml").model
    kw = {k: v for k, v in OmegaConf.to_container(cfg).items() if k not in ("_target_", "seed")}
    model, tok = scratch_t5([t for p in train for t in (p.question, p.rationale)], **kw)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        batch = [train[i] for i in torch.randint(0, len(train), (16,), generator=g)]
        src = tok([p.question for p in batch], padding=True, return_tensors="pt")
        tgt = tok([p.rationale for p in batch], padding=True, return_tensors="pt")
        labels = tgt.input_ids.masked_fill(tgt.attention_mask == 0, -100)
        model(input_ids=src.input_ids, attention_mask=src.attention_mask, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    return model.eval(), tok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--sequential-n", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    model, tok = trained_student(args.train_steps)
    problems = load("synthetic", split="test", n=args.n, min_steps=1, max_steps=6, seed=1).problems
    fmt = get_format("pot")
    fmt.answers(["ans = 1"])  # start the sandbox workers outside the timings
    batched, sequential = [], []
    for _ in range(args.repeats):  # alternate the arms so machine noise hits both alike
        t = time.perf_counter()
        v = solve(model, tok, problems, fmt, batch_size=args.batch_size, max_new_tokens=128)
        batched.append(len(problems) / (time.perf_counter() - t))
        sample = problems[:args.sequential_n]
        t = time.perf_counter()
        s = solve(model, tok, sample, fmt, batch_size=1, max_new_tokens=128)
        sequential.append(len(sample) / (time.perf_counter() - t))
    agree = sum(a.answer == b.answer for a, b in zip(v, s)) / len(s)
    b, q = statistics.median(batched), statistics.median(sequential)
    print(f"accuracy of the briefly trained student: {sum(x.correct for x in v) / len(v):.3f}")
    print(f"batched (batch {args.batch_size}, length-sorted), {len(problems)} problems: {b:.1f} problems/s")
    print(f"one at a time, {args.sequential_n} problems:                  {q:.1f} problems/s")
    print(f"speed-up: {b / q:.1f}x (median of {args.repeats}); batched and sequential answers agree on "
          f"{agree:.0%} of the shared problems")


if __name__ == "__main__":
    main()
