"""Does a FLAN-T5-like student learn? A tiny T5 whose tokenizer is built like FLAN-T5's (Unigram,
Metaspace, no newlines/indentation, no `{` `}` `<`: tests/tokenizer_standins.py) next to `t5_tiny`,
same size, same seed, on the embedded default.

    python bench/bench_flan_t5_like.py --out /tmp/flan_like [--rounds 2] [--seed 0] [OVERRIDES ...]

Runs (in parallel, under `nice`): `t5_tiny`; `student=seq2seq student.name_or_path=DIR` with the
seq2seq preset's own optimizer (Adafactor 1e-3, constant after warm-up: the T5 recipe); and the same
student with AdamW 3e-4 decayed linearly per round (the preset's earlier recipe), which separates
the tokenizer from the recipe.
Prints per-round mean synthetic accuracy, the tokenizer report and the share of runnable programs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZE = dict(d_model=128, d_ff=512, layers=2, heads=4, d_kv=32)  # conf/student/t5_tiny.yaml


def build(out: Path, vocab_size: int) -> Path:
    from tests.tokenizer_standins import save_model

    if not (out / "config.json").exists():
        save_model("t5", out, vocab_size=vocab_size, **SIZE)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vocab", type=int, default=800, help="stand-in Unigram vocabulary (t5_tiny: 800)")
    ap.add_argument("overrides", nargs="*", help="more Hydra overrides for every arm, e.g. dataset.n=500")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    student = build(args.out / "flan_t5_like_student", args.vocab)
    common = [f"rounds={args.rounds}", f"seed={args.seed}", "trainer.enable_progress_bar=false", "logger=none",
              *args.overrides]
    arms = {"t5_tiny": [],
            "flan_t5_like": ["student=seq2seq", f"student.name_or_path={student}"],
            "flan_t5_like_adamw_linear": ["student=seq2seq", f"student.name_or_path={student}",
                                          "student.optimizer=adamw", "student.lr=3e-4", "student.scheduler=linear"]}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs, start = {}, time.time()
    for name, over in arms.items():
        log = open(args.out / f"{name}.log", "w")
        procs[name] = subprocess.Popen(["nice", "-n", "10", sys.executable, "-m", "fdd.run", *common, *over,
                                        f"hydra.run.dir={args.out / name}"], cwd=ROOT, env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
    for name, p in procs.items():
        p.wait()
        print(f"{name}: exit {p.returncode} after {time.time() - start:.0f} s")
    for name in arms:
        path = args.out / name / "summary.json"
        if not path.exists():
            continue
        s = json.loads(path.read_text())
        means = [sum(e["accuracy"] for e in r["eval"].values()) / len(r["eval"]) for r in s["rounds"]]
        fb = args.out / name / "rounds" / f"round_{args.rounds - 1}" / "feedback.jsonl"  # last with feedback
        runnable = None
        if fb.exists():
            recs = [json.loads(line) for line in fb.read_text().splitlines()]
            runnable = {"ran": round(sum(r["answer"] is not None for r in recs) / max(1, len(recs)), 3),
                        "syntax_errors": round(sum(r["error"] == "syntax" for r in recs) / max(1, len(recs)), 3)}
        print(json.dumps({"arm": name, "mean_accuracy_by_round": [round(m, 3) for m in means],
                          "final": {k: v["accuracy"] for k, v in s["final"]["eval"].items()},
                          "tokenizer": s.get("tokenizer"), "programs_of_last_feedback_pool": runnable}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
