"""The Problem record (DESIGN §4 contract) and its jsonl form."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

ORIGINS = ("seed", "harder", "similar")


@dataclass
class Problem:
    id: str
    question: str
    answer: float | None = None
    rationale: str | None = None
    origin: str = "seed"
    parent_id: str | None = None
    round: int = 0
    source: str = ""
    # Diagnosis labels (kind, steps, a benchmark's own type); reported per tag, never trained on.
    tags: dict[str, str | int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        if not d["tags"]:
            del d["tags"]  # the contract's eight keys; tags only where a dataset has them
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Problem:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write, fsync, rename: a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def dumps_jsonl(records: Iterable[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def write_jsonl(path: str | os.PathLike, records: Iterable[Problem | dict]) -> None:
    atomic_write_text(path, dumps_jsonl(r.to_dict() if isinstance(r, Problem) else r for r in records))


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a jsonl file; a broken line raises ValueError naming the file and line."""
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
    return out


def read_problems(path: str | os.PathLike) -> list[Problem]:
    return [Problem.from_dict(d) for d in read_jsonl(path)]
