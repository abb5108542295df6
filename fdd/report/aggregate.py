"""Many runs into one paper table: group finished runs by arm, seeds as replicates.

A run's arm is its Hydra overrides minus `seed=` (and minus those every run shares), read from
`.hydra/overrides.yaml`; its numbers come from summary.json alone (DESIGN §4).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fdd.report.summaries import (
    accuracies,
    md_table,
    mean,
    num,
    png_bytes,
    read_yaml,
    rounds_of,
    sizes,
)

AGGREGATES = ("mean", "weighted")  # per-run summaries over benchmarks, aggregated like a benchmark


class ReportError(Exception):
    """Bad input for the report CLI; main() prints it on one line and exits 2."""


@dataclass
class Run:
    path: Path
    arm_overrides: tuple[str, ...]
    feedback: str | None
    seed: str | None
    summary: dict
    arm: str = ""


@dataclass
class Cell:
    """Mean ± sample std over seeds of one (arm, round, benchmark)."""

    arm: str
    round: int | str
    benchmark: str
    values: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    seeds: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    @property
    def n(self) -> str:
        """Eval-set size; several sizes (should not happen within a sweep) are joined with '|'."""
        return "|".join(str(s) for s in sorted(set(self.sizes))) or "-"


def _natural_key(p: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p))]


def find_run_dirs(dirs: Sequence[str | Path]) -> list[Path]:
    """Run dirs (those with summary.json) under each DIR, at any depth; hidden dirs are skipped."""
    found: list[Path] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise ReportError(f"not a directory: {d}")
        for root, subdirs, files in os.walk(d):
            if "summary.json" in files:
                found.append(Path(root))
                subdirs[:] = []  # a run dir's own subfolders hold no further runs
            else:
                subdirs[:] = [s for s in subdirs if not s.startswith(".")]
    unique = {p.resolve(): p for p in found}
    return sorted(unique.values(), key=_natural_key)


def _override_key(item: str) -> str:
    return item.split("=", 1)[0].lstrip("+~")


def _arm_overrides(overrides: Any) -> tuple[list[str], str | None]:
    """(overrides that define the arm, seed): drops seed=, sweep selection and hydra.* keys."""
    arm, seed = [], None
    for item in overrides if isinstance(overrides, list) else []:
        item = str(item)
        key = _override_key(item)
        if key == "seed":
            seed = item.split("=", 1)[1] if "=" in item else None
        elif key != "sweep" and not key.startswith("hydra."):
            arm.append(item)
    return arm, seed


def load_run(path: Path) -> Run:
    """Read one run dir; raises ValueError with a one-line reason if summary.json is unusable."""
    try:
        summary = json.loads((path / "summary.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"unreadable summary.json ({e.__class__.__name__})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("rounds", []), list):
        raise ValueError("summary.json is not a summary object")
    config = read_yaml(path / ".hydra" / "config.yaml")
    config = config if isinstance(config, dict) else {}
    arm, seed = _arm_overrides(read_yaml(path / ".hydra" / "overrides.yaml"))
    fb = config.get("feedback")
    feedback = str(fb.get("name")) if isinstance(fb, dict) and fb.get("name") is not None else None
    if feedback is None and isinstance(fb, str):
        feedback = fb
    if seed is None and config.get("seed") is not None:
        seed = str(config["seed"])
    return Run(path=path, arm_overrides=tuple(arm), feedback=feedback, seed=seed, summary=summary)


def name_arms(runs: list[Run]) -> None:
    """Arm label = the job's overrides minus seed (and minus overrides every run shares, such as
    `rounds=3` given to the whole sweep); an empty label falls back to feedback.name. Runs with the
    same overrides in another order share the first one's label."""
    common = set.intersection(*(set(r.arm_overrides) for r in runs)) if runs else set()
    labels: dict[frozenset[str], str] = {}
    for r in runs:
        rest = [o for o in r.arm_overrides if o not in common]
        r.arm = labels.setdefault(frozenset(rest), " ".join(rest)) or r.feedback or "default"


def metric_value(accs: Mapping[str, float], ns: Mapping[str, int], metric: str) -> float | None:
    """One run's number for `metric`: mean or n-weighted mean over benchmarks, or one benchmark."""
    if metric == "mean":
        return mean(accs.values())
    if metric == "weighted":
        total = sum(ns.get(k, 0) for k in accs)
        return sum(a * ns.get(k, 0) for k, a in accs.items()) / total if total else None
    return accs.get(metric)


def run_points(run: Run) -> list[tuple[int | str, Any]]:
    """(round, eval block) for each round of a run, then ("final", final eval) when recorded."""
    out: list[tuple[int | str, Any]] = []
    for i, r in enumerate(rounds_of(run.summary)):
        rnd = num(r.get("round"))
        out.append((int(rnd) if rnd is not None else i, r.get("eval")))
    if (final := (run.summary.get("final") or {}).get("eval")) is not None:
        out.append(("final", final))
    return out


