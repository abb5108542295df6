"""Throughput of the PoT sandbox vs. one `python -c` subprocess per program, side by side.

    python bench/bench_execution.py [--n 20000] [--baseline-n 200] [--repeats 5] [--workers N]

Both sides run the same kind of typical PoT program (distinct programs: the executor's
de-duplication does not help) with the same parallelism (`--workers` concurrent subprocesses for
the baseline). The executor runs with every limit on (timeout, RLIMIT_AS/CPU/FSIZE, recursion,
output cap, AST checks, restricted builtins, seccomp where available). Worker start-up is excluded
from the executor's figure (workers are pre-started and reused); the baseline pays interpreter
start-up per program, which is the point. Reports the median of `--repeats` runs; the headline executor figure uses programs the
workers have never seen (no compile-cache hits), a second line shows re-runs.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fdd.sandbox import Executor  # noqa: E402

NAMES = ["apples", "pears", "books", "coins", "cars", "pens", "cookies", "marbles", "stamps", "shells"]


def typical_program(rng: random.Random) -> tuple[str, float]:
    """A 3-7 step arithmetic PoT program like the teacher writes, and its answer."""
    names = rng.sample(NAMES, 3)
    a, b, c = rng.randint(2, 500), rng.randint(2, 500), rng.randint(1, 9)
    lines = [f"{names[0]} = {a}", f"bought_{names[1]} = {b}", f"total = {names[0]} + bought_{names[1]}",
             f"given = {c}", f"per_friend = {rng.randint(1, 9)}"]
    value = a + b - c
    lines.append("ans = total - given")
    if rng.random() < 0.5:
        lines.insert(-1, "rate = total / 2")
    return "\n".join(lines) + "\n", float(value)


def bench_executor(batches: list[tuple[list[str], list[float]]], workers: int) -> tuple[float, float]:
    """(cold, warm) median programs/s: cold batches are new to the workers, warm ones are re-runs."""
    with Executor(workers=workers) as ex:
        ex.run(["ans = 1"] * workers * 4)  # wait until the workers are up
        cold, warm = [], []
        for rates in (cold, warm):  # first pass: never-seen programs; second: compile cache hits
            for programs, expected in batches:
                t0 = time.perf_counter()
                outcomes = ex.run(programs)
                rates.append(len(programs) / (time.perf_counter() - t0))
                assert [o.answer for o in outcomes] == expected, "wrong answers"
        print(f"  seccomp filter active in workers: {ex.seccomp_active}")
    return statistics.median(cold), statistics.median(warm)


def bench_subprocess(programs: list[str], expected: list[float], workers: int, repeats: int) -> float:
    def one(program: str) -> float:
        out = subprocess.run([sys.executable, "-c", program + "print(ans)\n"], capture_output=True,
                             text=True, check=True, timeout=30)
        return float(out.stdout)

    rates = []
    with ThreadPoolExecutor(workers) as pool:
        for _ in range(repeats):
            t0 = time.perf_counter()
            answers = list(pool.map(one, programs))
            rates.append(len(programs) / (time.perf_counter() - t0))
            assert answers == expected, "wrong answers"
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="programs per executor repeat")
    parser.add_argument("--baseline-n", type=int, default=200, help="programs per subprocess repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None, help="default: CPUs available")
    args = parser.parse_args()
    workers = args.workers or len(os.sched_getaffinity(0))
    rng = random.Random(0)
    batches = []
    seen: set[str] = set()
    for _ in range(args.repeats):
        pairs = [typical_program(rng) for _ in range(args.n)]
        pairs = [(p, a) for p, a in pairs if not (p in seen or seen.add(p))]  # distinct across repeats
        batches.append(([p for p, _ in pairs], [a for _, a in pairs]))
    print(f"workers={workers} cpus={os.cpu_count()} python={sys.version.split()[0]} repeats={args.repeats}")
    print(f"executor: {len(batches[0][0])} distinct programs per repeat ...")
    cold, warm = bench_executor(batches, workers)
    print(f"subprocess (python -c per program, {workers} at a time): {args.baseline_n} programs per repeat ...")
    programs, expected = batches[0]
    slow = bench_subprocess(programs[: args.baseline_n], expected[: args.baseline_n], workers, args.repeats)
    print(f"executor   {cold:10.0f} programs/s (median, programs new to the workers)")
    print(f"executor   {warm:10.0f} programs/s (median, same programs again: compile cache hits)")
    print(f"python -c  {slow:10.1f} programs/s (median)")
    print(f"ratio      {cold / slow:10.1f}x (new programs vs python -c)")


if __name__ == "__main__":
    main()
