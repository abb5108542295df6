"""`python -m fdd.report`: aggregate finished runs into a paper table, optionally compare two arms.

    python -m fdd.report multirun/2025-01-01/12-00-00 [--out DIR] [--metric mean|weighted|BENCH]
                         [--compare ARM_A ARM_B]

The pieces live in their own files: fdd/report/aggregate.py (many runs grouped by arm),
fdd/report/compare.py (paired difference with a t-interval), fdd/report/tag_tables.py (per tag).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from fdd.report.aggregate import (
    AGGREGATES,
    ReportError,
    aggregate,
    find_run_dirs,
    load_run,
    name_arms,
    plot_arms,
    render_csv,
    render_markdown,
    run_points,
)
from fdd.report.compare import (
    compare_csv,
    paired,
    pick_arm,
    plot_compare,
    render_compare,
    routing,
    run_metric,
)
from fdd.report.summaries import atomic_write
from fdd.report.tag_tables import render_tag_tables, tag_cells, tag_csv


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + error
        self.exit(2, f"{self.prog}: error: {message}\n")


def _load(dirs: Sequence[str], warn) -> tuple[list, int]:
    paths = find_run_dirs(dirs)
    runs, skipped = [], 0
    for path in paths:
        try:
            run = load_run(path)
        except ValueError as e:
            warn(f"skipping {path}: {e}")
            skipped += 1
            continue
        status = run.summary.get("status")
        if status != "complete":
            warn(f"skipping {path}: status {status!r}, not 'complete'")
            skipped += 1
            continue
        runs.append(run)
    if skipped:
        warn(f"skipped {skipped} of {len(paths)} run(s)")
    if not runs:
        found = f"{len(paths)} run(s) found, none complete" if paths else "no summary.json found"
        raise ReportError(f"no complete run under {' '.join(dirs)} ({found})")
    return runs, skipped


def main(argv: Sequence[str] | None = None) -> int:
    """Aggregate finished runs: group by arm, seeds as replicates; write report.md/.csv and a plot."""
    p = _Parser(prog="python -m fdd.report", description=main.__doc__)
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run dirs or folders holding them (e.g. a multirun dir)")
    p.add_argument("--out", help="output folder (default: the first DIR; DIR/aggregate if DIR is a run dir)")
    p.add_argument("--metric", default="mean", help="what the plot and --compare use: mean (unweighted over "
                   "benchmarks, default), weighted (by n), a benchmark name, or TAG=VALUE (--compare only: accuracy "
                   "pooled over the benchmarks on problems with that tag value, e.g. rare_kind=yes)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="paired difference A − B per round over seeds, "
                   "with a 95%% t-interval (arm labels as in the table, or feedback names such as fdd random)")
    args = p.parse_args(argv)

    def warn(msg: str) -> None:
        print(f"fdd.report: warning: {msg}", file=sys.stderr)

    written: list[Path] = []
    try:
        runs, skipped = _load(args.dirs, warn)
        name_arms(runs)
        seen: dict[tuple[str, str | None], Path] = {}
        for r in runs:
            if (r.arm, r.seed) in seen:
                warn(f"arm {r.arm!r} has seed {r.seed} twice ({seen[(r.arm, r.seed)]}, {r.path}); both count")
            seen[(r.arm, r.seed)] = r.path
        by_tag = "=" in args.metric  # a tag metric drives --compare; the tables and plot keep the mean
        plotted = "mean" if by_tag else args.metric
        arms, benches, cells = aggregate(runs, plotted)
        if by_tag and not any(run_metric(ev, args.metric) is not None for run in runs for _, ev in run_points(run)):
            raise ReportError(f"no run reports tag {args.metric!r} (summary.json eval.<set>.by_tag)")
        if not by_tag and args.metric not in AGGREGATES and args.metric not in benches:
            raise ReportError(
                f"unknown --metric {args.metric!r}; choose mean, weighted or one of: {', '.join(benches)}"
            )
        md = render_markdown(arms, benches, cells, plotted, len(runs), skipped)
        tagged = tag_cells(runs)
        if tagged:
            md += "\n" + render_tag_tables(tagged, arms)
        comparison = None
        if args.compare:
            a, b = (pick_arm(runs, name) for name in args.compare)
            comparison = (a, b, paired(runs, a, b, args.metric, warn))
            routes = {arm: [r for run in runs if run.arm == arm and (r := routing(run)) is not None] for arm in (a, b)}
            md += "\n" + render_compare(a, b, comparison[2], args.metric, routes)
        out = Path(args.out or args.dirs[0])
        if not args.out and (out / "summary.json").is_file():
            out = out / "aggregate"  # never overwrite a run's own report.md
        files = {"report.md": md.encode(), "report.csv": render_csv(cells).encode(),
                 "accuracy_by_arm.png": plot_arms(arms, cells, plotted)}
        if tagged:
            files["report_by_tag.csv"] = tag_csv(tagged).encode()
        if comparison is not None:
            files |= {"compare.csv": compare_csv(comparison[2]).encode(),
                      "compare.png": plot_compare(comparison[0], comparison[1], comparison[2], args.metric)}
        for name, data in files.items():
            atomic_write(out / name, data)
            written.append(out / name)
    except ReportError as e:
        print(f"fdd.report: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"fdd.report: error: {e.strerror or e} ({e.filename or ''})", file=sys.stderr)
        return 1
    print(md)
    print(f"fdd.report: wrote {', '.join(str(w) for w in written)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