def aggregate(runs: Sequence[Run], metric: str = "mean") -> tuple[list[str], list[str], list[Cell]]:
    """(arms, benchmarks, cells): per arm × round × benchmark (plus the metric, and a `final` round
    when runs record one) the seeds' accuracies. The metric is computed per run, then aggregated,
    so its std is the spread of whole runs, not of benchmarks."""
    cells: dict[tuple[str, Any, str], Cell] = {}
    arms: dict[str, None] = {}
    benches: dict[str, None] = {}
    for run in runs:
        arms[run.arm] = None
        for rnd, evals in run_points(run):
            accs, ns = accuracies(evals), sizes(evals)
            if not accs:
                continue
            items = list(accs.items())
            for agg in dict.fromkeys(("mean", metric)):
                if agg in AGGREGATES and (m := metric_value(accs, ns, agg)) is not None:
                    items.append((agg, m))
            for bench, acc in items:
                if bench not in AGGREGATES:
                    benches[bench] = None
                c = cells.setdefault((run.arm, rnd, bench), Cell(run.arm, rnd, bench))
                c.values.append(acc)
                c.seeds.append(run.seed if run.seed is not None else "?")
                c.sizes.append(ns[bench] if bench in ns else sum(ns.get(k, 0) for k in accs))

    def order(c: Cell) -> tuple:
        bench_ix = list(benches).index(c.benchmark) if c.benchmark in benches else len(benches)
        rnd = (1, 0) if c.round == "final" else (0, c.round)
        return (list(arms).index(c.arm), rnd, bench_ix)

    return list(arms), list(benches), sorted(cells.values(), key=order)


def render_markdown(
    arms: Sequence[str],
    benches: Sequence[str],
    cells: Sequence[Cell],
    metric: str,
    n_runs: int,
    n_skipped: int,
) -> str:
    """One table: a row per arm × round, a column per benchmark (+ the metric), `mean ± std` in %."""
    by_key = {(c.arm, c.round, c.benchmark): c for c in cells}
    cols = list(benches) + list(dict.fromkeys(a for a in ("mean", metric) if a in AGGREGATES))

    def header(b: str) -> str:
        ns = sorted({s for c in cells if c.benchmark == b for s in c.sizes})
        if b in AGGREGATES:
            return f"{b} (over benchmarks)"
        if not ns:
            return b
        return f"{b} (n={ns[0]})" if len(ns) == 1 else f"{b} (n={ns[0]}–{ns[-1]})"

    rows = []
    for arm in arms:
        rounds = sorted(
            {c.round for c in cells if c.arm == arm}, key=lambda r: (r == "final", r if r != "final" else 0)
        )
        for rnd in rounds:
            seeds = max(
                (len(by_key[(arm, rnd, b)].values) for b in cols if (arm, rnd, b) in by_key), default=0
            )
            row = [f"`{arm}`".replace("|", "\\|"), str(rnd), str(seeds)]
            for b in cols:
                c = by_key.get((arm, rnd, b))
                row.append("-" if c is None else f"{100 * c.mean:.1f} ± {100 * c.std:.1f}")
            rows.append(row)
    plural = "s" if len(arms) != 1 else ""
    lines = [
        "# fdd sweep report",
        "",
        f"{n_runs} complete run{'s' if n_runs != 1 else ''} in {len(arms)} arm{plural}; "
        f"{n_skipped} skipped. Accuracy in %, mean ± sample std over seeds (±0.0 with one seed); "
        f"`seeds` = number of seeds, `n` = eval-set size.",
        "",
        md_table(["arm", "round", "seeds", *[header(b) for b in cols]], rows, right_from=1),
        "",
    ]
    return "\n".join(lines)


def render_csv(cells: Sequence[Cell]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["arm", "round", "benchmark", "mean", "std", "n_seeds", "n", "seeds"])
    for c in cells:
        w.writerow([c.arm, c.round, c.benchmark, f"{c.mean:.6f}", f"{c.std:.6f}", len(c.values), c.n,
                    ";".join(c.seeds)])
    return buf.getvalue()


def plot_arms(arms: Sequence[str], cells: Sequence[Cell], metric: str) -> bytes:
    """accuracy_by_arm.png: the metric by round, one line per arm, ±1 std over seeds shaded."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.subplots()
    for arm in arms:
        pts = sorted(
            (c.round, c.mean, c.std)
            for c in cells
            if c.arm == arm and c.benchmark == metric and c.round != "final"
        )
        if not pts:
            continue
        xs, ms, ss = zip(*pts)
        (line,) = ax.plot(xs, ms, marker="o", linewidth=2, label=arm)
        lo = [max(0.0, m - s) for m, s in zip(ms, ss)]
        hi = [min(1.0, m + s) for m, s in zip(ms, ss)]
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.18, linewidth=0)
    ax.set_ylim(0, 1)
    ax.set_xlabel("round")
    ax.set_ylabel(f"accuracy ({metric})" if metric in AGGREGATES else f"accuracy on {metric}")
    ax.set_title("fdd accuracy by arm (mean ± std over seeds)")
    rounds = sorted({c.round for c in cells if c.round != "final"})
    if rounds:
        ax.set_xticks(rounds)
    if ax.lines:
        ax.legend(fontsize="small", loc="best")
    ax.grid(alpha=0.3)
    return png_bytes(fig)
