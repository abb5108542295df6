"""`teacher.batch_api=true`: the uncached requests of a teacher call go through OpenAI's Batch API
(half price, results within 24 h) instead of one chat request each.

Paying twice is what this file guards against. Before a batch is created, its *intent* (a digest
of the exact request lines, sent along as batch metadata `fdd_intent`) and its requests are
recorded in the response cache; once the server returns the batch id the record is bound to it.
A run that crashes in between finds the batch again on rerun by listing the account's batches
and matching that metadata, so it re-attaches instead of submitting (and paying for) a second
one. A run that crashes while waiting re-attaches by the recorded id.

Waiting happens on global rank 0 inside the round boundary; under DDP the other ranks do not sit
in a collective meanwhile (it would time out after torch's 30 min): they poll the run store for
the round's commit (fdd/rounds/runner.py), then join the broadcast that follows it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import openai

from fdd.teachers.retries import one_line

log = logging.getLogger(__name__)

TERMINAL = ("completed", "failed", "expired", "cancelled")
MAX_BATCH_LINES = 50_000  # OpenAI's per-batch request limit
INTENT_KEY = "fdd_intent"


class BatchAPI:
    """The Batch API half of OpenAITeacher (a mixin: it uses the teacher's cache, budget and usage)."""

    async def _batch_prefetch(self, client: openai.AsyncOpenAI, jobs: list) -> None:
        """Send the uncached first request of each job as Batch API jobs (re-attaching to batches a
        previous run submitted or meant to submit), wait for them, and keep the results for `_fetch`."""
        todo = {}
        for job in jobs:
            key = self._request_key(job, job.n, 0)
            if not self.cache.has(key):
                todo[key] = job
        if not todo:
            return
        self._batch_messages = {k: todo[k].messages for k in todo}
        pending = self.cache.pending_batches(list(todo))
        for record in [b for b in pending if b.startswith("intent:")]:
            keys = pending.pop(record)
            found = await self._find_batch(client, record.removeprefix("intent:"))
            if found is not None:
                log.info("teacher: found batch %s submitted before a crash; re-attaching", found)
                self.cache.bind_batch(record, found)
                pending[found] = keys
        attached = {k for keys in pending.values() for k in keys}
        fresh = [k for k in todo if k not in attached]
        if self.max_requests is not None:  # attached batches are counted when collected
            room = max(0, self.max_requests - self._usage.requests - len(attached))
            if room < len(fresh):
                self._exhaust(f"max_requests={self.max_requests}; {room} of {len(fresh)} batch requests submitted")
                fresh = fresh[:room]
        if fresh and not self._within_budget(more=0):
            fresh = []
        for i in range(0, len(fresh), MAX_BATCH_LINES):
            keys = fresh[i:i + MAX_BATCH_LINES]
            batch_id = await self._submit_batch(client, [(k, todo[k]) for k in keys])
            pending[batch_id] = keys
        if pending:
            await self._await_batches(client, pending)

    async def _find_batch(self, client: openai.AsyncOpenAI, digest: str) -> str | None:
        """The id of a batch this cache meant to submit (matched by metadata), if the server has one."""
        async for b in client.batches.list(limit=100):
            if (getattr(b, "metadata", None) or {}).get(INTENT_KEY) == digest and b.status != "cancelled":
                return b.id
        return None

    async def _submit_batch(self, client: openai.AsyncOpenAI, items: list[tuple[str, Any]]) -> str:
        lines = [json.dumps({"custom_id": key, "method": "POST", "url": "/v1/chat/completions",
                             "body": self._body(job.messages, job.n)}, ensure_ascii=False) for key, job in items]
        data = ("\n".join(lines) + "\n").encode()
        digest = hashlib.sha256(data).hexdigest()[:32]
        if self.cache.path is not None:  # keep what was sent, for inspection
            (self.cache.path.parent / f"teacher_batch_{digest[:12]}.jsonl").write_bytes(data)
        record = f"intent:{digest}"
        self.cache.add_batch(record, [k for k, _ in items], status="intent")  # before paying for anything
        f = await self._backoff.run(lambda: client.files.create(file=("fdd_teacher_batch.jsonl", data),
                                                                purpose="batch"))
        b = await self._backoff.run(lambda: client.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h",
            metadata={INTENT_KEY: digest}))
        self.cache.bind_batch(record, b.id)
        log.info("teacher: submitted batch %s (%d requests)", b.id, len(items))
        return b.id

    async def _await_batches(self, client: openai.AsyncOpenAI, pending: dict[str, list[str]]) -> None:
        import asyncio

        start = time.monotonic()
        remaining = dict(pending)
        while remaining:
            for batch_id in list(remaining):
                b = await self._backoff.run(lambda bid=batch_id: client.batches.retrieve(bid))
                if b.status in TERMINAL:
                    await self._collect_batch(client, b, remaining.pop(batch_id))
                else:
                    counts = getattr(b, "request_counts", None)
                    log.info("teacher: batch %s %s (%s/%s done)", batch_id, b.status,
                             getattr(counts, "completed", "?"), getattr(counts, "total", "?"))
            if not remaining:
                break
            if self.batch_max_wait_s is not None and time.monotonic() - start > self.batch_max_wait_s:
                raise RuntimeError(f"teacher: batch(es) {', '.join(remaining)} not finished after "
                                   f"{self.batch_max_wait_s:g}s; rerun the same command later to re-attach")
            await asyncio.sleep(self.batch_poll_s)

    async def _collect_batch(self, client: openai.AsyncOpenAI, b: Any, keys: list[str]) -> None:
        wanted, seen = set(keys), set()
        for file_id in (getattr(b, "output_file_id", None), getattr(b, "error_file_id", None)):
            if not file_id:
                continue
            content = await self._backoff.run(lambda fid=file_id: client.files.content(fid))
            for line in content.text.splitlines():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue
                key = item.get("custom_id")
                if key not in wanted or key in seen:
                    continue
                seen.add(key)
                self._usage.requests += 1
                resp = item.get("response") or {}
                body = resp.get("body") or {}
                if resp.get("status_code") == 200 and isinstance(body.get("choices"), list):
                    out = self._response(body["choices"], body.get("usage"), self._batch_messages.get(key, []))
                    self.cache.put(key, out, self.model)
                    self._account(out)
                    self._fresh[key] = out
                else:
                    self._usage.failed += 1
                    self._batch_failed.add(key)
                    err = (body.get("error") or {}).get("message") or item.get("error") or resp.get("status_code")
                    self._failures[one_line(f"batch item: {err}", 120)] += 1
        missing = wanted - seen
        self._usage.failed += len(missing)
        self._batch_failed |= missing
        if missing:
            self._failures[f"batch {b.id} {b.status}: no result"] += len(missing)
        self.cache.finish_batch(b.id, "collected" if b.status == "completed" else b.status)
