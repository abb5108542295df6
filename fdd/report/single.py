"""The end-of-run report of one run: the console table, report.md and accuracy.png.

Reads only summary.json (DESIGN §4) and the run's `.hydra/hydra.yaml`, so it can be rebuilt for a
finished run on any machine. matplotlib and rich are imported lazily: a run pays for them only here.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fdd.report.summaries import (
    abbrev,
    accuracies,
    atomic_write,
    eval_by_tag,
    eval_names,
    fmt_int,
    md_table,
    mean,
    num,
    pct,
    png_bytes,
    read_yaml,
    rounds_of,
    secs,
    sizes,
    tag_key,
)

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
    names = eval_names(summary)
    short, note = abbrev(names)
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

    rounds = rounds_of(summary)
    for i, r in enumerate(rounds):
        accs = accuracies(r.get("eval"))
        counts = [fmt_int(r.get(k), sep="") for k in ("train_size", "easy", "hard", "added", "rejected")]
        cells = [str(r.get("round", i)), *counts]
        cells += [pct(accs.get(n)) for n in names] + [pct(mean(accs.values())), secs(r.get("seconds"))]
        table.add_row(*cells, end_section=i == len(rounds) - 1)
    final = accuracies((summary.get("final") or {}).get("eval"))
    if final:
        table.add_row("final", *[""] * 5, *[pct(final.get(n)) for n in names], pct(mean(final.values())), "")

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

    fb = config.get("feedback") if isinstance(config.get("feedback"), Mapping) else {}
    verdict = fb.get("verdict")
    if verdict == "pass_rate":
        verdict = f"pass_rate over {fb.get('samples')} samples"
    items = [
        ("teacher", group("teacher")),
        ("student", group("student")),
        ("dataset", group("dataset")),
        ("feedback arm", group("feedback")),
        ("verdict", verdict),
        ("rounds", config.get("rounds")),
        ("steps per round", config.get("steps_per_round")),
        ("seed", config.get("seed")),
    ]
    return [f"- **{k}**: `{v}`" for k, v in items if v is not None]


def _round_rows(summary: Mapping, names: Sequence[str]) -> list[list[str]]:
    rows = []
    for i, r in enumerate(rounds_of(summary)):
        accs = accuracies(r.get("eval"))
        rows.append(
            [str(r.get("round", i))]
            + [fmt_int(r.get(k)) for k in ("train_size", "easy", "hard", "added", "rejected")]
            + [pct(accs.get(n)) for n in names]
            + [pct(mean(accs.values())), secs(r.get("seconds"))]
        )
    return rows


def _by_tag_sections(summary: Mapping) -> list[str]:
    """Accuracy per tag value by round (pooled over evaluation sets), then the feedback pool's
    verdicts and the teacher's verified additions per tag value by round."""
    rounds = rounds_of(summary)
    labels = [str(r.get("round", i)) for i, r in enumerate(rounds)]
    out: list[str] = []
    for name in eval_names(summary):
        per_round = []
        for r in rounds:
            res = (r.get("eval") or {}).get(name)
            per_round.append(res.get("by_tag") if isinstance(res, Mapping) else None)
        tags = list(dict.fromkeys(t for bt in per_round if isinstance(bt, Mapping) for t in bt))
        for tag in tags:
            values = sorted({v for bt in per_round if isinstance(bt, Mapping) for v in bt.get(tag) or {}}, key=tag_key)
            rows = []
            for v in values:
                cells, n = [], None
                for bt in per_round:
                    cell = ((bt or {}).get(tag) or {}).get(v) or {}
                    cells.append(pct(num(cell.get("accuracy"))))
                    n = num(cell.get("n")) or n
                rows.append([f"{tag}={v}", fmt_int(n), *cells])
            out += [f"### {name} by {tag}", "", md_table([tag, "n", *[f"round {k}" for k in labels]], rows), ""]
    pool_rows, requests_rows, added_rows = [], [], []
    for key, rows, fields in (("pool_by_tag", pool_rows, ("easy", "hard", "borderline")),
                              ("requests_by_tag", requests_rows, ("harder", "similar")),
                              ("added_by_tag", added_rows, ("harder", "similar"))):
        blocks = [r.get(key) if isinstance(r.get(key), Mapping) else {} for r in rounds]
        tags = list(dict.fromkeys(t for b in blocks for t in b))
        for tag in tags:
            values = sorted({v for b in blocks for v in b.get(tag) or {}}, key=tag_key)
            for v in values:
                cells = []
                for b in blocks:
                    c = ((b.get(tag) or {}).get(v)) or {}
                    cells.append("/".join(fmt_int(c.get(f), sep="") for f in fields if f in c or f != "borderline")
                                 if c else "-")
                rows.append([f"{tag}={v}", *cells])
    heads = [f"round {k}" for k in labels]
    if pool_rows:
        out += ["### Feedback pool by tag", "", "easy/hard (/borderline with `feedback.verdict=pass_rate`) "
                "per round.", "", md_table(["tag", *heads], pool_rows), ""]
    if requests_rows:
        out += ["### Requests by the parent's tag", "", "harder/similar requests sent per round, counted by the "
                "tags of the problem each was about.", "", md_table(["tag", *heads], requests_rows), ""]
    if added_rows:
        out += ["### Verified additions by tag", "", "harder/similar per round; an added problem carries its "
                "parent's tags unless the teacher set its own.", "", md_table(["tag", *heads], added_rows), ""]
    out += _chain_section(rounds, labels)
    return (["## By tag", "", "Accuracy in % per tag value (fdd/rounds/diagnosis.py); a list tag (`step_kinds`) "
             "counts each problem under every value it holds.", "", *out]) if out else []


