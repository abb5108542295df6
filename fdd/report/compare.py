"""Paired comparison of two arms over seeds: per round, the difference A − B with a 95 % t-interval.

Runs are paired by seed (same seed, same other settings, only the arm differs), so the seed's own
luck (initial weights, training problems, evaluation noise shared by both arms) cancels out. For
each round k and seed s, d_s = metric(A, s, k) − metric(B, s, k); the interval is
mean(d) ± t_{0.975, n−1} · sd(d) / √n, with Student's t quantile computed here (no scipy needed).

Two numbers say what a null result is worth:
- the smallest effect the runs could detect: the true mean difference a two-sided paired t-test
  at 5 % finds with 80 % probability given the observed spread, (t_{0.975, n−1} + t_{0.8, n−1})
  · sd(d) / √n; a true effect below it will usually read as "no difference";
- the routing each arm realised (`routing`): the share of its teacher requests that went against
  the student's verdicts (a harder variation of a failed problem, a similar problem for a solved
  one), from the `sent` field of rounds/round_k/feedback.jsonl. fdd sends none that way; `random`
  sends as many harder and similar requests to shuffled parents, 2p(1 − p) of them against the
  verdicts in expectation when a share p of the pool is solved: the most its result can differ by.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from fdd.report.aggregate import ReportError, Run, metric_value, run_points
from fdd.report.summaries import accuracies, eval_by_tag, md_table, png_bytes, sizes

# ----------------------------------------------------------------------------------- Student's t


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularised incomplete beta function, for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t value with P(T <= t) = p (bisection on t_cdf, to 1e-10)."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    while hi - lo > 1e-10 * max(1.0, hi):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2.0


# ------------------------------------------------------------------------------ paired difference


@dataclass
class Paired:
    """The paired difference A − B at one round."""

    round: int | str
    seeds: list[str] = field(default_factory=list)
    diffs: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.diffs)

    def interval(self, level: float = 0.95) -> tuple[float, float] | None:
        """Two-sided t-interval for the mean difference; None with fewer than 2 pairs."""
        if self.n < 2:
            return None
        half = t_quantile(0.5 + level / 2.0, self.n - 1) * statistics.stdev(self.diffs) / math.sqrt(self.n)
        return self.mean - half, self.mean + half

    def detectable(self, power: float = 0.8, level: float = 0.95) -> float | None:
        """The smallest true mean difference a two-sided paired t-test at `level` detects with
        probability `power`, given these pairs' spread; None with fewer than 2 pairs."""
        if self.n < 2:
            return None
        df = self.n - 1
        return (t_quantile(0.5 + level / 2.0, df) + t_quantile(power, df)) * statistics.stdev(self.diffs) / math.sqrt(self.n)


@dataclass
class Routing:
    """One run's teacher requests against the student's verdicts (see the module docstring)."""

    requests: int
    against: int
    easy_share: float  # solved share of the judged pool (easy / (easy + hard)), over the rounds

    @property
    def share(self) -> float:
        return self.against / self.requests if self.requests else 0.0


