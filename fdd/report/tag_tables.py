"""Per-tag tables over many runs: accuracy per tag value by arm and round, with the feedback pool's
verdicts and the teacher's additions per tag value (summary.json's by_tag fields, fdd/rounds/diagnosis.py).

Accuracy of a tag value in one run is pooled over its evaluation sets (correct ÷ n of that value),
then averaged over seeds; counts are averaged over seeds.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from fdd.report.aggregate import Run, run_points
from fdd.report.summaries import eval_by_tag, md_table, num, rounds_of, tag_key

# (summary key, prefix, counts): the pool's verdicts, the requests sent about parents with the tag, the kept additions
COUNTS = (("pool_by_tag", "pool", ("easy", "hard", "borderline")), ("requests_by_tag", "asked", ("harder", "similar")),
          ("added_by_tag", "added", ("harder", "similar")))
NAMES = [f"{prefix}_{name}" for _, prefix, names in COUNTS for name in names]


@dataclass
class TagCell:
    arm: str
    round: int | str
    tag: str
    value: str
    accuracy: list[float] = field(default_factory=list)
    counts: dict[str, list[float]] = field(default_factory=dict)

    def acc(self) -> tuple[float, float] | None:
        if not self.accuracy:
            return None
        sd = statistics.stdev(self.accuracy) if len(self.accuracy) > 1 else 0.0
        return statistics.fmean(self.accuracy), sd

    def count(self, name: str) -> float | None:
        vs = self.counts.get(name)
        return statistics.fmean(vs) if vs else None


def tag_cells(runs: Sequence[Run]) -> list[TagCell]:
    """One cell per arm × round (and `final`) × tag value that any run reports."""
    cells: dict[tuple, TagCell] = {}

    def cell(run: Run, rnd, tag: str, value: str) -> TagCell:
        return cells.setdefault((run.arm, rnd, tag, value), TagCell(run.arm, rnd, tag, value))

    for run in runs:
        entries = {int(num(r.get("round"))) if num(r.get("round")) is not None else i: r
                   for i, r in enumerate(rounds_of(run.summary))}
        for rnd, evals in run_points(run):
            for tag, values in eval_by_tag(evals).items():
                for value, (correct, n) in values.items():
                    cell(run, rnd, tag, value).accuracy.append(correct / n)
            entry = entries.get(rnd) if rnd != "final" else None
            for key, prefix, names in COUNTS:
                block = entry.get(key) if entry else None
                for tag, values in (block or {}).items() if isinstance(block, dict) else ():
                    for value, counts in (values or {}).items():
                        c = cell(run, rnd, str(tag), str(value))
                        for name in names:
                            if (v := num((counts or {}).get(name))) is not None:
                                c.counts.setdefault(f"{prefix}_{name}", []).append(v)

    def order(c: TagCell) -> tuple:
        return (c.arm, c.round == "final", c.round if c.round != "final" else 0, c.tag, tag_key(c.value))

    return sorted(cells.values(), key=order)


def _acc_text(c: TagCell | None) -> str:
    a = c.acc() if c is not None else None
    return "-" if a is None else f"{100 * a[0]:.1f} ± {100 * a[1]:.1f}"


def _counts_text(c: TagCell | None, names: Sequence[str]) -> str:
    got = [c.count(n) if c is not None else None for n in names]
    while got and got[-1] is None:  # borderline only where pass-rate verdicts made some
        got.pop()
    if not got:
        return ""
    return "/".join("-" if g is None else f"{g:g}" for g in got)


def render_tag_tables(cells: Sequence[TagCell], arms: Sequence[str]) -> str:
    """Markdown: final accuracy per tag value across arms, then per arm the accuracy by round with
    the pool's easy/hard(/borderline) counts; "" when no run has tags."""
    if not cells:
        return ""
    by = {(c.arm, c.round, c.tag, c.value): c for c in cells}
    keys = sorted({(c.tag, c.value) for c in cells}, key=lambda k: (k[0], tag_key(k[1])))
    out = ["## By tag", "", "Accuracy in % pooled over evaluation sets, mean ± std over seeds; "
           "`e/h` = the feedback pool's easy/hard(/borderline) counts, `asked` = harder/similar requests about "
           "parents with the tag, `kept` = harder/similar additions, means over seeds.", ""]
    finals = [[f"{t}={v}", *[_acc_text(by.get((a, "final", t, v))) for a in arms]] for t, v in keys]
    if any(cell != "-" for row in finals for cell in row[1:]):
        out += ["### Final accuracy by tag", "", md_table(["tag", *[f"`{a}`" for a in arms]], finals), ""]
    for arm in arms:
        rounds = sorted({c.round for c in cells if c.arm == arm and c.round != "final"})
        if not rounds:
            continue
        rows = []
        for t, v in keys:
            row = [f"{t}={v}"]
            for r in rounds:
                c = by.get((arm, r, t, v))
                links = [(label, _counts_text(c, [f"{prefix}_{n}" for n in names]))
                         for label, (_, prefix, names) in zip(("e/h", "asked", "kept"), COUNTS)]
                extra = "; ".join(f"{label} {text}" for label, text in links if text)
                row.append(_acc_text(c) + (f" ({extra})" if extra else ""))
            rows.append(row)
        out += [f"### `{arm}` by round", "", md_table(["tag", *[f"round {r}" for r in rounds]], rows), ""]
    return "\n".join(out)


def tag_csv(cells: Sequence[TagCell]) -> str:
    """report_by_tag.csv: one row per arm × round × tag value."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["arm", "round", "tag", "value", "accuracy_mean", "accuracy_std", "n_seeds", *[f"{n}_mean" for n in NAMES]])
    for c in cells:
        a = c.acc()
        w.writerow([c.arm, c.round, c.tag, c.value, *(("", "") if a is None else (f"{a[0]:.6f}", f"{a[1]:.6f}")),
                    len(c.accuracy), *["" if c.count(n) is None else f"{c.count(n):g}" for n in NAMES]])
    return buf.getvalue()


def final_by_tag(cells: Sequence[TagCell]) -> dict[str, dict[tuple[str, str], list[float]]]:
    """{arm: {(tag, value): [final accuracy per seed]}}."""
    out: dict[str, dict[tuple[str, str], list[float]]] = {}
    for c in cells:
        if c.round == "final" and c.accuracy:
            out.setdefault(c.arm, {})[(c.tag, c.value)] = list(c.accuracy)
    return out