def _pooled(by_tag: Mapping, tag: str, value: str) -> str:
    c = (by_tag.get(tag) or {}).get(str(value))
    return pct(c[0] / c[1]) if c and c[1] else "-"


def _chain_section(rounds: Sequence[Mapping], labels: Sequence[str]) -> list[str]:
    """The feedback chain per tag value and round, its four links side by side: the pool's share the
    student failed, the requests sent about those parents, the new problems kept, and the accuracy
    (pooled over evaluation sets) of the student that gave the verdicts and of the next round's."""
    out = []
    for i, r in enumerate(rounds[:-1]):
        pool, asked, kept = (r.get(k) if isinstance(r.get(k), Mapping) else {}
                             for k in ("pool_by_tag", "requests_by_tag", "added_by_tag"))
        if not pool:
            continue
        now, after = eval_by_tag(r.get("eval")), eval_by_tag(rounds[i + 1].get("eval"))
        rows = []
        for tag in pool:
            for v in sorted(pool[tag], key=tag_key):
                verdicts = pool[tag][v] or {}
                total = sum(n for n in verdicts.values() if num(n) is not None)
                a, k = (asked.get(tag) or {}).get(v) or {}, (kept.get(tag) or {}).get(v) or {}
                rows.append([f"{tag}={v}", f"{fmt_int(verdicts.get('hard', 0))}/{fmt_int(total)}",
                             f"{fmt_int(a.get('harder', 0))}/{fmt_int(a.get('similar', 0))}",
                             f"{fmt_int(k.get('harder', 0))}/{fmt_int(k.get('similar', 0))}",
                             _pooled(now, tag, v), _pooled(after, tag, v)])
        out += [f"### The feedback chain at round {labels[i]}", "",
                "failed = hard/pool; asked and kept = harder/similar; accuracy of this round's student and of "
                "the next round's.", "",
                md_table(["tag", "failed", "asked", "kept", f"acc r{labels[i]}", f"acc r{labels[i + 1]}"], rows), ""]
    return out


def _diagnosis_section(summary: Mapping) -> list[str]:
    """Where the student goes wrong on the feedback pool, per round (summary.json `diagnosis`,
    fdd/rounds/diagnosis.py): failures by type, and the first wrong step by position and by kind."""
    rows, kinds, positions = [], {}, {}
    for i, r in enumerate(rounds_of(summary)):
        d = r.get("diagnosis")
        if not isinstance(d, Mapping) or not d.get("failures"):
            continue
        n, failure = d["failures"], d.get("failure") or {}
        rows.append([str(r.get("round", i)), fmt_int(n),
                     *(pct(failure.get(f, 0) / n) for f in ("syntax", "runtime", "wrong_value"))])
        kinds[str(r.get("round", i))] = d.get("first_wrong_kind") or {}
        positions[str(r.get("round", i))] = d.get("first_wrong_position") or {}
    if not rows:
        return []

    def by(counts: dict[str, dict], name: str) -> list[str]:
        values = sorted({v for c in counts.values() for v in c}, key=tag_key)
        table = [[v, *(fmt_int(counts[k].get(v, 0)) for k in counts)] for v in values]
        return [md_table([name, *[f"round {k}" for k in counts]], table), ""]

    return ["## Where the student goes wrong", "",
            "Failed feedback-pool problems (PoT), by type in % of failures: the program does not parse "
            "(syntax), stops without a number (runtime) or runs to a wrong value.", "",
            md_table(["round", "failures", "syntax %", "runtime %", "wrong value %"], rows), "",
            "First reference step the student never computed, by position (`none`: it computed every step, "
            "or its program showed no value) and by kind (fdd/rounds/diagnosis.py):", "",
            *by(positions, "position"), *by(kinds, "kind")]


