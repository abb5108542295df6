"""Which teacher errors are retried, which stop the run, and the retry loop itself.

Transient failures (429 rate limits, 408/409, 5xx, timeouts, broken connections, malformed
bodies) are retried with exponential backoff and jitter, or exactly as long as the server's
`Retry-After` asks. Errors that no retry can fix mid-run stop the run (`TeacherStopped`): an
exhausted quota (HTTP 429 with `code: insufficient_quota`, which must not be mistaken for a rate
limit), a rejected key (401/403) and an unknown model or endpoint (404). Committed rounds stay
as they are and every answer received so far is cached, so rerunning the same command resumes.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import openai

T = TypeVar("T")


class TeacherStopped(RuntimeError):
    """The teacher cannot go on; the run stops with this one line (and resumes when rerun)."""


class Malformed(ValueError):
    """A 200 response whose body is not a chat completion (a proxy's error page, a cut-off body)."""


def one_line(text: object, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def error_code(e: BaseException) -> str | None:
    """`error.code` of an API error body (`insufficient_quota`, `model_not_found`, ...)."""
    return getattr(e, "code", None)


def out_of_quota(e: BaseException) -> bool:
    """OpenAI's exhausted quota: HTTP 429 whose error code (or, from some proxies, type) is
    `insufficient_quota`."""
    return isinstance(e, openai.APIStatusError) and e.status_code == 429 and "insufficient_quota" in (
        error_code(e), getattr(e, "type", None))


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def retryable(e: BaseException) -> bool:
    if isinstance(e, openai.APIStatusError):
        if out_of_quota(e):
            return False
        return e.status_code in (408, 409, 429) or e.status_code >= 500
    return isinstance(e, openai.APIConnectionError | openai.APIResponseValidationError | json.JSONDecodeError
                      | Malformed)


def fatal(e: BaseException, url: str, model: str, key_env: str | None) -> TeacherStopped | None:
    """The one-line stop for an error no retry can fix, or None if the request may just be counted."""
    if not isinstance(e, openai.APIStatusError):
        return None
    body = one_line(getattr(e, "message", e), 160)
    tail = "committed rounds are kept; rerun the same command to resume"
    if out_of_quota(e):
        return TeacherStopped(f"teacher: {url} says the quota is exhausted (HTTP 429 insufficient_quota): "
                              f"add credit; {tail}")
    if e.status_code in (401, 403):
        where = f"${key_env} / teacher.api_key" if key_env else "teacher.api_key"
        return TeacherStopped(f"teacher: {url} rejected the API key (HTTP {e.status_code}): check {where} "
                              f"({body}); {tail}")
    if e.status_code == 404:
        if error_code(e) == "model_not_found" or "model" in body.lower():
            return TeacherStopped(f"teacher: model {model!r} not found at {url} (HTTP 404): check teacher.model "
                                  f"({body}); {tail}")
        return TeacherStopped(f"teacher: {url}/chat/completions not found (HTTP 404): is teacher.base_url "
                              f"right? (it usually ends in /v1); {tail}")
    return None


def unreachable(e: BaseException) -> str | None:
    """"connection refused" / "unknown host" when that is what lies under a connection error, else
    None (a timeout, a dropped connection: worth retrying). The chain is read, not the type: the
    SDK's aiohttp transport reports a refused connection as a *timeout*."""
    if not isinstance(e, openai.APIConnectionError):
        return None
    seen, cause = set(), e.__cause__ or e.__context__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror) or type(cause).__name__ == "ClientConnectorDNSError":
            return "unknown host"
        cause = cause.__cause__ or cause.__context__
    return None


class Backoff:
    """The retry policy of one teacher: `max_retries` retries, waits base * 2**attempt capped at
    `max_s` (jittered), or the server's Retry-After; `retries` counts retries made.

    `free(e)` marks a failure the caller puts down to its own queueing (a timeout while its other
    requests held the server, fdd/teachers/concurrency.py): retried at once, without spending an
    attempt, at most `max_free` times per request (`queue_retries` counts them, also in `retries`)."""

    def __init__(self, max_retries: int, base_s: float, max_s: float, max_free: int = 8):
        self.max_retries, self.base_s, self.max_s = int(max_retries), float(base_s), float(max_s)
        self.max_free = int(max_free)
        self.retries = 0
        self.queue_retries = 0

    async def run(self, call: Callable[[], Awaitable[T]],
                  may_retry: Callable[[BaseException], bool] = retryable,
                  free: Callable[[BaseException], bool] | None = None) -> T:
        attempt = freed = 0
        while True:
            try:
                return await call()
            except Exception as e:
                if free is not None and freed < self.max_free and free(e):
                    freed += 1
                    self.retries += 1
                    self.queue_retries += 1
                    continue
                if not may_retry(e) or attempt >= self.max_retries:
                    raise
                wait = retry_after_seconds(getattr(getattr(e, "response", None), "headers", None))
                if wait is None:
                    wait = min(self.max_s, self.base_s * 2 ** attempt) * random.uniform(0.5, 1.0)
                attempt += 1
                self.retries += 1
                await asyncio.sleep(min(wait, 600.0))
