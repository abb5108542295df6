"""Throughput of the OpenAI-compatible teacher against a local server that takes 100 ms per request.

With `concurrency` requests in flight and latency L, the ceiling is concurrency / L requests/s
(320 req/s for 32 x 100 ms). The bench measures the teacher's real path (the openai SDK, the retry
wrapper, SQLite cache writes, response parsing) at concurrency 32 and, in the same run, the
sequential client (concurrency 1, ceiling 10 req/s), and prints both and their ratio.

The server (tests/fake_openai_server.py) runs in its own process by default, as a real server
would: in-process it would share this process's GIL with the client being measured.

    python bench/bench_teacher.py [--requests 1920] [--latency 0.1] [--concurrency 32]
                                  [--http-backend auto|aiohttp|httpx] [--server process|thread]

Exits non-zero if the concurrent client sustains less than 80 % of its ceiling.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fdd.problems import Problem  # noqa: E402
from fdd.teachers.openai_compat import OpenAITeacher  # noqa: E402
from tests.fake_openai_server import FakeOpenAIServer  # noqa: E402


@contextlib.contextmanager
def serve(latency: float, mode: str) -> Iterator[str]:
    """The fake server's base URL, served from a child process or a thread of this one."""
    if mode == "thread":
        with FakeOpenAIServer(latency=latency) as server:
            yield server.url
        return
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_openai_server", "--latency", str(latency)],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()  # the server exits when its stdin closes
        proc.wait(timeout=10)


def measure(url: str, n_requests: int, concurrency: int, tag: str, http_backend: str = "auto") -> float:
    """Requests per second for `n_requests` uncached annotate requests."""
    with tempfile.TemporaryDirectory() as run_dir:
        teacher = OpenAITeacher(model="fake-model", base_url=url, api_key="bench", run_dir=run_dir,
                                concurrency=concurrency, timeout=30, max_retries=0, http_backend=http_backend)
        problems = [Problem(id=f"{tag}{i}", question=f"Case {tag} {i}: Ann has {i} pens and buys 4 more. How many?")
                    for i in range(n_requests)]
        t0 = time.perf_counter()
        out = teacher.annotate(problems)
        elapsed = time.perf_counter() - t0
        u = teacher.usage()
        teacher.close()
    assert u.requests == n_requests and u.failed == 0 and all(out), u
    return n_requests / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=1920, help="requests for the concurrent client")
    ap.add_argument("--sequential-requests", type=int, default=30, help="requests for the sequential client")
    ap.add_argument("--latency", type=float, default=0.1, help="server seconds per request")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--http-backend", default="auto", choices=["auto", "aiohttp", "httpx"])
    ap.add_argument("--server", default="process", choices=["process", "thread"])
    args = ap.parse_args()
    with serve(args.latency, args.server) as url:
        measure(url, 16, 8, "warmup", args.http_backend)
        seq = measure(url, args.sequential_requests, 1, "seq", args.http_backend)
        conc = measure(url, args.requests, args.concurrency, "conc", args.http_backend)
    ceiling = args.concurrency / args.latency
    print(f"server latency {args.latency * 1000:.0f} ms/request, server in a {args.server}, "
          f"http backend {args.http_backend}")
    print(f"sequential (concurrency 1):  {seq:7.1f} req/s  ({args.sequential_requests} requests, "
          f"ceiling {1 / args.latency:.0f})")
    print(f"concurrent (concurrency {args.concurrency}): {conc:7.1f} req/s  ({args.requests} requests, "
          f"ceiling {ceiling:.0f})")
    print(f"concurrent / sequential: {conc / seq:.1f}x;  concurrent / ceiling: {conc / ceiling:.0%}")
    return 0 if conc >= 0.8 * ceiling else 1


if __name__ == "__main__":
    sys.exit(main())
