"""`python -m fdd.sandbox FILE.jsonl`: run {"id", "program"} lines, print {"id", "answer", "error"} lines.

`python -m fdd.execution` is the same command under its older name. Bad input: one line on
stderr, exit 2.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence

from fdd.sandbox.pool import Executor


def _json_number(x: float | None) -> float | str | None:
    if x is None or math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def main(argv: Sequence[str] | None = None, prog: str = "python -m fdd.sandbox") -> int:
    """Read {"id", "program"} lines, print {"id", "answer", "error"} lines in the same order."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=main.__doc__)
    parser.add_argument("file", help="JSONL file, one {\"id\", \"program\"} object per line ('-' = stdin)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per program (default 2)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: CPUs)")
    parser.add_argument("--messages", action="store_true", help="also print each error's message")
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error("--timeout must be positive")
    ids: list[object] = []
    programs: list[str] = []
    try:
        stream = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    except OSError as e:
        print(f"error: cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return 2
    with stream:
        for lineno, raw in enumerate(stream, 1):
            try:
                line = raw.decode("utf-8")
                record, why = json.loads(line) if line.strip() else {}, ""
            except UnicodeDecodeError:
                record, why = None, "not valid UTF-8"
            except json.JSONDecodeError as e:
                record, why = None, f"invalid JSON ({e.msg})"
            if record == {} and not raw.strip():
                continue  # blank line
            if not (isinstance(record, dict) and "id" in record and isinstance(record.get("program"), str)):
                why = why or 'expected an object with "id" and a string "program"'
                print(f"error: {args.file}:{lineno}: {why}", file=sys.stderr)
                return 2
            ids.append(record["id"])
            programs.append(record["program"])
    with Executor(workers=args.workers, timeout=args.timeout) as executor:
        outcomes = executor.run(programs)
    try:
        for id_, o in zip(ids, outcomes):
            row: dict[str, object] = {"id": id_, "answer": _json_number(o.answer), "error": o.error}
            if args.messages:
                row["message"] = o.message
            print(json.dumps(row, allow_nan=False))
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0



if __name__ == "__main__":
    sys.exit(main())