def routing(run: Run) -> Routing | None:
    """From the run's feedback.jsonl files; None if they do not record what was sent (older runs)."""
    requests = against = easy = hard = 0
    seen = False
    for path in sorted(run.path.glob("rounds/round_*/feedback.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line) if line.strip() else {}
            if "sent" not in rec:
                continue
            seen = True
            verdict, sent = rec.get("verdict"), rec["sent"]
            easy, hard = easy + (verdict == "easy"), hard + (verdict == "hard")
            requests += len(sent)
            against += ("harder" in sent and verdict == "hard") + ("similar" in sent and verdict == "easy")
    return Routing(requests, against, easy / (easy + hard) if easy + hard else 0.0) if seen else None


def pick_arm(runs: Sequence[Run], name: str) -> str:
    """The arm label `name` refers to: an exact label, `feedback=<name>`, else the single arm whose
    feedback.name is `name`."""
    labels = list(dict.fromkeys(r.arm for r in runs))
    for label in (name, f"feedback={name}"):  # `fdd` names the arm `feedback=fdd`, not feedback=pass_rate's
        if label in labels:
            return label
    by_feedback = list(dict.fromkeys(r.arm for r in runs if r.feedback == name))
    if len(by_feedback) == 1:
        return by_feedback[0]
    hint = f" (feedback={name} matches {len(by_feedback)} arms)" if by_feedback else ""
    raise ReportError(f"--compare: no arm {name!r}{hint}; arms: {', '.join(labels)}")


def run_metric(evals, metric: str) -> float | None:
    """One eval block's number for `metric`: mean, weighted or a benchmark (aggregate.metric_value), or
    `TAG=VALUE`: accuracy pooled over the evaluation sets on the problems with that tag value (their
    by_tag), e.g. rare_kind=yes on a skewed testbed."""
    if "=" in metric:
        tag, value = metric.split("=", 1)
        cell = eval_by_tag(evals).get(tag, {}).get(value)
        return cell[0] / cell[1] if cell and cell[1] else None
    return metric_value(accuracies(evals), sizes(evals), metric)


def paired(runs: Sequence[Run], arm_a: str, arm_b: str, metric: str = "mean",
           warn: Callable[[str], None] | None = None) -> list[Paired]:
    """Per round (and `final`), A − B over the seeds both arms have. A seed run twice in one arm
    counts once (its first run), with a warning: pairing needs one run per seed and arm."""
    by_seed: dict[str, dict[str, dict]] = {arm_a: {}, arm_b: {}}
    for run in runs:
        if run.arm in by_seed:
            per_round = {}
            for rnd, evals in run_points(run):
                if (v := run_metric(evals, metric)) is not None:
                    per_round[rnd] = v
            seed = run.seed if run.seed is not None else "?"
            if seed in by_seed[run.arm]:
                if warn:
                    warn(f"--compare: arm {run.arm!r} has seed {seed} twice; pairing uses its first run")
                continue
            by_seed[run.arm][seed] = per_round
    common = [s for s in by_seed[arm_a] if s in by_seed[arm_b]]
    if not common:
        raise ReportError(f"--compare: arms {arm_a!r} and {arm_b!r} share no seed")
    if warn and (unpaired := set(by_seed[arm_a]) ^ set(by_seed[arm_b])):
        warn(f"--compare: seeds without a partner left out: {', '.join(sorted(unpaired))}")
    out: dict[int | str, Paired] = {}
    for seed in sorted(common, key=lambda s: (not s.lstrip("-").isdigit(), int(s) if s.lstrip("-").isdigit() else 0, s)):
        a, b = by_seed[arm_a][seed], by_seed[arm_b][seed]
        for rnd in a:
            if rnd in b:
                p = out.setdefault(rnd, Paired(rnd))
                p.seeds.append(seed)
                p.diffs.append(a[rnd] - b[rnd])
    return sorted(out.values(), key=lambda p: (p.round == "final", p.round if p.round != "final" else 0))


_WHAT = {"mean": "Mean accuracy over evaluation sets", "weighted": "Accuracy weighted by set size"}


def _pp(x: float) -> str:
    return f"{100 * x:+.1f}"


def render_compare(arm_a: str, arm_b: str, rows: Sequence[Paired], metric: str,
                   routes: Mapping[str, Sequence[Routing]] | None = None) -> str:
    """Markdown: a row per round with n, mean difference, 95 % interval, the smallest effect detectable
    at 80 % power and each seed's difference; then what a null means, and the routing each arm realised."""
    table = []
    for p in rows:
        ci, mde = p.interval(), p.detectable()
        table.append([str(p.round), str(p.n), _pp(p.mean), "-" if ci is None else f"[{_pp(ci[0])}, {_pp(ci[1])}]",
                      "-" if mde is None else f"{100 * mde:.1f}", " ".join(f"{s}:{_pp(d)}" for s, d in zip(p.seeds, p.diffs))])
    out = [
        f"## Paired difference `{arm_a}` − `{arm_b}`",
        "",
        f"{_WHAT.get(metric, f'Accuracy on {metric}')} of `{arm_a}` minus `{arm_b}`, in percentage points, "
        "paired by seed; 95 % t-interval over seeds (needs n ≥ 2); `80% MDE`: the smallest true difference "
        "these runs detect with 80 % probability (two-sided, 5 %), given the spread of the differences.",
        "",
        md_table(["round", "n", "mean", "95% CI", "80% MDE", "per seed"], table),
        "",
    ]
    last = rows[-1] if rows else None
    if last is not None and (mde := last.detectable()) is not None:
        sd = statistics.stdev(last.diffs)
        out += [f"Power: at round {last.round}, with n = {last.n} pairs and a spread of {100 * sd:.1f} points, these "
                f"runs detect a true difference of {100 * mde:.1f} points 80 % of the time; a smaller one would "
                f"usually read as no difference. n ≈ {math.ceil(last.n * (mde / 0.01) ** 2)} pairs would detect "
                "1 point.", ""]
    for arm, rs in (routes or {}).items():
        if not rs:
            out += [f"Routing of `{arm}`: not recorded (runs older than the `sent` field of feedback.jsonl).", ""]
            continue
        share = statistics.fmean(r.share for r in rs)
        p = statistics.fmean(r.easy_share for r in rs)
        out += [f"Routing of `{arm}`: {100 * share:.1f} % of its teacher requests went against the student's "
                f"verdicts (mean over {len(rs)} runs); solved share of the pool p = {100 * p:.1f} %, "
                f"2p(1 − p) = {100 * 2 * p * (1 - p):.1f} %.", ""]
    return "\n".join(out)


def compare_csv(rows: Sequence[Paired]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["round", "n", "mean", "ci_low", "ci_high", "mde80", "seeds", "diffs"])
    for p in rows:
        ci, mde = p.interval(), p.detectable()
        w.writerow([p.round, p.n, f"{p.mean:.6f}", *(("", "") if ci is None else (f"{ci[0]:.6f}", f"{ci[1]:.6f}")),
                    "" if mde is None else f"{mde:.6f}", ";".join(p.seeds), ";".join(f"{d:.6f}" for d in p.diffs)])
    return buf.getvalue()


def plot_compare(arm_a: str, arm_b: str, rows: Sequence[Paired], metric: str) -> bytes:
    """compare.png: mean A − B by round with its 95 % interval shaded, each seed's difference as a dot."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.subplots()
    pts = [p for p in rows if p.round != "final"]
    if pts:
        xs = [p.round for p in pts]
        ax.plot(xs, [100 * p.mean for p in pts], marker="o", linewidth=2, color="C0", label="mean difference")
        with_ci = [(p.round, p.interval()) for p in pts if p.interval() is not None]
        if with_ci:
            cx, cis = zip(*with_ci)
            ax.fill_between(cx, [100 * lo for lo, _ in cis], [100 * hi for _, hi in cis], color="C0", alpha=0.2,
                            linewidth=0, label="95% t-interval")
        for p in pts:
            ax.scatter([p.round] * p.n, [100 * d for d in p.diffs], s=12, color="C1", alpha=0.7, zorder=3)
        ax.set_xticks(xs)
        ax.legend(fontsize="small", loc="best")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("round")
    ax.set_ylabel(f"accuracy difference ({metric}), points")
    ax.set_title(f"{arm_a} − {arm_b}, paired by seed")
    ax.grid(alpha=0.3)
    return png_bytes(fig)
