"""Writing a round's checkpoint: fdd's DirectCheckpointIO (torch.save straight to the file) against
Lightning's TorchCheckpointIO (the whole checkpoint serialised into memory first, then written),
side by side in one run, each write in a fresh process so its peak memory is its own.

The checkpoint is what fdd writes after every round: the student's weights and AdamW's two moments
(12 bytes per parameter), here for a SmolLM2-135M-shaped model built from its config (random
weights; the bytes, not the values, set the cost). Each write is followed by fsync, as
RunStore.save_trained does.

    python bench/bench_checkpoint.py [--repeats 5] [--params 135e6]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WRITERS = ("lightning", "fdd")


def checkpoint(params: float) -> dict:
    """Weights plus AdamW's exp_avg and exp_avg_sq, as Lightning's dump_checkpoint lays them out."""
    import torch

    chunk = 1 << 20
    n = max(1, int(params) // chunk)
    weights = {f"w{i}": torch.randn(chunk) for i in range(n)}
    state = {i: {"step": torch.tensor(1.0), "exp_avg": torch.randn(chunk), "exp_avg_sq": torch.rand(chunk)}
             for i in range(n)}
    return {"state_dict": weights, "optimizer_states": [{"state": state, "param_groups": [{"params": list(range(n))}]}],
            "epoch": 0, "global_step": 1}


def write_once(writer: str, params: float, path: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    from fdd.pipeline import DirectCheckpointIO

    ckpt = checkpoint(params)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    io = DirectCheckpointIO() if writer == "fdd" else TorchCheckpointIO()
    t0 = time.perf_counter()
    io.save_checkpoint(ckpt, path)
    with open(path, "rb") as f:
        os.fsync(f.fileno())
    seconds = time.perf_counter() - t0
    extra = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 2**20  # KiB -> GiB
    return {"seconds": seconds, "extra_peak_gib": extra, "file_gib": os.path.getsize(path) / 2**30}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--params", type=float, default=135e6, help="parameters of the model checkpointed")
    ap.add_argument("--child", choices=WRITERS, help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(write_once(args.child, args.params, args.path)))
        return
    runs: dict[str, list[dict]] = {w: [] for w in WRITERS}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for w in WRITERS if r % 2 == 0 else reversed(WRITERS):  # alternate the order against drift
                path = os.path.join(tmp, f"{w}.ckpt")
                out = subprocess.run([sys.executable, __file__, "--child", w, "--path", path, "--params",
                                      str(args.params)], capture_output=True, text=True, check=True)
                runs[w].append(json.loads(out.stdout.strip().splitlines()[-1]))
                os.remove(path)
    med = {w: {k: statistics.median(x[k] for x in runs[w]) for k in runs[w][0]} for w in WRITERS}
    print(f"checkpoint of {args.params / 1e6:.0f} M parameters + AdamW state: {med['fdd']['file_gib']:.2f} GiB; "
          f"medians of {args.repeats} writes each, alternated")
    print("| writer | seconds | extra peak memory |")
    print("| --- | ---: | ---: |")
    for w, label in (("lightning", "Lightning TorchCheckpointIO (baseline)"), ("fdd", "fdd DirectCheckpointIO")):
        print(f"| {label} | {med[w]['seconds']:.2f} | {med[w]['extra_peak_gib']:.2f} GiB |")
    ratios = sorted(a["seconds"] / b["seconds"] for a, b in zip(runs["lightning"], runs["fdd"]))
    print(f"time, Lightning / fdd: median {statistics.median(ratios):.2f}x (range {ratios[0]:.2f}-{ratios[-1]:.2f})")


if __name__ == "__main__":
    main()
