"""One tiny request before any training, so a wrong key, URL or model fails in seconds.

The preflight must not give up on a server that is merely flaky: timeouts, rate limits, 5xx and
malformed bodies are retried exactly as any teacher request is (teacher.max_retries with
backoff). It fails fast, with one line, only on what no retry can fix: a refused connection or
an unknown host, a rejected key, an unknown model or endpoint, an exhausted quota. A server that
refuses an unknown model in a dialect of its own (`transformers serve`: HTTP 400) is recognised
by the list of models it serves, which the line then names.

Some servers answer any model name with the one model they have (llama-cpp-python, llama.cpp's
llama-server): a chat request cannot tell a typo there. So the model is also looked up in the
server's own list (`GET /v1/models`, read once by fdd.teachers.servers, aliases and Ollama's
`name` = `name:latest` included), and a name it does not list fails here, naming what it lists.
A server that lists nothing, or cannot, is said so in the log and the run goes on. The test
request carries the same sampling fields as every later one, so a server that refuses one of them
does so here.
"""

from __future__ import annotations

import logging
from typing import Any

import openai

from fdd.teachers.retries import Backoff, Malformed, fatal, one_line, retryable, unreachable
from fdd.teachers.servers import is_served, unserved_message

log = logging.getLogger(__name__)

# `teacher` below is an OpenAITeacher (fdd/teachers/openai_compat.py), which imports this module: its
# own `run_sync` runs the coroutines, so nothing here imports it back.

def preflight(teacher: Any) -> None:
    """Raise a one-line RuntimeError (TeacherStopped) unless the server answers a chat request."""
    teacher.api_key_value()
    backoff = Backoff(teacher.max_retries, teacher.backoff_base_s, teacher.backoff_max_s)
    fields = teacher.request_fields()  # identifies the server (and reads its model list) once
    body = {"model": teacher.model, "messages": [{"role": "user", "content": "Reply with OK."}],
            "max_tokens": 1, "temperature": 0.0, "n": 1, **fields}

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
        if e.status_code in (400, 404, 422) and is_served(teacher.model, teacher.server()) is False:
            # named by the list, whatever the server's dialect (transformers serve: 400 {"detail": ...})
            raise RuntimeError(unserved_message(teacher.model, teacher.url, teacher.server())) from None
        stop = fatal(e, teacher.url, teacher.model, teacher.api_key_env)
        if stop is not None:
            raise RuntimeError(str(stop).split("; committed rounds")[0]) from None
        sent = f" (fields added by fdd: {', '.join(fields)})" if fields and e.status_code in (400, 422) else ""
        raise RuntimeError(f"teacher: {teacher.url} refused a test request (HTTP {e.status_code}) after "
                           f"{backoff.retries} retries: {one_line(e.message, 160)}{sent}") from None
    except Malformed as e:
        raise RuntimeError(f"teacher: {teacher.url} keeps answering with something that is not a chat "
                           f"completion ({e}) after {backoff.retries} retries") from None
    check_model(teacher)


def check_model(teacher: Any) -> None:
    """Fail with one line when the server's own model list lacks teacher.model, even if it answered."""
    server = teacher.server()
    served = is_served(teacher.model, server)
    if served is False:
        raise RuntimeError(unserved_message(teacher.model, teacher.url, server))
    if served is None:
        why = server.listing or "its list has wildcards"
        log.info("teacher: could not check teacher.model=%r against %s's models (%s); going on", teacher.model,
                 teacher.url, why)

