"""Does feedback matter? fdd vs random (same teacher budget, no feedback) over seeds.

Runs the embedded default (or whatever overrides you pass after --) once per arm and seed, in the
same invocation, then prints final mean accuracy per arm (mean ± std over seeds), per-round means,
and the per-seed difference. Results go to bench/RESULTS.md by hand, with the command.

    python bench/bench_feedback.py --seeds 0 1 2 [--parallel 6] [--out DIR] [-- extra overrides]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def mean_acc(evals: dict) -> float:
    return sum(e["accuracy"] for e in evals.values()) / len(evals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--arms", nargs="+", default=["fdd", "random"])
    ap.add_argument("--out", default="bench/runs/feedback")
    ap.add_argument("--parallel", type=int, default=1, help="runs at once (each then uses one thread)")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides (after --)")
    args = ap.parse_args()
    out = Path(args.out)
    results: dict[str, dict[int, list[float]]] = {arm: {} for arm in args.arms}
    jobs = [(seed, arm) for seed in args.seeds for arm in args.arms]  # arms interleaved per seed
    env = {**os.environ, "OMP_NUM_THREADS": "1"} if args.parallel > 1 else None
    running: list[tuple[int, str, subprocess.Popen, float]] = []
    while jobs or running:
        while jobs and len(running) < args.parallel:
            seed, arm = jobs.pop(0)
            cmd = [sys.executable, "-m", "fdd.run", f"feedback={arm}", f"seed={seed}",
                   f"hydra.run.dir={out / f'{arm}_seed{seed}'}", "trainer.enable_progress_bar=false", *args.overrides]
            running.append((seed, arm, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                                        text=True, env=env), time.time()))
        time.sleep(1)
        for job in [j for j in running if j[2].poll() is not None]:
            running.remove(job)
            seed, arm, proc, t0 = job
            if proc.returncode != 0:
                sys.exit(f"{arm} seed {seed} failed:\n{proc.stderr.read()[-3000:]}")
            summary = json.loads((out / f"{arm}_seed{seed}" / "summary.json").read_text())
            results[arm][seed] = [mean_acc(r["eval"]) for r in summary["rounds"]]
            print(f"{arm:>8} seed {seed}: " + " ".join(f"{a:.3f}" for a in results[arm][seed])
                  + f"  ({time.time() - t0:.0f}s)", flush=True)
    results = {arm: dict(sorted(v.items())) for arm, v in results.items()}
    print("\nfinal mean accuracy over the synthetic evaluation sets (mean ± std over seeds)")
    for arm in args.arms:
        finals = [v[-1] for v in results[arm].values()]
        rounds = list(zip(*results[arm].values()))
        per_round = "  ".join(f"r{k} {statistics.mean(r):.3f}" for k, r in enumerate(rounds))
        sd = statistics.stdev(finals) if len(finals) > 1 else 0.0
        print(f"{arm:>8}: {statistics.mean(finals):.3f} ± {sd:.3f}   by round: {per_round}")
    if {"fdd", "random"} <= set(args.arms):
        diffs = [results["fdd"][s][-1] - results["random"][s][-1] for s in args.seeds]
        print(f"fdd - random per seed: {' '.join(f'{d:+.3f}' for d in diffs)}; "
              f"mean {statistics.mean(diffs):+.3f}")


if __name__ == "__main__":
    main()
