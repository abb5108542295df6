"""bench/gpu_check.py, the one-call GPU check, runs end to end on the CPU with tiny students
(`--cpu --tiny`): every row of its table is there with a positive number, so the GPU run, which no
CI machine can do, does not fail on plumbing. About a minute on 2 cores, most of it the two
`python -m fdd.run` subprocesses starting up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"  # GSM8K when there; the check falls back to the synthetic family
SHAPES = ("flan-t5-base", "smollm2-135m")
KEYS = ("run.train_tps", "run.mfu", "run.gen_rate",  # part 1: fdd.run's summary.json
        "gen.plain_base", "gen.fdd_base", "gen.fdd_auto", "gen.plain_big",  # part 2: generation tokens/s
        "train.tps_recipe", "train.mfu_recipe", "train.tps_tokens", "train.mfu_tokens",  # part 3: training
        "train.tps_big", "train.mfu_big")


def test_gpu_check_runs_on_cpu_with_tiny_students(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--cpu", "--tiny", "--out", str(out),
           "--data-dir", str(DATA), "--budget-s", "1200"]  # no measurement skipped for time on a busy CPU
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    rows = {(r["shape"], r["key"]): r for r in results["rows"]}
    assert sorted(rows) == sorted((s, k) for s in SHAPES for k in KEYS)
    for r in rows.values():
        assert r["value"] is not None and r["value"] > 0, r
        if r["unit"] == "mfu":
            assert r["value"] < 1, r
    table = (out / "table.md").read_text()
    printed = proc.stdout[proc.stdout.rindex("| shape | measurement |"):]  # the final table on stdout
    for r in rows.values():
        line = f"| {r['shape']} | {r['label']} |"
        assert line in table and line in printed, line
    assert ("GSM8K" if (DATA / "gsm8k" / "test.jsonl").exists() else "synthetic") in results["texts"]
    for shape in SHAPES:  # the same greedy rows, counted from fdd's decoder input and plain generate's output
        gen = results["part2"][shape]
        new = results["new_tokens"]
        for fdd, plain in (("gen.fdd_base", "gen.plain_base"), ("gen.fdd_auto", "gen.plain_big")):
            assert 0 < gen[plain]["tokens"] <= gen[plain]["questions"] * new
            assert abs(gen[fdd]["tokens"] - gen[plain]["tokens"]) <= 0.05 * gen[plain]["tokens"], (shape, gen)
        assert gen["gen.fdd_auto"]["rows"] > gen["gen.fdd_base"]["rows"]  # auto: wider than the fixed batch
        assert results["part1"][shape]["rounds"][-1]["training"]["optimizer_steps"] > 0
