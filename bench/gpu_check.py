"""One GPU check of the paper's student shapes (issue 27): end-to-end run, generation and training speed.

    python bench/gpu_check.py [--cpu] [--tiny] [--out DIR] [--data-dir DIR] [--budget-s 480] [--compile]
    python bench/gpu_check.py --prepare      # here, once: what the GPU machine lacks, into ignored folders

Shapes, random weights built from configs and saved with save_pretrained into a temp dir, each with a
tokenizer trained offline on the check's own texts (tests/tokenizer_standins.py: T5 Unigram, Llama-style
BPE): FLAN-T5-base (T5Config as google/flan-t5-base) and a SmolLM2-135M-like LlamaConfig. `--tiny`: the
same families at a few hundred thousand parameters. Texts: a GSM8K slice when `--data-dir` (default
$FDD_DATA_DIR, else ../shared/data) has gsm8k/train.jsonl and test.jsonl, else the embedded synthetic
family; the table says which.

1. End to end: per shape one `python -m fdd.run` (subprocess, PYTHONPATH=repo) with trainer=gpu (cpu
   under --cpu), teacher=gold, dataset=gsm8k, the GSM8K test slice of eval=paper, rounds=1, a few steps,
   eval.batch_size=auto, logger=none (synthetic fallback: teacher=symbolic, dataset=synthetic,
   eval=synthetic); from its summary.json the training tokens/s and MFU of the last round and the
   round-0 boundary's generation rate (the stop rule on, as a run has it).
2. Generation at full length (no stop rule, a fixed max_new_tokens; tokens counted as generated, EOS
   ends a row): fdd.student.generation.generate with batch_size="auto" and with batch 64, against plain
   `model.generate` (greedy, causal prompts left-padded, in the given order) at batch 64 and 1024, bf16
   autocast on a GPU as fdd generates.
3. Training: optimizer steps of the Student's own collation and loss at the recipe batch
   (conf/config.yaml batch_size, the student preset's optimizer and lengths) with and without
   student.batch_tokens, and a larger batch with it; bf16 autocast on a GPU; timed from the batch on
   the device to the optimizer step (collation apart, in results.json); tokens/s and MFU by
   fdd/student/throughput.py.

Prints one markdown table (shape x measurement: value, baseline, ratio, goal) and writes it
(table.md), the numbers (results.json) and each fdd.run's log to --out after every measurement, so a
run cut short still leaves what it measured. The parts run in the order 1, 3, 2 (generation, the
longest and least predictable, last) and end by 45 %, 58 % and 100 % of --budget-s; a measurement
that would start past its deadline is skipped and shown so. Under --cpu the numbers are a smoke test
of the plumbing (one thread per process; MFU against a nominal 0.1 TFLOP/s), not a performance claim.

On the GPU machine (no network; no hydra-core/omegaconf/antlr4 there; only the working tree and the
carried ignored folders travel), after `--prepare` here (wheels into .whl/, the GSM8K files into
.gpu_check/data/gsm8k/), the device tool's call is:

    run(command="python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
--target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit; PYTHONUNBUFFERED=1 python3 \
bench/gpu_check.py --data-dir .gpu_check/data --out $OUT 2>&1 | tee $OUT/log.txt",
        carry=[".whl", ".gpu_check"], timeout_s=600)

(one command; bash reads the folded lines as one). The script puts the repository on PYTHONPATH
itself, for its subprocesses too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WHEELS = ("hydra-core", "omegaconf", "antlr4-python3-runtime")  # what fdd.run needs and the GPU image lacks
PREPARED_DATA = ROOT / ".gpu_check" / "data"
CPU_PEAK_TFLOPS = 0.1  # --cpu: a nominal peak, so the MFU plumbing runs; not a claim about any CPU

# The paper's students, as their hub configs give them (random weights here).
SHAPES = {
    "flan-t5-base": {"family": "t5", "student": "seq2seq", "config": dict(
        vocab_size=32128, d_model=768, d_ff=2048, num_layers=12, num_decoder_layers=12, num_heads=12,
        d_kv=64, feed_forward_proj="gated-gelu", tie_word_embeddings=False, dropout_rate=0.1)},
    "smollm2-135m": {"family": "llama", "student": "causal", "config": dict(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
        num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
        tie_word_embeddings=True, rope_theta=100000.0, rms_norm_eps=1e-5)},
}
TINY = {  # the same families at a few hundred thousand parameters; vocab_size follows the tokenizer
    "t5": dict(d_model=64, d_ff=192, num_layers=2, num_decoder_layers=2, num_heads=4, d_kv=16),
    "llama": dict(hidden_size=64, intermediate_size=192, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=1024),
}
PARTS = ("run", "gen", "train")  # row keys' prefixes: parts 1, 2, 3
# Issue 27's goals on one H200; the check shows them next to the values.
GOALS = {("flan-t5-base", "gen.fdd_auto"): 40_000, ("smollm2-135m", "gen.fdd_auto"): 15_000,
         ("flan-t5-base", "run.mfu"): 0.30, ("flan-t5-base", "train.mfu_recipe"): 0.30,
         ("flan-t5-base", "train.mfu_tokens"): 0.30, ("flan-t5-base", "train.mfu_big"): 0.30}


@dataclass(frozen=True)
class Plan:
    """How much each part does; sized so the GPU run fits its budget (about 8 minutes on an H200)."""
    train_problems: int   # gold (or symbolic) targets part 3 cycles over
    run_problems: int     # part 1 dataset.limit
    eval_problems: int    # part 1 eval.limit (GSM8K test)
    run_steps: int        # part 1 steps_per_round
    questions: int        # part 2: fdd auto and plain generate at the big batch
    base_questions: int   # part 2: the batch-64 runs
    base_batch: int
    big_batch: int
    new_tokens: int       # part 2 max_new_tokens (full length: no stop rule)
    big_train_batch: int  # part 3, with batch_tokens
    batch_tokens: int
    train_steps: int      # part 3 timed steps
    warm_steps: int       # part 3 untimed steps before them
    vocab: int            # trained tokenizers


GPU_PLAN = Plan(train_problems=256, run_problems=128, eval_problems=64, run_steps=20, questions=1024,
                base_questions=64, base_batch=64, big_batch=1024, new_tokens=384, big_train_batch=128,
                batch_tokens=16384, train_steps=8, warm_steps=2, vocab=8000)
CPU_PLAN = Plan(train_problems=32, run_problems=32, eval_problems=8, run_steps=2, questions=32,
                base_questions=16, base_batch=8, big_batch=32, new_tokens=384, big_train_batch=32,
                batch_tokens=1024, train_steps=1, warm_steps=1, vocab=600)
TINY_NEW_TOKENS, TINY_TARGET_LEN = 32, 64


# -- results --------------------------------------------------------------------------------------
@dataclass
class Row:
    shape: str
    key: str          # stable name (tests read it)
    label: str
    value: float | None
    unit: str         # "tok/s", "problems/s", "mfu"
    baseline: float | None = None
    note: str = ""    # "skipped: ..." or "failed: ..."


class Results:
    """Rows and facts, written to --out after every measurement."""

    def __init__(self, out: Path, cpu: bool):
        self.out, self.cpu = out, cpu
        self.rows: list[Row] = []
        self.facts: dict = {}
        out.mkdir(parents=True, exist_ok=True)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print("  " + " | ".join(self._cells(row)), flush=True)
        self.save()

    def value(self, shape: str, key: str) -> float | None:
        return next((r.value for r in self.rows if r.shape == shape and r.key == key), None)

    def _cells(self, r: Row) -> list[str]:
        ratio = r.value / r.baseline if r.value and r.baseline else None
        goal = GOALS.get((r.shape, r.key))
        goal_text = "—" if goal is None else f"≥ {_fmt(goal, r.unit)}"
        if goal is not None and not self.cpu and r.value is not None:
            goal_text += " (met)" if r.value >= goal else " (not met)"
        value = r.note if r.value is None else _fmt(r.value, r.unit) + (f" ({r.note})" if r.note else "")
        return [r.shape, r.label, value, _fmt(r.baseline, r.unit) if r.baseline else "—",
                f"{ratio:.2f}×" if ratio else "—", goal_text]

    def table(self) -> str:
        head = ["| shape | measurement | value | baseline | ratio | goal |",
                "| --- | --- | ---: | ---: | ---: | --- |"]
        rows = sorted(self.rows, key=lambda r: PARTS.index(r.key.split(".")[0]))  # parts 1, 2, 3
        return "\n".join(head + ["| " + " | ".join(self._cells(r)) + " |" for r in rows])

    def save(self) -> None:
        facts = {**self.facts, "rows": [asdict(r) for r in self.rows]}
        (self.out / "results.json").write_text(json.dumps(facts, indent=1))
        (self.out / "table.md").write_text(self.header() + "\n\n" + self.table() + "\n")

    def header(self) -> str:
        f = self.facts
        params = ", ".join(f"{k} {v / 1e6:.2f} M parameters" for k, v in f.get("parameters", {}).items())
        lines = [f"GPU check (issue 27): {f.get('device', '?')}; torch {f.get('torch')}, transformers "
                 f"{f.get('transformers')}; texts: {f.get('texts', '?')}; "
                 f"{'tiny' if f.get('tiny') else 'paper'} shapes ({params})"]
        if self.cpu:
            lines.append("CPU smoke run: not a performance claim "
                         f"(MFU against a nominal {CPU_PEAK_TFLOPS:g} TFLOP/s)")
        return "\n".join(lines)


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit == "mfu":
        return f"{100 * v:.1f} %"
    return f"{v:,.1f} {unit}" if v < 100 else f"{v:,.0f} {unit}"


class Clock:
    """Deadlines per part, as shares of the budget."""

    def __init__(self, budget_s: float):
        self.t0, self.budget = time.perf_counter(), budget_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self, share: float) -> float:
        """Seconds until the part ending at `share` of the budget must end."""
        return share * self.budget - self.elapsed()

    def deadline(self, share: float, shapes_left: int) -> float:
        """When the next shape's share of the part ending at `share` is up (seconds from the start)."""
        return self.elapsed() + self.left(share) / shapes_left


