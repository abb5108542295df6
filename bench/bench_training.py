"""Training throughput of the Lightning student vs. a bare PyTorch loop, same model, same batches.

    python bench/bench_training.py [--problems 800] [--repeats 11] [--threads 1]

The model is fdd.student.models.scratch_t5 with the values of conf/student/t5_tiny.yaml (tokenizer trained
on the synthetic round-0 set, as a run does); batches are collated once by Student.collate
(batch_size from conf/config.yaml) and fed to both arms unchanged, so the only difference is the
training loop:

- bare: AdamW + the same LambdaLR warm-up, forward, backward, clip_grad_norm_(1.0), step, zero_grad;
- lightning: Trainer.fit on fdd.student.training.Student (its training_step, seen-ids and stats bookkeeping,
  self.log of the loss) with conf/trainer/cpu.yaml's settings, progress bar and logger off.

Both start every repeat from the same initial weights, after one untimed warm-up of each arm. The machine may be shared, so both arms run
with `--threads` torch threads and alternate within each repeat (bare, lightning, then lightning,
bare, ...), so load from other processes hits both alike. Reported: examples/s per arm (median of
repeats) by wall-clock and by this process's CPU time (with one thread, CPU time is the work done
and barely moves with other jobs' load), for the whole loop (the whole fit() call) and the steady
state after the first step; and the ratio lightning / bare, as the median over repeats of the
ratio within each repeat (both arms ran back to back, so slow swings in load largely cancel).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lightning.pytorch as pl  # noqa: E402
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from fdd import verify  # noqa: E402
from fdd.datasets import load  # noqa: E402
from fdd.rationales import get_format  # noqa: E402
from fdd.student.models import scratch_t5  # noqa: E402
from fdd.student.training import Student  # noqa: E402
from fdd.teachers.symbolic import SymbolicTeacher  # noqa: E402


def make_batches(n: int, batch_size: int):
    """(initial model state, tokenizer, student config, collated batches) for n synthetic problems."""
    fmt = get_format("pot")
    problems = load("synthetic", n=n, seed=0, min_steps=1, max_steps=3).problems
    kept = verify.annotate(problems, SymbolicTeacher(error_rate=0.0).annotate(problems), fmt).kept
    scfg = OmegaConf.load(ROOT / "conf" / "student" / "t5_tiny.yaml")
    model_kw = {k: v for k, v in OmegaConf.to_container(scfg.model).items() if k not in ("_target_", "seed")}
    corpus = [t for p in kept for t in (p.question, fmt.render(p))]
    model, tokenizer = scratch_t5(corpus, **model_kw, seed=0)
    student = Student(model, tokenizer, lr=scfg.lr, warmup_steps=scfg.warmup_steps)
    items = [{"id": p.id, "question": p.question, "target": fmt.render(p)} for p in kept]
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(items), generator=gen).tolist()
    batches = [student.collate([items[i] for i in order[s:s + batch_size]]) for s in range(0, len(order), batch_size)]
    return copy.deepcopy(model.state_dict()), model, tokenizer, scfg, batches


def bare(model, state, scfg, batches, clip: float) -> dict[str, float]:
    """Seconds of a plain PyTorch loop: wall and CPU, whole loop and steady (after the first step)."""
    model.load_state_dict(state)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=scfg.lr, weight_decay=scfg.weight_decay)
    warm = max(1, scfg.warmup_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm))
    t0, c0 = time.perf_counter(), time.process_time()
    t1 = c1 = None
    for i, b in enumerate(batches):
        loss = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if i == 0:
            t1, c1 = time.perf_counter(), time.process_time()
    t2, c2 = time.perf_counter(), time.process_time()
    return {"wall": t2 - t0, "wall_steady": t2 - t1, "cpu": c2 - c0, "cpu_steady": c2 - c1}


class _Clock(pl.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == 0:
            self.t1, self.c1 = time.perf_counter(), time.process_time()

    def on_train_epoch_end(self, trainer, pl_module):
        self.t2, self.c2 = time.perf_counter(), time.process_time()


def lightning(model, tokenizer, state, scfg, tcfg, batches) -> dict[str, float]:
    """Seconds of Trainer.fit on the Student: wall and CPU, the whole fit() call and steady."""
    model.load_state_dict(state)
    student = Student(model, tokenizer, lr=scfg.lr, weight_decay=scfg.weight_decay, warmup_steps=scfg.warmup_steps)
    clock = _Clock()
    trainer = pl.Trainer(accelerator="cpu", devices=1, precision=tcfg.precision, max_epochs=1,
                         gradient_clip_val=tcfg.gradient_clip_val, log_every_n_steps=tcfg.log_every_n_steps,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[clock], num_sanity_val_steps=0)
    loader = DataLoader(batches, batch_size=None, shuffle=False)  # the pre-collated batches, as they are
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.fit(student, train_dataloaders=loader)
    t3, c3 = time.perf_counter(), time.process_time()
    return {"wall": t3 - t0, "wall_steady": clock.t2 - clock.t1, "cpu": c3 - c0, "cpu_steady": clock.c2 - clock.c1}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=800)
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--threads", type=int, default=1, help="torch threads in both arms")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    batch_size = OmegaConf.load(ROOT / "conf" / "config.yaml").batch_size
    tcfg = OmegaConf.load(ROOT / "conf" / "trainer" / "cpu.yaml")
    state, model, tokenizer, scfg, batches = make_batches(args.problems, batch_size)
    n = sum(len(b["ids"]) for b in batches)
    params = sum(p.numel() for p in model.parameters())
    print(f"t5_tiny: {params / 1e6:.2f}M parameters; {len(batches)} batches of {batch_size} ({n} examples); "
          f"torch threads {torch.get_num_threads()}; {args.repeats} repeats, arms alternating")
    bare(model, state, scfg, batches[:5], tcfg.gradient_clip_val)  # untimed warm-up: lazy imports, allocator
    lightning(model, tokenizer, state, scfg, tcfg, batches[:5])
    runs = {"bare": [], "lightning": []}
    for r in range(args.repeats):
        arms = ["bare", "lightning"] if r % 2 == 0 else ["lightning", "bare"]
        for arm in arms:
            if arm == "bare":
                runs[arm].append(bare(model, state, scfg, batches, tcfg.gradient_clip_val))
            else:
                runs[arm].append(lightning(model, tokenizer, state, scfg, tcfg, batches))
            t = runs[arm][-1]
            print(f"  repeat {r}: {arm:9s} wall {n / t['wall']:6.1f} ex/s, cpu {n / t['cpu']:6.1f} ex/s")
    keys = {"wall": n, "wall_steady": n - batch_size, "cpu": n, "cpu_steady": n - batch_size}
    print(f"\nexamples/s, median of {args.repeats}   " + "  ".join(f"{k:>11s}" for k in keys))
    for arm, ts in runs.items():
        print(f"{arm:28s} " + "  ".join(f"{statistics.median(m / t[k] for t in ts):11.1f}" for k, m in keys.items()))
    # each repeat ran both arms back to back: the ratio within a repeat cancels slow swings in load
    paired = {k: [b[k] / lt[k] for b, lt in zip(runs["bare"], runs["lightning"])] for k in keys}
    print(f"{'lightning / bare, paired':28s} " + "  ".join(f"{statistics.median(v):11.1%}" for v in paired.values()))
    print("(paired: median over repeats of the ratio within a repeat; target >= 95%. cpu: process CPU time,\n"
          " little affected by other jobs' load with 1 thread; wall: elapsed time; steady: after step 1)")


if __name__ == "__main__":
    main()
