"""Human-facing results: the end-of-run table, report.md + accuracy.png, and sweep aggregation.

Reads only summary.json (DESIGN §4) and, for aggregation, each job's `.hydra/` files, so it works on
finished runs from any machine. matplotlib is imported lazily: a run pays for it only when it plots.

    python -m fdd.report multirun/2025-01-01/12-00-00 [--out DIR] [--metric mean|weighted|BENCH]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import re
import statistics
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# ----------------------------------------------------------------------------------------------- helpers


def _atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same directory, then os.replace: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _num(x: Any) -> float | None:
    """A finite float, or None for anything missing or non-numeric (summary keys are optional)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def _rounds(summary: Mapping) -> list[dict]:
    return [r for r in (summary.get("rounds") or []) if isinstance(r, Mapping)]


def _accuracies(evals: Any) -> dict[str, float]:
    """{benchmark: accuracy} from an `eval` block, dropping malformed entries."""
    out: dict[str, float] = {}
    if isinstance(evals, Mapping):
        for name, res in evals.items():
            acc = _num(res.get("accuracy")) if isinstance(res, Mapping) else _num(res)
            if acc is not None:
                out[str(name)] = acc
    return out


def _sizes(evals: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    if isinstance(evals, Mapping):
        for name, res in evals.items():
            n = _num(res.get("n")) if isinstance(res, Mapping) else None
            if n is not None:
                out[str(name)] = int(n)
    return out


def _mean(xs: Iterable[float]) -> float | None:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else None


def _eval_names(summary: Mapping) -> list[str]:
    """Benchmark names in order of first appearance over rounds, then final."""
    names: dict[str, None] = {}
    for r in _rounds(summary):
        names.update(dict.fromkeys(_accuracies(r.get("eval"))))
    names.update(dict.fromkeys(_accuracies((summary.get("final") or {}).get("eval"))))
    return list(names)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _int(x: Any, sep: str = ",") -> str:
    v = _num(x)
    return "-" if v is None else f"{int(v):,}".replace(",", sep)


def _secs(x: Any) -> str:
    v = _num(x)
    return "-" if v is None else (f"{v:.1f}" if v < 100 else f"{v:.0f}")


def _abbrev(names: Sequence[str], width: int = 8) -> tuple[dict[str, str], str]:
    """Short column headers and a note explaining them: a shared prefix like `synthetic_` shrinks
    to `syn_`, then anything still longer than `width` is truncated."""
    short, note = {n: n for n in names}, ""
    if len(names) >= 2:
        prefix = os.path.commonprefix(list(names))
        cut = max(prefix.rfind("_"), prefix.rfind("-"))
        prefix = prefix[: cut + 1] if cut >= 0 else ""
        if len(prefix) > 4:
            short = {n: prefix[:3] + prefix[-1] + n[len(prefix) :] for n in names}
            note = f"{prefix[:3] + prefix[-1]}* = {prefix}*"
    return {n: s if len(s) <= width else s[: width - 1] + "…" for n, s in short.items()}, note


# ------------------------------------------------------------------------------------ end-of-run table


def format_round_table(summary: Mapping, *, width: int = 100, color: bool | None = None) -> str:
    """The per-round table printed when a run ends, rendered by rich into a plain string.

    Headers are abbreviated so six evaluation sets fit in 100 columns; colour codes appear only
    when `color` is true (default: only if stdout is a terminal), so logs and files stay clean.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    if color is None:
        color = sys.stdout.isatty()
    names = _eval_names(summary)
    short, note = _abbrev(names)
    status = summary.get("status", "unknown")
    table = Table(
        title=f"fdd rounds ({status}); accuracy in %",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),  # with the box's blank divider: two spaces between columns
        pad_edge=False,
        header_style="bold" if color else "",
        title_style="bold" if color else "",
        caption=note or None,
    )
    for header in ("rnd", "train", "easy", "hard", "added", "rej"):
        table.add_column(header, justify="right", no_wrap=True)
    for n in names:
        table.add_column(short[n], justify="right", no_wrap=True)
    table.add_column("mean", justify="right", no_wrap=True, style="bold" if color else "")
    table.add_column("sec", justify="right", no_wrap=True)

    rounds = _rounds(summary)
    for i, r in enumerate(rounds):
        accs = _accuracies(r.get("eval"))
        counts = [_int(r.get(k), sep="") for k in ("train_size", "easy", "hard", "added", "rejected")]
        cells = [str(r.get("round", i)), *counts]
        cells += [_pct(accs.get(n)) for n in names] + [_pct(_mean(accs.values())), _secs(r.get("seconds"))]
        table.add_row(*cells, end_section=i == len(rounds) - 1)
    final = _accuracies((summary.get("final") or {}).get("eval"))
    if final:
        table.add_row(
            "final", *[""] * 5, *[_pct(final.get(n)) for n in names], _pct(_mean(final.values())), ""
        )

    console = Console(
        file=io.StringIO(),
        width=width,
        force_terminal=bool(color),
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    console.print(table)
    text = console.file.getvalue().rstrip("\n")  # type: ignore[attr-defined]
    return text if color else "\n".join(line.rstrip() for line in text.splitlines())


# ---------------------------------------------------------------------------------- per-run report.md


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], right_from: int = 1) -> str:
    align = ["---" if i < right_from else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _to_container(config: Any) -> dict:
    """Plain dict from a dict or DictConfig; unresolvable interpolations are left as text."""
    if config is None:
        return {}
    if isinstance(config, Mapping) and not hasattr(config, "_metadata"):
        return dict(config)
    from omegaconf import OmegaConf

    try:
        return OmegaConf.to_container(config, resolve=True)  # type: ignore[return-value]
    except Exception:  # noqa: BLE001 - a report must not fail over an interpolation
        return OmegaConf.to_container(config, resolve=False)  # type: ignore[return-value]


def _model_string(node: Mapping) -> str | None:
    keys = ("model", "model_name", "name_or_path", "pretrained_model_name_or_path", "pretrained")
    return next((node[k] for k in keys if isinstance(node.get(k), str) and node[k]), None)


def _describe(node: Any, choice: Any = None) -> str | None:
    """Short description of a config group node: the group option chosen (from Hydra's
    runtime.choices), else its `name`, else its _target_'s last part, plus the model it names."""
    if not isinstance(node, Mapping):
        return None if node is None and choice is None else str(choice if choice is not None else node)
    inner = node.get("model") if isinstance(node.get("model"), Mapping) else {}
    name = choice or node.get("name")
    for n in (node, inner):
        if name is None and isinstance(n.get("_target_"), str):
            name = n["_target_"].rsplit(".", 1)[-1]
    model = _model_string(node) or _model_string(inner)
    if name and model and str(model) != str(name):
        return f"{name} ({model})"
    return None if name is None and model is None else str(name or model)


def _config_lines(config: Mapping, choices: Mapping) -> list[str]:
    def group(key: str) -> str | None:
        return _describe(config.get(key), choices.get(key))

    items = [
        ("teacher", group("teacher")),
        ("student", group("student")),
        ("dataset", group("dataset")),
        ("feedback arm", group("feedback")),
        ("rounds", config.get("rounds")),
        ("seed", config.get("seed")),
    ]
    return [f"- **{k}**: `{v}`" for k, v in items if v is not None]


def _round_rows(summary: Mapping, names: Sequence[str]) -> list[list[str]]:
    rows = []
    for i, r in enumerate(_rounds(summary)):
        accs = _accuracies(r.get("eval"))
        rows.append(
            [str(r.get("round", i))]
            + [_int(r.get(k)) for k in ("train_size", "easy", "hard", "added", "rejected")]
            + [_pct(accs.get(n)) for n in names]
            + [_pct(_mean(accs.values())), _secs(r.get("seconds"))]
        )
    return rows


def render_run_markdown(
    summary: Mapping, config: Mapping | None = None, choices: Mapping | None = None
) -> str:
    """report.md's text; split out so it can be tested and printed without touching disk.
    `choices` are Hydra's group choices (`student: t5_tiny`), the most readable names for a config."""
    cfg = _to_container(config)
    names = _eval_names(summary)
    out = ["# fdd run report", "", f"**Status:** {summary.get('status', 'unknown')}", ""]
    if cfg and (lines := _config_lines(cfg, choices or {})):
        out += ["## Configuration", "", *lines, ""]

    out += ["## Rounds", "", "Accuracy in % per evaluation set; `mean` is the unweighted mean over sets.", ""]
    headers = ["round", "train size", "easy", "hard", "added", "rejected", *names, "mean", "seconds"]
    out += [_md_table(headers, _round_rows(summary, names)), ""]

    final_eval = (summary.get("final") or {}).get("eval")
    accs, sizes = _accuracies(final_eval), _sizes(final_eval)
    out += ["## Final evaluation", ""]
    if accs:
        rows = [[n, _pct(a), _int(sizes.get(n))] for n, a in accs.items()]
        rows.append(["**mean**", f"**{_pct(_mean(accs.values()))}**", _int(sum(sizes.values()) or None)])
        out += [_md_table(["benchmark", "accuracy %", "n"], rows), ""]
    else:
        out += ["No final evaluation recorded.", ""]

    usage_keys = ("requests", "cached", "prompt_tokens", "completion_tokens")
    usage_rows, totals = [], dict.fromkeys(usage_keys, 0.0)
    for i, r in enumerate(_rounds(summary)):
        t = r.get("teacher") if isinstance(r.get("teacher"), Mapping) else {}
        usage_rows.append([str(r.get("round", i))] + [_int(t.get(k)) for k in usage_keys])
        for k in usage_keys:
            totals[k] += _num(t.get(k)) or 0.0
    out += ["## Teacher usage", ""]
    if usage_rows:
        usage_rows.append(["**total**"] + [f"**{_int(totals[k])}**" for k in usage_keys])
        out += [
            _md_table(["round", "requests", "cached", "prompt tokens", "completion tokens"], usage_rows),
            "",
        ]
    else:
        out += ["No rounds recorded.", ""]
    out += ["## Accuracy by round", "", "![accuracy by round](accuracy.png)", ""]
    return "\n".join(out)


def _png_bytes(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def plot_run_accuracy(summary: Mapping) -> bytes:
    """accuracy.png: one thin line per evaluation set, the mean bold on top, y fixed to [0, 1]."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot global state, no display needed

    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    rounds = _rounds(summary)
    xs = [int(_num(r.get("round")) if _num(r.get("round")) is not None else i) for i, r in enumerate(rounds)]
    per_round = [_accuracies(r.get("eval")) for r in rounds]
    for name in _eval_names(summary):
        pts = [(x, a[name]) for x, a in zip(xs, per_round) if name in a]
        if pts:
            ax.plot(*zip(*pts), marker="o", markersize=3, linewidth=1.2, alpha=0.8, label=name)
    means = [(x, _mean(a.values())) for x, a in zip(xs, per_round) if a]
    if means:
        ax.plot(*zip(*means), color="black", linewidth=3, marker="o", label="mean")
        ax.legend(fontsize="small", loc="best", ncol=2)
    else:
        ax.text(0.5, 0.5, "no evaluations recorded", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(0, 1)
    ax.set_xlabel("round")
    ax.set_ylabel("accuracy")
    ax.set_title(f"fdd accuracy by round ({summary.get('status', 'unknown')})")
    if xs:
        ax.set_xticks(sorted(set(xs)))
    ax.grid(alpha=0.3)
    return _png_bytes(fig)


def write_run_report(run_dir: str | Path, summary: Mapping, config: Mapping | None = None) -> None:
    """Write report.md and accuracy.png into the run dir (DIRECTORY contract, DESIGN §4), atomically."""
    run_dir = Path(run_dir)
    try:
        choices = _read_yaml(run_dir / ".hydra" / "hydra.yaml")["hydra"]["runtime"]["choices"]
    except (TypeError, KeyError):
        choices = None
    choices = choices if isinstance(choices, Mapping) else {}
    _atomic_write(run_dir / "report.md", render_run_markdown(summary, config, choices).encode())
    _atomic_write(run_dir / "accuracy.png", plot_run_accuracy(summary))


# --------------------------------------------------------------------------------- sweep aggregation


_AGGREGATES = ("mean", "weighted")  # per-run summaries over benchmarks, aggregated like a benchmark


class ReportError(Exception):
    """Bad input for the aggregation CLI; main() prints it on one line and exits 2."""


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


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None


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
    config = _read_yaml(path / ".hydra" / "config.yaml")
    config = config if isinstance(config, dict) else {}
    arm, seed = _arm_overrides(_read_yaml(path / ".hydra" / "overrides.yaml"))
    fb = config.get("feedback")
    feedback = str(fb.get("name")) if isinstance(fb, dict) and fb.get("name") is not None else None
    if feedback is None and isinstance(fb, str):
        feedback = fb
    if seed is None and config.get("seed") is not None:
        seed = str(config["seed"])
    return Run(path=path, arm_overrides=tuple(arm), feedback=feedback, seed=seed, summary=summary)


def _name_arms(runs: list[Run]) -> None:
    """Arm label = the job's overrides minus seed (and minus overrides every run shares, such as
    `rounds=3` given to the whole sweep); an empty label falls back to feedback.name. Runs with the
    same overrides in another order share the first one's label."""
    common = set.intersection(*(set(r.arm_overrides) for r in runs)) if runs else set()
    labels: dict[frozenset[str], str] = {}
    for r in runs:
        rest = [o for o in r.arm_overrides if o not in common]
        r.arm = labels.setdefault(frozenset(rest), " ".join(rest)) or r.feedback or "default"


def _metric(accs: Mapping[str, float], sizes: Mapping[str, int], metric: str) -> float | None:
    if metric == "mean":
        return _mean(accs.values())
    if metric == "weighted":
        total = sum(sizes.get(k, 0) for k in accs)
        return sum(a * sizes.get(k, 0) for k, a in accs.items()) / total if total else None
    return accs.get(metric)


def aggregate(runs: Sequence[Run], metric: str = "mean") -> tuple[list[str], list[str], list[Cell]]:
    """(arms, benchmarks, cells): per arm × round × benchmark (plus the metric, and a `final` round
    when runs record one) the seeds' accuracies. The metric is computed per run, then aggregated,
    so its std is the spread of whole runs, not of benchmarks."""
    cells: dict[tuple[str, Any, str], Cell] = {}
    arms: dict[str, None] = {}
    benches: dict[str, None] = {}

    def add(run: Run, rnd: Any, evals: Any) -> None:
        accs, sizes = _accuracies(evals), _sizes(evals)
        if not accs:
            return
        items = list(accs.items())
        for agg in dict.fromkeys(("mean", metric)):
            if agg in _AGGREGATES and (m := _metric(accs, sizes, agg)) is not None:
                items.append((agg, m))
        for bench, acc in items:
            if bench not in _AGGREGATES:
                benches[bench] = None
            c = cells.setdefault((run.arm, rnd, bench), Cell(run.arm, rnd, bench))
            c.values.append(acc)
            c.seeds.append(run.seed if run.seed is not None else "?")
            c.sizes.append(sizes[bench] if bench in sizes else sum(sizes.get(k, 0) for k in accs))

    for run in runs:
        arms[run.arm] = None
        for i, r in enumerate(_rounds(run.summary)):
            rnd = _num(r.get("round"))
            add(run, int(rnd) if rnd is not None else i, r.get("eval"))
        add(run, "final", (run.summary.get("final") or {}).get("eval"))

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
    cols = list(benches) + list(dict.fromkeys(a for a in ("mean", metric) if a in _AGGREGATES))

    def header(b: str) -> str:
        sizes = sorted({s for c in cells if c.benchmark == b for s in c.sizes})
        if b in _AGGREGATES:
            return f"{b} (over benchmarks)"
        if not sizes:
            return b
        return f"{b} (n={sizes[0]})" if len(sizes) == 1 else f"{b} (n={sizes[0]}–{sizes[-1]})"

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
        _md_table(["arm", "round", "seeds", *[header(b) for b in cols]], rows, right_from=1),
        "",
    ]
    return "\n".join(lines)


