"""Reading summary.json defensively and formatting its numbers, for the run and sweep reports.

Every key but the DESIGN §4 contract is optional, and a report must never fail over one missing
or malformed entry, so these readers drop what they cannot use instead of raising.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml


def atomic_write(path: Path, data: bytes) -> None:
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


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None


def num(x: Any) -> float | None:
    """A finite float, or None for anything missing or non-numeric (summary keys are optional)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def rounds_of(summary: Mapping) -> list[dict]:
    return [r for r in (summary.get("rounds") or []) if isinstance(r, Mapping)]


def accuracies(evals: Any) -> dict[str, float]:
    """{benchmark: accuracy} from an `eval` block, dropping malformed entries."""
    out: dict[str, float] = {}
    if isinstance(evals, Mapping):
        for name, res in evals.items():
            acc = num(res.get("accuracy")) if isinstance(res, Mapping) else num(res)
            if acc is not None:
                out[str(name)] = acc
    return out


def sizes(evals: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    if isinstance(evals, Mapping):
        for name, res in evals.items():
            n = num(res.get("n")) if isinstance(res, Mapping) else None
            if n is not None:
                out[str(name)] = int(n)
    return out


def mean(xs: Iterable[float]) -> float | None:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else None


def eval_names(summary: Mapping) -> list[str]:
    """Benchmark names in order of first appearance over rounds, then final."""
    names: dict[str, None] = {}
    for r in rounds_of(summary):
        names.update(dict.fromkeys(accuracies(r.get("eval"))))
    names.update(dict.fromkeys(accuracies((summary.get("final") or {}).get("eval"))))
    return list(names)


def tag_key(value: str) -> tuple:
    """Natural order for tag values: 2 before 10, numbers before words."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def eval_by_tag(evals: Any) -> dict[str, dict[str, list[float]]]:
    """{tag: {value: [correct, n]}} pooled over the evaluation sets of one `eval` block, from each
    set's `by_tag` (fdd/rounds/diagnosis.py); correct counts are rebuilt from accuracy × n."""
    out: dict[str, dict[str, list[float]]] = {}
    if not isinstance(evals, Mapping):
        return out
    for res in evals.values():
        by_tag = res.get("by_tag") if isinstance(res, Mapping) else None
        for tag, values in (by_tag or {}).items():
            for value, cell in (values or {}).items():
                acc, n = (num(cell.get("accuracy")), num(cell.get("n"))) if isinstance(cell, Mapping) else (None, None)
                if acc is None or not n:
                    continue
                slot = out.setdefault(str(tag), {}).setdefault(str(value), [0.0, 0.0])
                slot[0] += acc * n
                slot[1] += n
    return out


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def fmt_int(x: Any, sep: str = ",") -> str:
    v = num(x)
    return "-" if v is None else f"{int(v):,}".replace(",", sep)


def secs(x: Any) -> str:
    v = num(x)
    return "-" if v is None else (f"{v:.1f}" if v < 100 else f"{v:.0f}")


def abbrev(names: Sequence[str], width: int = 8) -> tuple[dict[str, str], str]:
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


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], right_from: int = 1) -> str:
    align = ["---" if i < right_from else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def png_bytes(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()