# -- inputs ---------------------------------------------------------------------------------------
@dataclass
class Texts:
    source: str                 # "GSM8K (DIR)" or "synthetic ..."
    data_dir: Path | None       # None: the synthetic family
    train: list[dict]           # {"id", "question", "target"} with verified gold/symbolic rationales
    test: list[str]             # questions for generation


def load_texts(data_dir: Path, plan: Plan) -> Texts:
    """A GSM8K slice with gold programs when data_dir has GSM8K, else the synthetic family."""
    from fdd.datasets import load
    from fdd.rationales import get_format

    fmt = get_format("pot")
    if all((data_dir / "gsm8k" / f).is_file() for f in ("train.jsonl", "test.jsonl")):
        from fdd.teachers.gold import GoldTeacher

        train = load("gsm8k", split="train", data_dir=str(data_dir), limit=plan.train_problems).problems
        test = load("gsm8k", split="test", data_dir=str(data_dir)).problems
        teacher, source, where = GoldTeacher(), f"GSM8K ({data_dir})", data_dir
    else:
        from fdd.teachers.symbolic import SymbolicTeacher

        train = load("synthetic", n=plan.train_problems, seed=0, min_steps=1, max_steps=3).problems
        test = load("synthetic", split="test", n=plan.questions, seed=1, steps=3).problems
        teacher, source, where = SymbolicTeacher(error_rate=0.0), "synthetic (no GSM8K in --data-dir)", None
    rows = []
    for p, ts in zip(train, teacher.annotate(train)):
        if ts:
            p.rationale = ts[0]
            rows.append({"id": p.id, "question": p.question, "target": fmt.render(p)})
    questions = [p.question for p in test]
    questions = (questions * math.ceil(plan.questions / max(1, len(questions))))[:plan.questions]
    return Texts(source, where, rows, questions)