def render_csv(cells: Sequence[Cell]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["arm", "round", "benchmark", "mean", "std", "n_seeds", "n", "seeds"])
    for c in cells:
        w.writerow(
            [
                c.arm,
                c.round,
                c.benchmark,
                f"{c.mean:.6f}",
                f"{c.std:.6f}",
                len(c.values),
                c.n,
                ";".join(c.seeds),
            ]
        )
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
    ax.set_ylabel(f"accuracy ({metric})" if metric in _AGGREGATES else f"accuracy on {metric}")
    ax.set_title("fdd accuracy by arm (mean ± std over seeds)")
    rounds = sorted({c.round for c in cells if c.round != "final"})
    if rounds:
        ax.set_xticks(rounds)
    if ax.lines:
        ax.legend(fontsize="small", loc="best")
    ax.grid(alpha=0.3)
    return _png_bytes(fig)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + error
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Aggregate finished runs: group by arm, seeds as replicates; write report.md/.csv and a plot."""
    p = _Parser(prog="python -m fdd.report", description=main.__doc__)
    p.add_argument(
        "dirs", nargs="+", metavar="DIR", help="run dirs or folders holding them (e.g. a multirun dir)"
    )
    p.add_argument("--out", help="output folder (default: the first DIR; DIR/aggregate if DIR is a run dir)")
    p.add_argument(
        "--metric",
        default="mean",
        help="what the plot shows: mean (unweighted over benchmarks, default), weighted (by n), "
        "or a benchmark name",
    )
    args = p.parse_args(argv)

    def warn(msg: str) -> None:
        print(f"fdd.report: warning: {msg}", file=sys.stderr)

    try:
        paths = find_run_dirs(args.dirs)
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
            raise ReportError(f"no complete run under {' '.join(args.dirs)} ({found})")
        _name_arms(runs)
        seen: dict[tuple[str, str | None], Path] = {}
        for r in runs:
            if (r.arm, r.seed) in seen:
                warn(f"arm {r.arm!r} has seed {r.seed} twice ({seen[(r.arm, r.seed)]}, {r.path}); both count")
            seen[(r.arm, r.seed)] = r.path
        arms, benches, cells = aggregate(runs, args.metric)
        if args.metric not in _AGGREGATES and args.metric not in benches:
            raise ReportError(
                f"unknown --metric {args.metric!r}; choose mean, weighted or one of: {', '.join(benches)}"
            )
        md = render_markdown(arms, benches, cells, args.metric, len(runs), skipped)
        out = Path(args.out or args.dirs[0])
        if not args.out and (out / "summary.json").is_file():
            out = out / "aggregate"  # never overwrite a run's own report.md
        _atomic_write(out / "report.md", md.encode())
        _atomic_write(out / "report.csv", render_csv(cells).encode())
        _atomic_write(out / "accuracy_by_arm.png", plot_arms(arms, cells, args.metric))
    except ReportError as e:
        print(f"fdd.report: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"fdd.report: error: {e.strerror or e} ({e.filename or ''})", file=sys.stderr)
        return 1
    print(md)
    print(
        f"fdd.report: wrote {out / 'report.md'}, {out / 'report.csv'}, {out / 'accuracy_by_arm.png'}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
