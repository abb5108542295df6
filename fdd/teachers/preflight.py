"""One tiny request before any training, so a wrong key, URL or model fails in seconds.

The preflight must not give up on a server that is merely flaky: timeouts, rate limits, 5xx and
malformed bodies are retried exactly as any teacher request is (teacher.max_retries with
backoff). It fails fast, with one line, only on what no retry can fix: a refused connection or
an unknown host, a rejected key, an unknown model or endpoint, an exhausted quota. A server that
refuses an unknown model in a dialect of its own (`transformers serve`: HTTP 400) is recognised
by the list of models it serves, which the line then names.
"""

from __future__ import annotations

from typing import Any

import openai

from fdd.teachers.retries import Backoff, Malformed, fatal, one_line, retryable, unreachable

# `teacher` below is an OpenAITeacher (fdd/teachers/openai_compat.py), which imports this module: its
# own `run_sync` runs the coroutines, so nothing here imports it back.

def preflight(teacher: Any) -> None:
    """Raise a one-line RuntimeError (TeacherStopped) unless the server answers a chat request."""
    teacher.api_key_value()
    backoff = Backoff(teacher.max_retries, teacher.backoff_base_s, teacher.backoff_max_s)
    body = {"model": teacher.model, "messages": [{"role": "user", "content": "Reply with OK."}],
            "max_tokens": 1, "temperature": 0.0, "n": 1}

    async def ping() -> None:
        client = teacher.client(timeout=min(teacher.timeout, 30.0))

        async def call() -> None:
            r = await client.post("/chat/completions", body=body, cast_to=object)
            if not isinstance(r, dict) or not isinstance(r.get("choices"), list):
                raise Malformed(f"unexpected response body: {one_line(r, 80)}")

        def may_retry(e: BaseException) -> bool:
            return retryable(e) and not unreachable(e)

        try:
            await backoff.run(call, may_retry)
        finally:
            await client.close()

    try:
        teacher.run_sync(ping)
    except openai.APIConnectionError as e:
        what = unreachable(e) or ("timed out" if isinstance(e, openai.APITimeoutError) else "connection failed")
        if not unreachable(e):
            what += f" after {backoff.retries} retries"
        raise RuntimeError(f"teacher: cannot reach {teacher.url} ({what}): is the server running and "
                           "teacher.base_url right?") from None
    except openai.APIStatusError as e:
        stop = fatal(e, teacher.url, teacher.model, teacher.api_key_env)
        if stop is not None:
            raise RuntimeError(str(stop).split("; committed rounds")[0]) from None
        served = served_models(teacher) if e.status_code in (400, 404, 422) else None
        if served is not None and teacher.model not in served:  # transformers serve: 400 {"detail": ...}
            raise RuntimeError(f"teacher: model {teacher.model!r} is not served at {teacher.url} (it serves: "
                               f"{', '.join(map(repr, served[:5])) or 'nothing'}): check teacher.model") from None
        raise RuntimeError(f"teacher: {teacher.url} refused a test request (HTTP {e.status_code}) after "
                           f"{backoff.retries} retries: {one_line(e.message, 160)}") from None
    except Malformed as e:
        raise RuntimeError(f"teacher: {teacher.url} keeps answering with something that is not a chat "
                           f"completion ({e}) after {backoff.retries} retries") from None


def served_models(teacher: Any) -> list[str] | None:
    """The model ids the server lists (`GET /models`), or None if it lists none or cannot say. Servers
    that answer an unknown model with a 400 and a body of their own (FastAPI's {"detail": ...}) are
    told apart from other refusals by this list."""
    async def listing() -> list[str]:
        client = teacher.client(timeout=min(teacher.timeout, 30.0))
        try:
            return [m.id async for m in client.models.list()]
        finally:
            await client.close()

    try:
        return teacher.run_sync(listing)
    except (openai.OpenAIError, ValueError, TypeError, AttributeError):
        return None
