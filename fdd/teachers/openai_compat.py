"""`teacher=openai`: an LLM teacher behind any OpenAI-compatible chat API (OpenAI, vLLM, SGLang,
Ollama, LiteLLM, ...).

Each teacher call (annotate / harder / similar / solve for a list of problems) becomes one batch
of chat requests, one per problem, sent concurrently (at most `concurrency` in flight) from an
asyncio loop. Every response is written to a SQLite cache (fdd.teachers.cache) the moment it
arrives, keyed by model + messages + sampling parameters + a sample tag, so a rerun or a resumed
run never pays twice, and independent draws of the same prompt (a later round, a verification
sample) stay distinct. Transient failures are retried (fdd.teachers.retries); what still fails is
counted and skipped, unless more than `max_failure_rate` of a call's requests fail, or the
error is one no retry can fix (quota, key, model): then the run stops (`TeacherStopped`) with
its committed rounds intact. Budgets (`max_requests`, `max_cost_usd`) stop sending, not the run.
`batch_api: true` sends through OpenAI's Batch API (fdd.teachers.batch); the preflight is in
fdd.teachers.preflight; `verify=resolve` (fdd.teachers.agreement) re-solves each new problem
through `solve` and keeps it only if the solutions agree with its program.

Usage counts: `requests` are requests sent to the server (once each, however often retried;
retries are in `extra["retries"]`), `cached` were answered from the cache, `failed` got no answer
after all retries, `unparsed` are returned texts with nothing usable in them; tokens and
`cost_usd` cover sent requests only (list prices, also for the Batch API). Budgets count what this
process sent: a resumed run starts a fresh budget, but never pays again for a cached response.
`seed` is not sent (many servers reject or ignore it); reruns are reproducible through the cache.

Local servers: which one answers, and which of its silent sampling defaults each request switches
off, is fdd.teachers.servers (identified once, by the preflight or the first call; logged in one
line); the user's `top_p`/`top_k`/`min_p`/`repetition_penalty` go out under the server's own names,
and `extra_body` is merged into every body last. Requests in flight follow an adaptive window
under `concurrency` (fdd.teachers.concurrency), so a server that answers one request at a time is
not flooded into timeouts; each call logs where the window settled.
The file is one piece (about 550 lines) on purpose: prompts, the request loop, the cache, budgets and
parsing share one state per teacher call (usage, failures, the stop flag, fresh Batch API results).

Replies cut at `max_tokens` (`finish_reason=length`) are counted (`truncated` in usage) and their
texts marked (fdd.rationales.Rationale): a cut annotation is used only if it reproduces the gold
answer, and the last problem of a cut reply is rejected as `truncated` (fdd/verify/).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import openai
from omegaconf import DictConfig, ListConfig, OmegaConf
from tqdm import tqdm

from fdd.problems import Problem
from fdd.rationales import Rationale, truncated
from fdd.teachers import parse
from fdd.teachers.base import Usage
from fdd.teachers.batch import BatchAPI
from fdd.teachers.cache import ResponseCache, request_key
from fdd.teachers.concurrency import Gate, Pace
from fdd.teachers.retries import Backoff, Malformed, TeacherStopped, fatal, one_line, unreachable
from fdd.teachers.servers import KNOBS, SERVER_CHOICES, Server, describe, identify, sampling_fields
from fdd.teachers.templates import TASKS, describe_attempt, load_prompt, prompt_examples, render_prompt
from fdd.verify.checks import CHECKS, DEFAULT_CHECKS
from fdd.verify.novelty import normalise_question

log = logging.getLogger(__name__)
T = TypeVar("T")
try:
    import aiohttp  # noqa: F401  (the SDK's aiohttp transport needs it)

    _HAS_AIOHTTP = True
except ImportError:
    _HAS_AIOHTTP = False

VERIFY = ("resolve", "none")
# set by their own teacher.* keys: the client relies on them (top-up of n, cut replies, the cache)
OWN_FIELDS = {"model": "model", "messages": "the prompts", "n": "n", "max_tokens": "max_tokens",
              "max_completion_tokens": "max_tokens", "temperature": "temperature", "stream": "(fdd never streams)"}


class _Skipped(Exception):
    """A request not sent: its budget is spent, or the run is stopping."""


def plain_mapping(value: Any, key: str) -> dict:
    """A config mapping (Hydra's DictConfig included) as a plain JSON-ready dict, or a one-line error."""
    if value is None:
        return {}
    if isinstance(value, DictConfig | ListConfig):  # from the Hydra config
        value = OmegaConf.to_container(value, resolve=True)
    if not isinstance(value, dict):
        raise ValueError(f"teacher.{key} must be a mapping of request fields, got {type(value).__name__}")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"teacher.{key} must hold JSON values: {e}") from None
    return dict(value)


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine from sync code; inside a running loop (a notebook), on a private loop in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(1) as ex:
        return ex.submit(lambda: asyncio.run(make())).result()


