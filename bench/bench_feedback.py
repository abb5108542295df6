"""Does feedback matter? Every arm of the embedded default over seeds, with paired intervals.

Arms (label: overrides): fdd, random (same requests as fdd, parents shuffled), none at equal
compute (no new data, `steps_per_round` = the mean optimizer steps per round of fdd's run with the
same seed, so it trains as many steps in total), easy_only, hard_only, and pass_rate (fdd with
pass-rate verdicts over 4 samples, conf/feedback/pass_rate.yaml) with its matched control
pass_rate_random (the same pass-rate verdicts decide how many harder and similar requests, a shuffle
decides which parents get them; also paired against pass_rate), hard_only with its matched control
hard_only_random (as many similar requests as hard_only, to shuffled parents, no harder variation),
and fdd_attempt / random_attempt
(fdd / random with `feedback.show_attempt=true`: the teacher sees the student's attempt and its
first wrong step; fdd_attempt is paired against fdd and against random_attempt, on every
evaluation set too). fdd and random run on every seed of --seeds (>= 5 for a claim), the others on
the first --few of them.

Prints, from the runs' summary.json: mean accuracy over the evaluation sets by arm and round
(mean ± std over seeds), the paired difference fdd − X for every other arm X by round (mean, 95 %
t-interval, per-seed differences; fdd/report/compare.py), and final accuracy by tag (e.g. kind) per arm.
Results go to bench/RESULTS.md by hand, with the command. A finished run is not redone, so an
interrupted bench continues where it stopped.

    python bench/bench_feedback.py [--seeds 0 1 2 3 4] [--few 3] [--arms fdd random ...] [--parallel 2]
                                   [--out DIR] [--none-steps N] [--metric mean|BENCH|TAG=VALUE] [-- overrides]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fdd.report.aggregate import Run, load_run  # noqa: E402
from fdd.report.compare import paired, render_compare  # noqa: E402
from fdd.report.summaries import tag_key  # noqa: E402
from fdd.report.tag_tables import final_by_tag, tag_cells  # noqa: E402

ARMS = {"fdd": ["feedback=fdd"], "random": ["feedback=random"], "none": ["feedback=none"],
        "easy_only": ["feedback=easy_only"], "hard_only": ["feedback=hard_only"], "pass_rate": ["feedback=pass_rate"],
        "pass_rate_random": ["feedback=pass_rate", "feedback.name=random"],
        "fdd_attempt": ["feedback=fdd", "feedback.show_attempt=true"],
        "random_attempt": ["feedback=random", "feedback.show_attempt=true"],
        "hard_only_random": ["feedback=random", "feedback.harder_per_easy=0"]}
# a matched control, also paired against the arm it controls (hard_only_random: as many similar requests as
# hard_only sends, to shuffled parents, and no harder variation)
CONTROLS = {"pass_rate_random": "pass_rate", "hard_only_random": "hard_only"}
# arm -> the arms it is compared with (A − B), with the difference on every evaluation set too
AGAINST = {"fdd_attempt": ["fdd", "random_attempt"]}
MANY = ("fdd", "random")  # the arms the headline comparison needs: every seed


def run_dir(out: Path, arm: str, seed: int) -> Path:
    return out / f"{arm}_seed{seed}"


def equal_steps(out: Path, seed: int, fallback: int | None) -> int | None:
    """Mean optimizer steps per round of fdd's run with this seed, to the nearest integer: `none`
    then trains as many steps in total (up to that rounding)."""
    try:
        summary = json.loads((run_dir(out, "fdd", seed) / "summary.json").read_text())
        steps = [r["training"]["optimizer_steps"] for r in summary["rounds"]]
        return max(1, round(sum(steps) / len(steps)))
    except (OSError, KeyError, ValueError, ZeroDivisionError):
        return fallback


def mean_acc(evals: dict) -> float:
    return sum(e["accuracy"] for e in evals.values()) / len(evals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="seeds of fdd and random")
    ap.add_argument("--few", type=int, default=3, help="how many of --seeds the other arms run on")
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    ap.add_argument("--out", default="bench/runs/feedback")
    ap.add_argument("--parallel", type=int, default=1, help="runs at once (each then uses one thread)")
    ap.add_argument("--none-steps", type=int, help="steps_per_round of `none` when fdd's run is not there")
    ap.add_argument("--metric", default="mean", help="the paired comparison's metric besides the mean: a benchmark "
                    "or TAG=VALUE, e.g. rare_kind=yes (accuracy pooled over the sets on problems holding a rare kind)")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides (after --)")
    args = ap.parse_args()
    out = Path(args.out)
    seeds = {arm: args.seeds if arm in MANY else args.seeds[:args.few] for arm in args.arms}
    # fdd first (none needs its step counts), then arms interleaved per seed; none last
    jobs = [(arm, s) for s in args.seeds for arm in args.arms if s in seeds[arm] and arm != "none"]
    jobs += [("none", s) for s in seeds.get("none", [])]
    env = {**os.environ, "OMP_NUM_THREADS": "1"} if args.parallel > 1 else None
    running: list[tuple[str, int, subprocess.Popen, float]] = []
    while jobs or running:
        while jobs and len(running) < args.parallel:
            arm, seed = jobs[0]
            extra = []
            if arm == "none":
                if any(a == "fdd" and s == seed for a, s, _, _ in running):
                    break  # wait for fdd's run of this seed
                steps = equal_steps(out, seed, args.none_steps)
                if steps is None:
                    sys.exit("none at equal steps needs fdd's run of the same seed, or --none-steps N")
                extra = [f"steps_per_round={steps}"]
            jobs.pop(0)
            cmd = [sys.executable, "-m", "fdd.run", *ARMS[arm], f"seed={seed}", *extra,
                   f"hydra.run.dir={run_dir(out, arm, seed)}", "trainer.enable_progress_bar=false", *args.overrides]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
            running.append((arm, seed, proc, time.time()))
        time.sleep(1)
        for job in [j for j in running if j[2].poll() is not None]:
            running.remove(job)
            arm, seed, proc, t0 = job
            if proc.returncode != 0:
                sys.exit(f"{arm} seed {seed} failed:\n{proc.stderr.read()[-3000:]}")
            summary = json.loads((run_dir(out, arm, seed) / "summary.json").read_text())
            accs = " ".join(f"{mean_acc(r['eval']):.3f}" for r in summary["rounds"])
            print(f"{arm:>9} seed {seed}: {accs}  ({time.time() - t0:.0f}s)", flush=True)
    report(out, args.arms, seeds, args.metric)


def report(out: Path, arms: list[str], seeds: dict[str, list[int]], metric: str = "mean") -> None:
    runs: list[Run] = []
    for arm in arms:
        for seed in seeds[arm]:
            run = load_run(run_dir(out, arm, seed))
            run.arm, run.seed = arm, str(seed)
            runs.append(run)
    print("\nmean accuracy over the evaluation sets, % (mean ± std over seeds)")
    n_rounds = max(len(r.summary["rounds"]) for r in runs)
    print(f"{'arm':>9} {'seeds':>5} " + " ".join(f"{f'round {k}':>12}" for k in range(n_rounds)))
    for arm in arms:
        per_round = list(zip(*[[mean_acc(x["eval"]) for x in r.summary["rounds"]] for r in runs if r.arm == arm]))
        cells = [f"{100 * statistics.fmean(v):5.1f} ± {100 * (statistics.stdev(v) if len(v) > 1 else 0):4.1f}"
                 for v in per_round]
        print(f"{arm:>9} {len(seeds[arm]):>5} " + " ".join(f"{c:>12}" for c in cells))
    if "fdd" in arms:
        for other in (a for a in arms if a != "fdd" and "fdd" not in AGAINST.get(a, ())):
            for m in dict.fromkeys((metric, "mean")):
                print("\n" + render_compare("fdd", other, paired(runs, "fdd", other, m), m))
    for arm, others in AGAINST.items():
        for other in (o for o in others if arm in arms and o in arms):
            print("\n" + render_compare(arm, other, paired(runs, arm, other), "mean"))
            print(f"final {arm} − {other} by evaluation set, points [95 % CI]:")
            for name in runs[0].summary["rounds"][-1]["eval"]:
                final = paired(runs, arm, other, name)[-1]
                ci = final.interval()
                print(f"  {name}: {100 * final.mean:+.1f}" + (f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else ""))
    for control, arm in CONTROLS.items():
        if control in arms and arm in arms:
            for m in dict.fromkeys((metric, "mean")):
                print("\n" + render_compare(arm, control, paired(runs, arm, control, m), m))
    by_tag = final_by_tag(tag_cells(runs))
    keys = sorted({k for d in by_tag.values() for k in d}, key=lambda k: (k[0], tag_key(k[1])))
    if keys:
        print("final accuracy by tag, % (pooled over evaluation sets; mean over seeds)")
        print(f"{'tag':>16} " + " ".join(f"{a:>9}" for a in arms))
        for key in keys:
            cells = [by_tag.get(a, {}).get(key) for a in arms]
            print(f"{key[0] + '=' + key[1]:>16} "
                  + " ".join(f"{100 * statistics.fmean(c):9.1f}" if c else f"{'-':>9}" for c in cells))
    else:
        print("no tags in these runs' summaries: nothing to show by kind")


if __name__ == "__main__":
    main()
