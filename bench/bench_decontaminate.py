"""Decontamination speed: the hashed n-gram index vs comparing with every evaluation question.

Random 45-word questions over a 3,000-word vocabulary (10,000 candidates against 5,000 evaluation
questions, the scale of a GSM8K-sized run) plus planted copies. The baseline keeps each evaluation
question's own n-gram set and scans all of them for every candidate n-gram; it runs on the first
--baseline-n candidates, and both must give the same verdicts there. Prints candidates/s per
method (median of --repeats, methods alternated) and the ratio.

    python bench/bench_decontaminate.py [--n 10000] [--evals 5000] [--baseline-n 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fdd.rounds.decontaminate import Decontaminator, normalize  # noqa: E402


def brute_force(evals: list[str], ngram: int = 13, threshold: float = 0.5):
    """The same three tests, the n-gram one by scanning every evaluation question's n-grams."""
    exact = {q.strip() for q in evals}
    norms = [normalize(q) for q in evals]
    grams = [{tuple(w[i:i + ngram]) for i in range(len(w) - ngram + 1)} for w in (n.split() for n in norms)]
    norm_set = set(norms)

    def check(q: str) -> str | None:
        if q.strip() in exact:
            return "exact"
        n = normalize(q)
        if n in norm_set:
            return "normalized"
        w = n.split()
        mine = [tuple(w[i:i + ngram]) for i in range(len(w) - ngram + 1)]
        if mine and sum(any(g in s for s in grams) for g in mine) / len(mine) >= threshold:
            return "ngram"
        return None

    return check


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--evals", type=int, default=5000)
    ap.add_argument("--baseline-n", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(3000)]
    evals = [" ".join(rng.choices(vocab, k=45)) for _ in range(args.evals)]
    cands = [" ".join(rng.choices(vocab, k=45)) for _ in range(args.n)]
    cands[::1000] = evals[: len(cands[::1000])]  # planted copies
    indexed, baseline = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        d = Decontaminator(evals)
        verdicts = d.check_all(cands)
        indexed.append(len(cands) / (time.perf_counter() - t))
        t = time.perf_counter()
        check = brute_force(evals)
        base = [check(q) for q in cands[: args.baseline_n]]
        baseline.append(args.baseline_n / (time.perf_counter() - t))
        assert base == verdicts[: args.baseline_n], "the index and the baseline disagree"
    found = sum(v is not None for v in verdicts)
    i, b = statistics.median(indexed), statistics.median(baseline)
    print(f"{args.n} candidates vs {args.evals} evaluation questions ({found} flagged, all planted)")
    print(f"hashed index (index built each time): {i:10.0f} candidates/s  (median of {args.repeats})")
    print(f"scan every question (first {args.baseline_n}):  {b:10.1f} candidates/s")
    print(f"speed-up: {i / b:.0f}x")


if __name__ == "__main__":
    main()