def render_run_markdown(summary: Mapping, config: Mapping | None = None, choices: Mapping | None = None) -> str:
    """report.md's text; split out so it can be tested and printed without touching disk.
    `choices` are Hydra's group choices (`student: t5_tiny`), the most readable names for a config."""
    cfg = _to_container(config)
    names = eval_names(summary)
    out = ["# fdd run report", "", f"**Status:** {summary.get('status', 'unknown')}", ""]
    if cfg and (lines := _config_lines(cfg, choices or {})):
        out += ["## Configuration", "", *lines, ""]

    out += ["## Rounds", "", "Accuracy in % per evaluation set; `mean` is the unweighted mean over sets.", ""]
    headers = ["round", "train size", "easy", "hard", "added", "rejected", *names, "mean", "seconds"]
    out += [md_table(headers, _round_rows(summary, names)), ""]

    final_eval = (summary.get("final") or {}).get("eval")
    accs, ns = accuracies(final_eval), sizes(final_eval)
    out += ["## Final evaluation", ""]
    if accs:
        rows = [[n, pct(a), fmt_int(ns.get(n))] for n, a in accs.items()]
        rows.append(["**mean**", f"**{pct(mean(accs.values()))}**", fmt_int(sum(ns.values()) or None)])
        out += [md_table(["benchmark", "accuracy %", "n"], rows), ""]
    else:
        out += ["No final evaluation recorded.", ""]
    out += _by_tag_sections(summary)
    out += _diagnosis_section(summary)

    usage_keys = ("requests", "cached", "prompt_tokens", "completion_tokens")
    usage_rows, totals = [], dict.fromkeys(usage_keys, 0.0)
    for i, r in enumerate(rounds_of(summary)):
        t = r.get("teacher") if isinstance(r.get("teacher"), Mapping) else {}
        usage_rows.append([str(r.get("round", i))] + [fmt_int(t.get(k)) for k in usage_keys])
        for k in usage_keys:
            totals[k] += num(t.get(k)) or 0.0
    out += ["## Teacher usage", ""]
    if usage_rows:
        usage_rows.append(["**total**"] + [f"**{fmt_int(totals[k])}**" for k in usage_keys])
        out += [md_table(["round", "requests", "cached", "prompt tokens", "completion tokens"], usage_rows), ""]
    else:
        out += ["No rounds recorded.", ""]
    out += ["## Accuracy by round", "", "![accuracy by round](accuracy.png)", ""]
    return "\n".join(out)


def plot_run_accuracy(summary: Mapping) -> bytes:
    """accuracy.png: one thin line per evaluation set, the mean bold on top, y fixed to [0, 1]."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot global state, no display needed

    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    rounds = rounds_of(summary)
    xs = [int(num(r.get("round")) if num(r.get("round")) is not None else i) for i, r in enumerate(rounds)]
    per_round = [accuracies(r.get("eval")) for r in rounds]
    for name in eval_names(summary):
        pts = [(x, a[name]) for x, a in zip(xs, per_round) if name in a]
        if pts:
            ax.plot(*zip(*pts), marker="o", markersize=3, linewidth=1.2, alpha=0.8, label=name)
    means = [(x, mean(a.values())) for x, a in zip(xs, per_round) if a]
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
    return png_bytes(fig)


def write_run_report(run_dir: str | Path, summary: Mapping, config: Mapping | None = None) -> None:
    """Write report.md and accuracy.png into the run dir (DIRECTORY contract, DESIGN §4), atomically."""
    run_dir = Path(run_dir)
    try:
        choices = read_yaml(run_dir / ".hydra" / "hydra.yaml")["hydra"]["runtime"]["choices"]
    except (TypeError, KeyError):
        choices = None
    choices = choices if isinstance(choices, Mapping) else {}
    atomic_write(run_dir / "report.md", render_run_markdown(summary, config, choices).encode())
    atomic_write(run_dir / "accuracy.png", plot_run_accuracy(summary))