@dataclass
class _Job:
    messages: list[dict]
    n: int  # completions wanted
    sample: str  # tells independent draws of the same prompt apart in the cache


class OpenAITeacher(BatchAPI):
    """A Teacher over an OpenAI-compatible chat API; config keys (conf/teacher/openai.yaml) map
    one-to-one onto constructor arguments."""

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str | None = "OPENAI_API_KEY",
                 api_key: str | None = None, temperature: float = 0.7, max_tokens: int = 1024, n: int = 1,
                 timeout: float = 60.0, concurrency: int = 16, max_retries: int = 6,
                 cache_path: str | None = None, max_requests: int | None = None,
                 max_cost_usd: float | None = None, price_per_1k_prompt: float = 0.0,
                 price_per_1k_completion: float = 0.0, verify: str = "resolve", verify_samples: int = 1,
                 checks: Sequence[str] = DEFAULT_CHECKS, max_failure_rate: float = 0.2,
                 prompts_dir: str | None = None, batch_api: bool = False, batch_poll_s: float = 30.0,
                 batch_max_wait_s: float | None = None, backoff_base_s: float = 0.5, backoff_max_s: float = 60.0,
                 http_backend: str = "auto", adaptive_concurrency: bool = True, server: str = "auto",
                 top_p: float | None = None, top_k: int | None = None, min_p: float | None = None,
                 repetition_penalty: float | None = None, extra_body: dict | None = None,
                 rationale: str = "pot", seed: int = 0, run_dir: str | None = None, **_: Any):
        if rationale not in parse.EXTRACTORS:
            raise ValueError(f"teacher=openai writes {'/'.join(parse.EXTRACTORS)} rationales, not {rationale!r}")
        for name, value in (("n", n), ("concurrency", concurrency), ("verify_samples", verify_samples)):
            if int(value) < 1:
                raise ValueError(f"teacher.{name} must be >= 1, got {value}")
        if verify not in VERIFY:
            raise ValueError(f"teacher.verify must be {' or '.join(VERIFY)}, not {verify!r}")
        if unknown := [c for c in checks if c not in CHECKS]:
            raise ValueError(f"teacher.checks: unknown {', '.join(unknown)} (known: {', '.join(CHECKS)})")
        if not 0 <= float(max_failure_rate) <= 1:
            raise ValueError(f"teacher.max_failure_rate must be in [0, 1], got {max_failure_rate}")
        if not model:
            raise ValueError("teacher.model is empty: say which model the server should run")
        if http_backend not in ("auto", "aiohttp", "httpx"):
            raise ValueError(f"teacher.http_backend must be auto, aiohttp or httpx, not {http_backend!r}")
        if http_backend == "aiohttp" and not _HAS_AIOHTTP:
            raise ValueError("teacher.http_backend=aiohttp needs the aiohttp package (pip install 'openai[aiohttp]')")
        self.http_backend = http_backend
        if server not in SERVER_CHOICES:
            raise ValueError(f"teacher.server must be one of {', '.join(SERVER_CHOICES)}, not {server!r}")
        self.extra_body = plain_mapping(extra_body, "extra_body")
        if own := [k for k in self.extra_body if k in OWN_FIELDS]:
            raise ValueError(f"teacher.extra_body sets {', '.join(own)}: use teacher.{OWN_FIELDS[own[0]]} instead")
        self.sampling: dict[str, float | int | None] = {}
        for name, value in zip(KNOBS, (top_p, top_k, min_p, repetition_penalty)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not math.isfinite(value)):
                raise ValueError(f"teacher.{name} must be a number or null, got {value!r}")
            self.sampling[name] = value
        self.server_kind, self.adaptive_concurrency = server, bool(adaptive_concurrency)
        self._server: Server | None = None  # identified once (preflight or the first call)
        self._fields: dict = {}  # added to every request body: sampling fields, then extra_body
        self.model, self.base_url, self.api_key_env, self.api_key = model, base_url, api_key_env, api_key
        self.temperature, self.max_tokens, self.n = float(temperature), int(max_tokens), int(n)
        self.timeout, self.concurrency, self.max_retries = float(timeout), int(concurrency), int(max_retries)
        self.max_requests, self.max_cost_usd = max_requests, max_cost_usd
        self.price_prompt, self.price_completion = float(price_per_1k_prompt), float(price_per_1k_completion)
        self.verify, self.verify_samples, self.checks = verify, int(verify_samples), tuple(checks)
        self.max_failure_rate, self.rationale, self.seed = float(max_failure_rate), rationale, seed
        self.batch_api, self.batch_poll_s, self.batch_max_wait_s = bool(batch_api), float(batch_poll_s), batch_max_wait_s
        self.backoff_base_s, self.backoff_max_s = float(backoff_base_s), float(backoff_max_s)
        self.prompts = {task: load_prompt(rationale, task, prompts_dir) for task in TASKS}
        if cache_path is None and run_dir is not None:
            cache_path = str(Path(run_dir) / "teacher_cache.sqlite")
        self.cache = ResponseCache(cache_path)  # None (no run dir): an in-memory cache
        self._usage = Usage(extra={"budget_exhausted": False, "truncated": 0, "repeats": 0})
        self._backoff = Backoff(max_retries, backoff_base_s, backoff_max_s)
        self._fresh: dict[str, dict] = {}  # batch results collected in this call, not yet handed out
        self._batch_failed: set[str] = set()
        self._failures: Counter = Counter()
        self._pace = Pace(self.concurrency, self.timeout, adaptive=self.adaptive_concurrency)
        self._stopped: TeacherStopped | None = None  # set by a fatal error: send nothing more
        self._batch_messages: dict[str, list[dict]] = {}
        for name in ("httpx2", "httpx", "openai"):  # one INFO line per request would drown the run log
            if logging.getLogger(name).level == logging.NOTSET:
                logging.getLogger(name).setLevel(logging.WARNING)

    # --- Teacher protocol ---------------------------------------------------------------------
    def usage(self) -> Usage:
        u = self._usage
        return Usage(u.requests, u.cached, u.failed, u.unparsed, u.prompt_tokens, u.completion_tokens,
                     round(u.cost_usd, 6), {"retries": self._backoff.retries, **u.extra})

    def examples(self) -> list[str]:
        """The example questions of every prompt this teacher sends: a new problem must not copy them."""
        return list(dict.fromkeys(q for text in self.prompts.values() for q in prompt_examples(text)))

    def annotate(self, problems: list[Problem]) -> list[list[str]]:
        jobs = self._jobs("annotate", [p.question for p in problems], self.n, "annotate", n_prompt=self.n)
        return [self._rationales(texts) for texts in self._run_jobs(jobs, "teacher annotate")]

    def solve(self, problems: list[Problem], k: int, round: int) -> list[list[str]]:
        """`k` independent rationales per problem through the annotate prompt, in requests of their
        own (not the ones that wrote the problems): the votes of `verify=resolve`."""
        jobs = self._jobs("annotate", [p.question for p in problems], k, f"solve:r{round}", n_prompt=k)
        return [self._rationales(texts, dedupe=False)[:k] for texts in self._run_jobs(jobs, "teacher solve")]

    def harder(self, problems: list[Problem], n: int, round: int, attempts: dict | None = None) -> list[list[Problem]]:
        return self._variations(problems, n, round, "harder", attempts)

    def similar(self, problems: list[Problem], n: int, round: int, attempts: dict | None = None) -> list[list[Problem]]:
        return self._variations(problems, n, round, "similar", attempts)

    def close(self) -> None:
        self.cache.close()

    def __getstate__(self) -> dict:  # picklable (a SQLite connection is not): reopen the cache file
        state = self.__dict__.copy()
        state["cache"] = None if self.cache.path is None else str(self.cache.path)
        return state

    def __setstate__(self, state: dict) -> None:
        path = state.pop("cache")
        self.__dict__.update(state)
        self.cache = ResponseCache(path)

    # --- preflight ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"

    def api_key_value(self) -> str:
        key = self.api_key or (os.environ.get(self.api_key_env) if self.api_key_env else None)
        if not key:
            where = f"${self.api_key_env}" if self.api_key_env else "teacher.api_key_env"
            raise RuntimeError(f"teacher: no API key: set {where} or teacher.api_key "
                               "(any non-empty value for a local server without auth)")
        return key

    def preflight(self) -> None:
        """Fail in seconds, with one line, on a wrong key / URL / model (fdd.teachers.preflight)."""
        from fdd.teachers.preflight import preflight

        preflight(self)

    run_sync = staticmethod(run_sync)  # for fdd.teachers.preflight, which does not import this module

    def server(self) -> Server:
        """The server behind the URL, identified once (fdd.teachers.servers); the fields every request
        then carries are fixed here, and said in one log line."""
        if self._server is None:
            server = identify(self.url, self.api_key_value(), self.model, timeout=min(self.timeout, 10.0),
                              kind=self.server_kind)
            body, added, ignored = sampling_fields(server, self.sampling)
            self._fields = {**body, **self.extra_body}
            log.info("%s", describe(server, self.url, added, self.sampling, ignored, self.extra_body))
            for note in server.notes:
                log.warning("teacher: %s", note)
            self._server = server
        return self._server

    def request_fields(self) -> dict:
        """What every chat request adds to model, messages, n, temperature and max_tokens."""
        self.server()
        return dict(self._fields)

    # --- building requests and reading answers ------------------------------------------------
    def _jobs(self, task: str | Sequence[str], questions: Sequence[str], n: int, tag: str, n_prompt: int,
              extras: Sequence[dict] | None = None) -> list[_Job]:
        """One job per question (its task, when `task` is a list, and extra placeholder values);
        repeats of a question in one call are independent draws."""
        seen: Counter = Counter()
        jobs = []
        tasks = [task] * len(questions) if isinstance(task, str) else task
        for q, t, extra in zip(questions, tasks, extras or [{}] * len(questions)):
            messages = self._messages(t, q, n_prompt, **extra)
            occ = seen[messages[0]["content"]]
            seen[messages[0]["content"]] += 1
            jobs.append(_Job(messages, n, f"{tag}#{occ}"))
        return jobs

    def _messages(self, task: str, question: str, n: int, **extra: str) -> list[dict]:
        return [{"role": "user", "content": render_prompt(self.prompts[task], question=question.strip(), n=n, **extra)}]

    def _rationales(self, texts: list[str], dedupe: bool = True) -> list[str]:
        """The rationale in each reply; a cut reply's is marked, and a cut reply with none gives an
        empty marked candidate, so verification names the cut as the reason."""
        out = []
        for t in texts:
            r = parse.extract_rationale(t, self.rationale)
            if r is None:
                self._usage.unparsed += 1
            if truncated(t):
                r = Rationale(r or "", truncated=True)
            if r is not None and not (dedupe and r in out):
                out.append(r)
        return out

    def _variations(self, problems: list[Problem], n: int, round: int, origin: str,
                    attempts: dict | None = None) -> list[list[Problem]]:
        """`n` new problems per parent; a parent with an attempt (feedback.show_attempt) is asked through
        the `<origin>_attempt` prompt, which shows the student's output and where it went wrong. A
        reply's restatement of its parent, or a problem it wrote twice, is dropped and counted
        (`repeats` in the teacher's usage, per round in summary.json)."""
        if n <= 0 or not problems:
            return [[] for _ in problems]
        shown = [(attempts or {}).get(p.id) for p in problems]
        tasks = [origin if a is None else f"{origin}_attempt" for a in shown]
        extras = [{} if a is None else {"attempt": a.output.strip() or "(nothing)", "step": describe_attempt(a)}
                  for a in shown]
        jobs = self._jobs(tasks, [p.question for p in problems], self.n, f"{origin}:r{round}", n_prompt=n,
                          extras=extras)
        results = self._run_jobs(jobs, f"teacher {origin}")
        out: list[list[Problem]] = []
        ids: Counter = Counter()
        for p, texts in zip(problems, results):
            seen, kids = {normalise_question(p.question)}, []
            occ = ids[p.id]
            ids[p.id] += 1
            for t in texts:
                pairs = parse.parse_problems(t, self.rationale)
                if not pairs:
                    self._usage.unparsed += 1
                if pairs and truncated(t):  # the reply was cut in or after its last problem
                    pairs[-1] = (pairs[-1][0], Rationale(pairs[-1][1], truncated=True))
                for q, r in pairs:
                    if normalise_question(q) in seen:  # the parent restated, or a problem written twice
                        self._usage.extra["repeats"] += 1
                    elif len(kids) < n:
                        seen.add(normalise_question(q))
                        tag = f"{origin[0]}{len(kids)}" if occ == 0 else f"{origin[0]}{occ}_{len(kids)}"
                        kids.append(Problem(id=f"{p.id}.r{round}.{tag}", question=q, rationale=r, origin=origin,
                                            parent_id=p.id, round=round + 1, source="teacher"))
            out.append(kids)
        return out

    # --- running a batch of requests ----------------------------------------------------------
    def client(self, timeout: float | None = None) -> openai.AsyncOpenAI:
        """A client for one asyncio.run (HTTP clients are bound to their event loop)."""
        http = None
        if self.http_backend == "aiohttp" or (self.http_backend == "auto" and _HAS_AIOHTTP):
            http = openai.DefaultAioHttpClient()  # the SDK's aiohttp transport: ~40 % less CPU per request
        return openai.AsyncOpenAI(api_key=self.api_key_value(), base_url=self.base_url, max_retries=0, http_client=http,
                                  timeout=self.timeout if timeout is None else timeout)

    def _request_key(self, job: _Job, want: int, part: int) -> str:
        params = {"temperature": self.temperature, "max_tokens": self.max_tokens, "n": want}
        if self._fields:  # other sampling, other replies; with none, keys stay as they were before
            params["fields"] = self._fields
        return request_key(self.model, job.messages, params, f"{job.sample}/{part}")

    def _run_jobs(self, jobs: list[_Job], desc: str) -> list[list[str]]:
        """Texts per job (possibly fewer than asked, or none: failed, over budget)."""
        if not jobs:
            return []
        self._failures.clear()
        self._stopped = None
        self.server()
        sent, failed, cut = self._usage.requests, self._usage.failed, self._usage.extra["truncated"]
        queued = self._backoff.queue_retries
        try:
            out = run_sync(lambda: self._gather(jobs, desc))
            if self._stopped is not None:  # requests in flight were let finish (and cached): none paid twice
                raise self._stopped
        finally:
            self._fresh.clear()
            if self._failures:
                log.warning("%s: %d request(s) failed after %d retries (%s)", desc, sum(self._failures.values()),
                            self.max_retries, self._top_failures())
        if cut := self._usage.extra["truncated"] - cut:
            log.warning("%s: %d of %d replies were cut at teacher.max_tokens=%d (finish_reason=length)", desc, cut,
                        sum(map(len, out)), self.max_tokens)
        sent, failed = self._usage.requests - sent, self._usage.failed - failed
        if sent and not self.batch_api:
            queued = self._backoff.queue_retries - queued
            log.info("%s: %d requests sent; %s%s", desc, sent, self._pace.summary(),
                     f"; {queued} timeouts in the queue retried" if queued else "")
        if sent and failed > self.max_failure_rate * sent:
            raise TeacherStopped(f"teacher: {failed} of {sent} requests of {desc} failed after retries "
                                 f"(> teacher.max_failure_rate={self.max_failure_rate:g}; {self._top_failures()}); "
                                 "stopping instead of committing a starved round: committed rounds are kept, "
                                 "rerun the same command to resume")
        return out

    def _top_failures(self) -> str:
        return "; ".join(f"{n}x {e}" for e, n in self._failures.most_common(3))

    async def _gather(self, jobs: list[_Job], desc: str) -> list[list[str]]:
        client = self.client()
        try:
            if self.batch_api:
                try:
                    await self._batch_prefetch(client, jobs)
                except openai.APIStatusError as e:  # quota / key / model: one line, like a chat request
                    raise fatal(e, self.url, self.model, self.api_key_env) or e from None
            gate = Gate(self._pace)
            with tqdm(total=len(jobs), desc=desc, unit="req", disable=None, dynamic_ncols=True) as bar:
                async def one(job: _Job) -> list[str]:
                    try:
                        return await self._complete(client, gate, job)
                    finally:
                        bar.update()

                async with asyncio.TaskGroup() as tg:
                    tasks = [tg.create_task(one(j)) for j in jobs]
            return [t.result() for t in tasks]
        except BaseExceptionGroup as eg:  # a fatal error (bad key mid-run): raise it plainly
            raise eg.exceptions[0] from None
        finally:
            await client.close()

    async def _complete(self, client: openai.AsyncOpenAI, gate: Gate, job: _Job) -> list[str]:
        """`job.n` texts; when a server returns fewer choices than asked (many ignore `n`), top up
        with further requests, each its own cache entry."""
        texts: list[str] = []
        part = 0
        while len(texts) < job.n and part < job.n:
            got = await self._fetch(client, gate, job.messages, job.n - len(texts),
                                    self._request_key(job, job.n - len(texts), part))
            if not got:
                break
            texts += got
            part += 1
        return texts

    async def _fetch(self, client: openai.AsyncOpenAI, gate: Gate, messages: list[dict], want: int,
                     key: str) -> list[str] | None:
        if key in self._fresh:
            return self._texts(self._fresh.pop(key))
        hit = self.cache.get(key)
        if hit is not None:
            self._usage.cached += 1
            return self._texts(hit)
        if key in self._batch_failed:
            return None
        try:
            resp = await self._chat(client, messages, want, gate)
        except _Skipped:
            return None
        if resp is None:
            self._usage.failed += 1
            return None
        self.cache.put(key, resp, self.model)
        self._account(resp)
        return self._texts(resp)

    def _texts(self, resp: dict) -> list[str]:
        """A response's texts, those cut at max_tokens marked and counted (older cache entries carry
        no finish reasons: unmarked)."""
        finish = resp.get("finish") or []
        out = [Rationale(t, truncated=True) if i < len(finish) and finish[i] == "length" else t
               for i, t in enumerate(resp["texts"])]
        self._usage.extra["truncated"] += sum(map(truncated, out))
        return out

    def _body(self, messages: list[dict], want: int) -> dict:
        return {"model": self.model, "messages": messages, "n": want, "temperature": self.temperature,
                "max_tokens": self.max_tokens, **self._fields}

    async def _chat(self, client: openai.AsyncOpenAI, messages: list[dict], want: int, gate: Gate) -> dict | None:
        """One chat completion (with retries) as {texts, prompt_tokens, completion_tokens}, or None;
        raises _Skipped when the request is not sent (budget spent, run stopping).

        Each attempt waits for room in the adaptive window (fdd.teachers.concurrency) and reports
        its latency, or its timeout, to it; a timeout put down to queueing is retried without
        spending an attempt. The body goes through the SDK's generic `post` (its documented route
        for raw requests): same auth, errors and connection pool as `chat.completions.create`,
        without typed transformation of params and response, which cost ~1 ms of CPU per request."""
        body = self._body(messages, want)
        sent, queued = False, False

        async def call() -> dict:
            nonlocal sent, queued
            async with gate.slot() as ticket:
                if not sent:  # budgets and a stop are checked once, when the request would first go out
                    if self._stopped is not None or not self._within_budget(in_flight=ticket.busy):
                        raise _Skipped
                    self._usage.requests += 1
                    sent = True
                start = time.monotonic()
                try:
                    r = await client.post("/chat/completions", body=body, cast_to=object)
                except openai.APITimeoutError:
                    queued = gate.pace.timed_out(ticket)
                    raise
                usage = r.get("usage") if isinstance(r, dict) else None
                tokens = int(usage.get("completion_tokens") or 0) if isinstance(usage, dict) else 0
                gate.pace.replied(ticket, time.monotonic() - start, tokens)
            if not isinstance(r, dict) or not isinstance(r.get("choices"), list):
                raise Malformed(f"unexpected response body: {one_line(r, 80)}")
            return r

        def queueing(e: BaseException) -> bool:
            return isinstance(e, openai.APITimeoutError) and queued and not unreachable(e)

        try:
            r = await self._backoff.run(call, free=queueing)
        except _Skipped:
            raise
        except Exception as e:
            stop = fatal(e, self.url, self.model, self.api_key_env)
            if stop is not None:  # quota, key, model: no later request can succeed either
                self._stopped = self._stopped or stop
                return None
            # retries exhausted, or a request the server will never accept (400)
            self._failures[one_line(f"{type(e).__name__}: {getattr(e, 'message', e)}", 120)] += 1
            return None
        return self._response(r["choices"], r.get("usage"), messages)

    def _response(self, choices: list, usage: Any, messages: list[dict]) -> dict:
        """The cached form of a response (texts and finish reasons); token counts estimated (4
        chars/token) if the server gives none."""
        choices = [c for c in choices if isinstance(c, dict)]
        texts = [str((c.get("message") or {}).get("content") or "") for c in choices]
        finish = [str(c.get("finish_reason") or "") for c in choices]
        if isinstance(usage, dict) and usage:
            p, c = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        else:
            p = sum(len(str(m.get("content", ""))) for m in messages) // 4
            c = sum(len(t) for t in texts) // 4
        return {"texts": texts, "finish": finish, "prompt_tokens": p, "completion_tokens": c}

    def _account(self, resp: dict) -> None:
        u = self._usage
        u.prompt_tokens += resp["prompt_tokens"]
        u.completion_tokens += resp["completion_tokens"]
        u.cost_usd += (resp["prompt_tokens"] * self.price_prompt + resp["completion_tokens"] * self.price_completion) / 1000

    def _within_budget(self, in_flight: int = 0, more: int = 1) -> bool:
        """Whether `more` requests may be sent; False (and one warning) once a budget is spent.
        Requests in flight count at the mean cost so far, so concurrency barely overshoots."""
        u, why = self._usage, None
        if self.max_requests is not None and u.requests + more > self.max_requests:
            why = f"max_requests={self.max_requests}"
        elif self.max_cost_usd is not None:
            mean = u.cost_usd / u.requests if u.requests else 0.0
            if u.cost_usd + in_flight * mean >= self.max_cost_usd:
                why = f"max_cost_usd={self.max_cost_usd}, spent ${u.cost_usd:.4f}"
        if why is None:
            return True
        self._exhaust(why)
        return False

    def _exhaust(self, why: str) -> None:
        if not self._usage.extra["budget_exhausted"]:
            self._usage.extra["budget_exhausted"] = True
            log.warning("teacher: budget exhausted (%s): no further requests are sent; continuing with the "
                        "responses received and cached", why)