def build_student(shape: str, tiny: bool, texts: Texts, vocab: int, out: Path, device) -> int:
    """Save a random-weight student of `shape` and its trained tokenizer in `out`; its parameter count.
    Built on `device`: initialising 250 M parameters takes a CPU several seconds."""
    import torch

    from tests.tokenizer_standins import build_tokenizer, save_tokenizer

    spec = SHAPES[shape]
    family = spec["family"]
    corpus = [t for r in texts.train for t in (r["question"], r["target"])] + texts.test[:1000]
    tok = build_tokenizer(family, corpus, vocab)
    config = dict(spec["config"])
    if tiny:  # spare rows, as FLAN-T5 has: fdd's round-0 repair and a causal <pad> then need no resize
        config.update(TINY[family], vocab_size=len(tok) + 64 + (-len(tok)) % 64)
    torch.manual_seed(0)
    with torch.device(device):
        model = build_model(family, config, tok)
    model.save_pretrained(out)
    save_tokenizer(family, tok, out)
    return sum(p.numel() for p in model.parameters())


def build_model(family: str, config: dict, tok):
    """A FLAN-T5 (T5 1.1: gated-gelu, untied head) or Llama model from `config`, random weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

    if family == "llama":
        return LlamaForCausalLM(LlamaConfig(**config, bos_token_id=tok.bos_token_id,
                                            eos_token_id=tok.eos_token_id))
    model = T5ForConditionalGeneration(T5Config(**config, pad_token_id=0, eos_token_id=1,
                                                decoder_start_token_id=0))
    if model.lm_head.weight is model.shared.weight:  # transformers 5.2x ties T5's head whatever the config
        model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.shared.weight))  # T5 1.1's init
    return model


def recipe(student: str) -> dict:
    """The student preset's training keys (conf/student/*.yaml) and the run's batch_size."""
    import yaml

    keys = ("optimizer", "lr", "weight_decay", "scheduler", "warmup_steps", "max_source_len",
            "max_target_len")
    conf = ROOT / "conf"
    cfg = yaml.safe_load((conf / "student" / "seq2seq.yaml").read_text())
    if student != "seq2seq":
        cfg.update(yaml.safe_load((conf / "student" / f"{student}.yaml").read_text()))
    out = {k: _number(cfg[k]) for k in keys}
    out["batch_size"] = int(yaml.safe_load((conf / "config.yaml").read_text())["batch_size"])
    return out


def _number(v):
    """YAML 1.1 reads `1e-3` as a string (OmegaConf, which fdd.run uses, reads a float)."""
    if isinstance(v, str):
        with contextlib.suppress(ValueError):
            return float(v)
    return v


# -- part 1: end to end ---------------------------------------------------------------------------
PART1_ROWS = (("run.train_tps", "fdd.run: training tok/s", "tok/s"),
              ("run.mfu", "fdd.run: training MFU", "mfu"),
              ("run.gen_rate", "fdd.run: boundary generation", "problems/s"))


def run_fdd(shape: str, model_dir: Path, texts: Texts, plan: Plan, args, run_dir: Path, timeout: float,
            results: Results) -> None:
    """One `python -m fdd.run`: round 0's training and boundary, round 1's training and boundary."""
    student = SHAPES[shape]["student"]
    cmd = [sys.executable, "-m", "fdd.run", f"student={student}", f"student.name_or_path={model_dir}",
           "rounds=1", f"steps_per_round={plan.run_steps}", f"trainer={'cpu' if args.cpu else 'gpu'}",
           "eval.batch_size=auto", "logger=none", "trainer.enable_progress_bar=false", "seed=0",
           f"hydra.run.dir={run_dir}"]
    if texts.data_dir is not None:
        cmd += ["teacher=gold", "dataset=gsm8k", f"dataset.limit={plan.run_problems}", "eval=paper",
                "~eval.sets.asdiv", "~eval.sets.svamp", "~eval.sets.multiarith",
                f"eval.limit={plan.eval_problems}", f"paths.data_dir={texts.data_dir}"]
    else:
        cmd += ["teacher=symbolic", "teacher.error_rate=0.0", "dataset=synthetic",
                f"dataset.n={plan.run_problems}", "eval=synthetic",
                *[f"~eval.sets.synthetic_{k}" for k in (1, 2, 4, 5, 6)], f"eval.limit={plan.eval_problems}"]
    if args.tiny:
        cmd += [f"student.max_target_len={TINY_TARGET_LEN}", f"eval.max_new_tokens={TINY_TARGET_LEN}"]
    if peak := peak_tflops(args):
        cmd.append(f"peak_tflops={peak}")
    cmd += args.override
    log = results.out / f"part1_{shape}.log"
    t0 = time.perf_counter()
    with open(log, "w") as f:  # its own process group: a timeout also ends its sandbox workers
        proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=max(1.0, timeout))
            failed = f"exit {code}" if code else ""
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            failed = f"timed out after {timeout:.0f} s"
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    results.facts.setdefault("part1", {})[shape] = {
        "command": cmd, "seconds": round(time.perf_counter() - t0, 1), "failed": failed,
        "rounds": summary.get("rounds", [])}
    if failed or summary.get("status") != "complete":
        print(f"fdd.run for {shape} failed ({failed or summary.get('status')}):\n{log.read_text()[-3000:]}",
              file=sys.stderr)
        for key, label, unit in PART1_ROWS:
            results.add(Row(shape, key, label, None, unit, note=f"failed: {failed or 'incomplete'}"))
        return
    last, gen = summary["rounds"][-1], summary["rounds"][0].get("generation", {})
    training, k = last.get("training", {}), last["round"]
    results.add(Row(shape, "run.train_tps", f"fdd.run: training tok/s (round {k})",
                    training.get("tokens_per_s"), "tok/s"))
    results.add(Row(shape, "run.mfu", f"fdd.run: training MFU (round {k})", training.get("mfu"), "mfu"))
    rate = gen["problems"] / gen["seconds"] if gen.get("seconds") else None
    results.add(Row(shape, "run.gen_rate", f"fdd.run: boundary generation (round 0: {gen.get('problems')} "
                    f"problems in {gen.get('seconds')} s, eval.batch_size=auto, stop rule on)", rate,
                    "problems/s"))


def child_env() -> dict:
    """The repository first on PYTHONPATH (kept: the GPU machine's wheels are there too), offline."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def peak_tflops(args) -> float | None:
    return args.peak_tflops or (CPU_PEAK_TFLOPS if args.cpu else None)


# -- shared by parts 2 and 3 ----------------------------------------------------------------------
def load_student(shape: str, model_dir: Path, device):
    """The saved student loaded as fdd.run loads it (the student factory: pad token, prompt)."""
    from fdd.student.models import causal, seq2seq

    factory = seq2seq if SHAPES[shape]["student"] == "seq2seq" else causal
    model, tok = factory([], name_or_path=str(model_dir))
    return model.to(device).eval(), tok


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()


def autocast(device):
    """bfloat16 autocast on a GPU, as fdd generates (fdd/student/generation.py) and trains (trainer=gpu)."""
    import torch

    return torch.autocast("cuda", torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


def failure(e: BaseException) -> str:
    return f"failed: {type(e).__name__}: {str(e)[:120]}"


# -- part 2: generation ---------------------------------------------------------------------------
def prompts(model, tok, questions: list[str], max_source_len: int) -> list[list[int]]:
    """The token ids fdd generates from (its causal prompt template; the question for T5)."""
    from fdd.student.context import context_length
    from fdd.student.training import prompt_rows

    if model.config.is_encoder_decoder:
        return tok(questions, truncation=True, max_length=max_source_len)["input_ids"]
    ids, _ = prompt_rows(tok, questions, model.config.fdd_prompt, max_source_len, context_length(model, tok))
    return ids


def plain_generate(model, tok, ids: list[list[int]], rows: int, new: int, device) -> dict:
    """`model.generate` over consecutive batches of `rows` prompts, greedy, causal ones left-padded;
    the tokens each row generated, up to and including its first EOS."""
    import torch

    from fdd.student.training import pad

    causal = not model.config.is_encoder_decoder
    tokens = widest = at_limit = 0
    with torch.no_grad(), autocast(device):
        for s in range(0, len(ids), rows):
            part = ids[s:s + rows]
            x = pad(part, tok.pad_token_id, left=causal).to(device)
            mask = pad([[1] * len(p) for p in part], 0, left=causal).to(device)
            out = model.generate(input_ids=x, attention_mask=mask, max_new_tokens=new, do_sample=False,
                                 num_beams=1, pad_token_id=tok.pad_token_id)
            gen = out[:, x.shape[1] if causal else 1:]  # T5: after the decoder start token
            eos = gen == tok.eos_token_id
            ended = eos.any(1)
            full = torch.full_like(ended, gen.shape[1], dtype=torch.long)
            tokens += int(torch.where(ended, eos.int().argmax(1) + 1, full).sum())
            at_limit += int((~ended).sum())
            widest = max(widest, len(part))
    return {"tokens": tokens, "rows": widest, "at_limit": at_limit}


def fdd_generate(model, tok, questions: list[str], batch_size: int | str, new: int,
                 compile: bool = False) -> dict:
    """fdd.student.generation.generate without a stop rule; the tokens it hands to the decoder and the
    widest batch it asked the model for (both read by wrapping this instance's methods for the call)."""
    from fdd.student.generation import generate

    counted = {"tokens": 0, "rows": 0}
    decode, model_generate = tok.batch_decode, model.generate

    def counting(seqs, *a, **kw):
        counted["tokens"] += sum(len(s) for s in seqs)
        return decode(seqs, *a, **kw)

    def recording(*a, **kw):
        ids = kw.get("input_ids", a[0] if a else None)
        counted["rows"] = max(counted["rows"], int(ids.shape[0]))
        return model_generate(*a, **kw)

    tok.batch_decode, model.generate = counting, recording
    try:
        out = generate(model, tok, questions, batch_size=batch_size, max_new_tokens=new, fmt=None,
                       desc=f"fdd generate {batch_size}", compile=compile)
    finally:
        del tok.batch_decode, model.generate
    return {**counted, "at_limit": sum(g[0].end == "limit" for g in out)}


def timed(device, fn: Callable[[], dict]) -> dict:
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    out["seconds"] = round(time.perf_counter() - t0, 3)
    out["tokens_per_s"] = out["tokens"] / out["seconds"] if out["seconds"] > 0 else None
    return out


def generation(shape: str, model_dir: Path, texts: Texts, plan: Plan, new: int, device, deadline: float,
               clock: Clock, results: Results, compile: bool) -> None:
    """Part 2 for one shape: plain and fdd generation at full length, tokens/s."""
    model, tok = load_student(shape, model_dir, device)
    ids = prompts(model, tok, texts.test, recipe(SHAPES[shape]["student"])["max_source_len"])
    base_ids, base_q = ids[:plan.base_questions], texts.test[:plan.base_questions]
    plain_generate(model, tok, ids[:8], 8, 8, device)  # warm-up of both paths: kernels, cuBLAS handles
    fdd_generate(model, tok, texts.test[:8], 8, 8)
    facts = results.facts.setdefault("part2", {}).setdefault(shape, {
        "new_tokens": new, "mean_prompt_tokens": round(sum(map(len, ids)) / len(ids), 1)})
    b, big = plan.base_batch, plan.big_batch
    runs = [("gen.plain_base", f"generate: plain, batch {b}", base_q,
             lambda: plain_generate(model, tok, base_ids, b, new, device)),
            ("gen.fdd_auto", "generate: fdd, batch auto", texts.test,
             lambda: fdd_generate(model, tok, texts.test, "auto", new)),
            ("gen.plain_big", f"generate: plain, batch {big}", texts.test,
             lambda: plain_generate(model, tok, ids, big, new, device)),
            ("gen.fdd_base", f"generate: fdd, batch {b}", base_q,
             lambda: fdd_generate(model, tok, base_q, b, new))]
    if compile and not model.config.is_encoder_decoder:
        runs.append(("gen.fdd_auto_compile", "generate: fdd, batch auto, compile=True", texts.test,
                     lambda: fdd_generate(model, tok, texts.test, "auto", new, compile=True)))
    for key, label, questions, fn in runs:
        if clock.elapsed() > deadline:
            results.add(Row(shape, key, label, None, "tok/s",
                            note=f"skipped: past its deadline ({deadline:.0f} s)"))
            continue
        free(device)  # fdd's auto batch sizes itself from free memory
        try:
            m = timed(device, fn)
        except Exception as e:  # noqa: BLE001 - one failed measurement leaves the others
            results.add(Row(shape, key, label, None, "tok/s", note=failure(e)))
            continue
        m["questions"] = len(questions)
        facts[key] = m
        base = results.value(shape, "gen.plain_base") if key != "gen.plain_base" else None
        results.add(Row(shape, key, f"{label} ({len(questions)} questions, widest batch {m['rows']}, "
                        f"{new} new tokens)", m["tokens_per_s"], "tok/s", baseline=base))


# -- part 3: training -----------------------------------------------------------------------------
def training(shape: str, model_dir: Path, texts: Texts, plan: Plan, args, device, deadline: float,
             clock: Clock, results: Results) -> None:
    """Part 3 for one shape: optimizer steps on the student's own batches, tokens/s and MFU."""
    from fdd.student.throughput import throughput
    from fdd.student.training import Student

    model, tok = load_student(shape, model_dir, device)
    settings = recipe(SHAPES[shape]["student"])
    if args.tiny:
        settings["max_target_len"] = TINY_TARGET_LEN
    facts = results.facts.setdefault("part3", {}).setdefault(shape, {"settings": dict(settings)})
    batch, big, tokens = settings.pop("batch_size"), plan.big_train_batch, plan.batch_tokens
    setups = [("recipe", f"train: batch {batch}", batch, None),
              ("tokens", f"train: batch {batch}, batch_tokens {tokens}", batch, tokens),
              ("big", f"train: batch {big}, batch_tokens {tokens}", big, tokens)]
    for name, label, rows, batch_tokens in setups:
        kinds = (("tps", "tok/s", "tok/s"), ("mfu", "MFU", "mfu"))
        if clock.elapsed() > deadline:
            for kind, what, unit in kinds:
                results.add(Row(shape, f"train.{kind}_{name}", f"{label}: {what}", None, unit,
                                note=f"skipped: past its deadline ({deadline:.0f} s)"))
            continue
        student = Student(model, tok, batch_tokens=batch_tokens, **settings)
        try:
            m = train_steps(student, texts.train, rows, plan.train_steps, plan.warm_steps, device)
        except Exception as e:  # noqa: BLE001 - one failed setup (out of memory) leaves the others
            for kind, what, unit in kinds:
                results.add(Row(shape, f"train.{kind}_{name}", f"{label}: {what}", None, unit,
                                note=failure(e)))
            continue
        finally:
            free(device)
        m |= throughput(model, m, m["seconds"], device, peak_tflops=peak_tflops(args))
        facts[name] = m
        for (kind, what, unit), value in zip(kinds, (m["tokens_per_s"], m.get("mfu"))):
            base = results.value(shape, f"train.{kind}_recipe") if name != "recipe" else None
            results.add(Row(shape, f"train.{kind}_{name}", f"{label}: {what}", value, unit, baseline=base))


def train_steps(student, rows: list[dict], batch: int, steps: int, warm: int, device) -> dict:
    """`steps` timed optimizer steps (after `warm` untimed ones) of `batch` rows each, cycling over
    `rows`: Student.collate, the loss (Student.accumulate with batch_tokens), clipping at 1.0 as
    trainer=gpu does, the preset's optimizer. Real tokens (padding excluded), as summary.json counts."""
    import torch

    model = student.model.to(device).train()
    opt = student.configure_optimizers()["optimizer"]
    counts = {"tokens": 0, "source_tokens": 0, "target_tokens": 0, "padded": 0}
    seconds = collate = 0.0
    for step in range(warm + steps):
        t0 = time.perf_counter()
        b = student.collate([rows[(step * batch + i) % len(rows)] for i in range(batch)])
        x = {k: b[k].to(device, non_blocking=True) for k in ("input_ids", "attention_mask", "labels")}
        sync(device)
        t1 = time.perf_counter()
        with autocast(device):
            loss = student.accumulate(x) if student.batch_tokens is not None else model(**x).loss
        if student.batch_tokens is None:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        if step >= warm:
            seconds += time.perf_counter() - t1
            collate += t1 - t0
            for k in counts:
                counts[k] += b["stats"][k]
    return {**counts, "steps": steps, "batch": batch, "seconds": seconds,
            "collate_seconds": round(collate, 3)}


# -- driver ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def part(name: str, clock: Clock) -> Iterator[None]:
    t0 = clock.elapsed()
    print(f"\n== {name} (at {t0:.0f} s)", flush=True)
    yield
    print(f"== {name}: {clock.elapsed() - t0:.0f} s", flush=True)


def prepare(data_dir: Path) -> int:
    """Here, before a GPU run: the wheels fdd.run needs that the GPU image lacks (.whl/), and the GSM8K
    files (.gpu_check/data/gsm8k/), both git-ignored folders the device tool carries."""
    from importlib.metadata import version

    (ROOT / ".whl").mkdir(exist_ok=True)
    pins = [f"{name}=={version(name)}" for name in WHEELS]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(ROOT / ".whl"), *pins],
                   check=True)
    dest = PREPARED_DATA / "gsm8k"
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("train.jsonl", "test.jsonl"):
        shutil.copyfile(data_dir / "gsm8k" / name, dest / name)
    print(f"wheels: {', '.join(pins)} in {ROOT / '.whl'}; GSM8K in {dest}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpu", action="store_true", help="run on the CPU (trainer=cpu): a smoke test")
    ap.add_argument("--tiny", action="store_true", help="the same families, ~300 k parameters")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "runs" / "gpu_check")
    ap.add_argument("--data-dir", type=Path,
                    default=Path(os.environ.get("FDD_DATA_DIR") or ROOT.parent / "shared" / "data"))
    ap.add_argument("--budget-s", type=float, default=480.0)
    ap.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated, of: " + ", ".join(SHAPES))
    ap.add_argument("--parts", default="1,2,3")
    ap.add_argument("--compile", action="store_true", help="part 2: also fdd generate, compile=True (causal)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="MFU's peak (default: by GPU name)")
    ap.add_argument("--prepare", action="store_true", help="fill .whl/ and .gpu_check/data/, then exit")
    ap.add_argument("override", nargs="*",
                    help="Hydra overrides for part 1's fdd.run, e.g. student.batch_tokens=8192")
    args = ap.parse_args(argv)
    if args.prepare:
        return prepare(args.data_dir.resolve())
    os.environ.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if args.cpu:  # one thread per process: a shared, loaded CPU otherwise spends its time spinning
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    import transformers

    if not args.cpu and not torch.cuda.is_available():
        print("gpu_check: no CUDA device is visible; --cpu runs the smoke test on the CPU", file=sys.stderr)
        return 2
    device = torch.device("cpu" if args.cpu else "cuda")
    plan = CPU_PLAN if args.cpu else GPU_PLAN
    new = TINY_NEW_TOKENS if args.tiny else plan.new_tokens
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    parts = {p.strip() for p in args.parts.split(",")}
    clock, results = Clock(args.budget_s), Results(args.out, args.cpu)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.machine()})"
    results.facts.update(device=name, torch=torch.__version__, transformers=transformers.__version__,
                         tiny=args.tiny, plan=asdict(plan), budget_s=args.budget_s, new_tokens=new)
    work = Path(tempfile.mkdtemp(prefix="fdd-gpu-check-"))
    try:
        with part("setup: texts, tokenizers, random-weight students", clock):
            texts = load_texts(args.data_dir.resolve(), plan)
            results.facts.update(texts=texts.source, train_rows=len(texts.train),
                                 test_questions=len(texts.test))
            results.facts["parameters"] = {
                s: build_student(s, args.tiny, texts, plan.vocab, work / s, device) for s in shapes}
            free(device)
            print(results.header(), flush=True)
        if "1" in parts:
            with part("part 1: fdd.run end to end", clock):
                for i, shape in enumerate(shapes):
                    timeout = clock.left(0.45) / (len(shapes) - i)
                    run_fdd(shape, work / shape, texts, plan, args, work / f"run_{shape}", timeout, results)
        if "3" in parts:  # before part 2, whose length varies most: the budget cuts generation, not training
            with part("part 3: training steps", clock):
                for i, shape in enumerate(shapes):
                    deadline = clock.deadline(0.58, len(shapes) - i)
                    training(shape, work / shape, texts, plan, args, device, deadline, clock, results)
                    free(device)  # the shape's model went with the call
        if "2" in parts:
            with part("part 2: generation at full length", clock):
                for i, shape in enumerate(shapes):
                    deadline = clock.deadline(1.0, len(shapes) - i)
                    generation(shape, work / shape, texts, plan, new, device, deadline, clock, results,
                               args.compile)
                    free(device)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        results.facts["seconds"] = round(clock.elapsed(), 1)
        results.save()
    print(f"\n{results.header()}\n\n{results.table()}\n\ntotal {clock.elapsed():.0f} s; "
          f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
