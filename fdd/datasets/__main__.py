"""Inspect a problem set: `python -m fdd.datasets [NAME] [options]`.

Without NAME: the registered set names, one per line. With NAME: one JSON object with `count`
(records read), `parsed`, `failed` (list of {id, reason}) and a `sample` record, so a new file or
field mapping can be checked before a run. `--check-gold` converts every solution to a program
with fdd/datasets/gsm8k_gold.py (what `teacher=gold` serves) and reports `gold_ok` / `gold_failed`.
Errors: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from fdd import datasets


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m fdd.datasets", description=__doc__.splitlines()[0])
    p.add_argument("name", nargs="?", help="registered set (omit to list them)")
    p.add_argument("--path", help="read this file instead of looking in --data-dir / the hub")
    p.add_argument("--split", help="train | test | all (sets without an official split ignore it)")
    p.add_argument("--data-dir", default=os.environ.get("FDD_DATA_DIR", "data"),
                   help="folder laid out like shared/data (default: $FDD_DATA_DIR or ./data)")
    p.add_argument("--subset", help="asdiv: all | asdiv_a")
    p.add_argument("--question-field", help="jsonl: field holding the question")
    p.add_argument("--answer-field", help="jsonl: field holding the answer")
    p.add_argument("--body-field", help="jsonl: field prepended to the question")
    p.add_argument("--id-field", help="jsonl: field holding the record id")
    p.add_argument("--rationale-field", help="jsonl: field holding a worked solution")
    p.add_argument("--limit", type=int, help="keep a seeded sample of this many problems")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check-gold", action="store_true",
                   help="convert each GSM8K-style solution to a program and execute it (fdd.datasets.gsm8k_gold)")
    return p


def inspect(args: argparse.Namespace) -> dict:
    """Load the set described by `args` and summarise it (see module docstring)."""
    options = {k: getattr(args, k) for k in ("path", "split", "subset", "question_field", "answer_field",
                                             "body_field", "id_field", "rationale_field")}
    loaded = datasets.load(args.name, limit=args.limit, seed=args.seed, data_dir=args.data_dir, **options)
    out = {
        "name": loaded.name,
        "count": len(loaded.problems) + len(loaded.failed),
        "parsed": len(loaded.problems),
        "failed": loaded.failed,
        "sample": loaded.problems[0].to_dict() if loaded.problems else None,
    }
    if args.check_gold:
        from fdd.datasets.gsm8k_gold import convert

        results = convert(loaded.problems)
        out["gold_ok"] = sum(r.ok for r in results)
        out["gold_failed"] = [{"id": r.id, "reason": r.reason} for r in results if not r.ok]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.name:
        print("\n".join(datasets.names()))
        return 0
    try:
        out = inspect(args)
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"error: {e}".splitlines()[0], file=sys.stderr)
        return 2
    print(json.dumps(out, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
