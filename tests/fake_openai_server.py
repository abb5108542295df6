"""A small OpenAI-compatible HTTP server for tests and benchmarks (standard library only).

It speaks enough of the API for fdd's teacher: `POST /v1/chat/completions`, `GET /v1/models`, and
the Batch API (`POST /v1/files`, `POST /v1/batches`, `GET /v1/batches/{id}`,
`GET /v1/files/{id}/content`). Replies come from a *responder* (prompt, choice index) -> text; the
default one reads the task off fdd's packaged prompts and writes PoT programs that add up the
numbers of the question, so annotate / harder / similar all get plausible answers.

Fault injection is driven by markers in the prompt, so it is deterministic under concurrency:
`[[429]]`, `[[500]]`, `[[slow]]`, `[[malformed]]` make the first attempt of that exact request fail
that way (`[[500*3]]`: the first three attempts); `[[prose]]` always answers with prose and no
code. `[[latency=0.5]]` delays that request. Counters live in `server.counts`.

Like the real API, quirks included: error bodies have OpenAI's shape (`{"error": {"message",
"type", "param", "code"}}`, e.g. 429 `insufficient_quota` once `quota` successful completions
are spent, which is not a rate limit and never clears by waiting); a reply longer than the
request's `max_tokens` is cut there with `finish_reason: "length"` (tokens counted as words and
punctuation marks, as `usage` counts them); `fail_rate` makes a seeded
share of chat requests fail at random (429, 500, too slow, malformed body) for flaky-server
tests; batches keep their `metadata` and can be listed (`GET /v1/batches`). `served` counts the
successful completions of each distinct request (n and prompt), so tests can prove nothing was paid twice.
A teacher that is often wrong lives in tests/faulty_teacher.py.

`FakeOpenAIServer.like_transformers_serve(model_dir)` behaves as `transformers serve MODEL_DIR`
(transformers 5.24, read in its cli/serving code and seen against SmolLM2-135M-Instruct): the
model id is the directory path; `n` is ignored (one choice); `temperature` does not turn sampling
on, so every draw of a prompt is the same text; errors are FastAPI's `{"detail": "..."}`: an
unknown model is HTTP 400 "Server is pinned to '<dir>'; requested '<model>'.", a body that is
not JSON a plain-text HTTP 500 "Internal Server Error", an unexpected field HTTP 422. It lists its
model with `owned_by: "local"` and has a `/load_model` route (in its `/openapi.json`), as 5.25 does.

`FakeOpenAIServer.like_llama_cpp(model_path)` behaves as llama-cpp-python's server (`python -m
llama_cpp.server`, 0.3.x, read in llama_cpp/server/): it answers any model name with its one model
(`/v1/models` lists that one, `owned_by: "me"`; `/openapi.json` is titled "🦙 llama.cpp Python
API"); a field a request leaves out takes its request model's default, repeat_penalty 1.1, top_k
40, top_p 0.95, min_p 0.05, and unknown fields are ignored, `n` too (one choice); it serves one
request at a time (one lock around the model), and a request whose client gave up while it waited
is dropped before it generates. With `flavour="server"` it is llama.cpp's own `llama-server`
instead: `owned_by: "llamacpp"`, a `/props` with `default_generation_settings` and `build_info`,
repeat_penalty 1.0 by default. The sampling each chat request was served with is logged in
`server.sampling`; a repeat penalty costs the reply its program's last operand (`ans = a + b`
becomes `ans = a`), as the penalty cost a real 0.5B model 3 of its 5 right GSM8K answers
(bench/RESULTS.md). `owned_by` and `routes` (GET path -> JSON body, `POST /api/show` included)
let a test dress the stand-in as another server (vLLM, Ollama).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Responder = Callable[[str, int], str]

# what llama-cpp-python's request model (llama_cpp/server/types.py) and llama-server apply to a
# sampling field a request leaves out
LLAMA_CPP_PYTHON_DEFAULTS = {"repeat_penalty": 1.1, "top_k": 40, "top_p": 0.95, "min_p": 0.05}
LLAMA_SERVER_DEFAULTS = {"repeat_penalty": 1.0, "top_k": 40, "top_p": 0.95, "min_p": 0.05}
_ANS = re.compile(r"^(\s*ans\s*=\s*.+?)\s*[-+*/]\s*[^-+*/\n]+$", re.M)


def penalised(text: str) -> str:
    """A reply under a repeat penalty: the program's `ans` line loses its last operand."""
    return _ANS.sub(lambda m: m.group(1), text, count=1)

_TOKEN = re.compile(r"\w+|[^\w\s]")
_MARKER = re.compile(r"\[\[(429|500|slow|malformed|prose)(?:\*(\d+))?\]\]")
_LATENCY = re.compile(r"\[\[latency=([\d.]+)\]\]")
_ANY_MARKER = re.compile(r"\[\[[^\]]*\]\]")


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", _ANY_MARKER.sub("", text))


def _program(numbers: list[str], extra: int = 0) -> str:
    names = [f"q{i}" for i in range(len(numbers))] or ["q0"]
    lines = [f"{n} = {v}" for n, v in zip(names, numbers or ["0"])]
    lines.append(f"ans = {' + '.join(names)}" + (f" + {extra}" if extra else ""))
    return "\n".join(lines)


def target_question(prompt: str) -> str:
    """The question the prompt asks about: text after the last `Question:` label."""
    i = prompt.rfind("Question:")
    return prompt[i + len("Question:"):].strip() if i >= 0 else prompt.strip()


def default_responder(prompt: str, index: int) -> str:
    """PoT answers in the packaged prompts' output format; choice `index` varies the wording only."""
    question = target_question(prompt)
    if "[[prose]]" in prompt:
        return "I am sorry, but I would rather talk about the weather today. It is sunny."
    m = re.search(r"Make (\d+) new problems? that (?:are|is) (\w+)", prompt)
    if not m:
        intro = ["Here is the program:", "Sure.", ""][index % 3]
        return f"{intro}\n```python\n{_program(_numbers(question))}\n```"
    n, kind = int(m.group(1)), m.group(2).lower()
    base = _ANY_MARKER.sub("", question).strip()
    parts = []
    for i in range(1, n + 1):
        if kind.startswith("harder"):
            extra = 3 + i + index
            q = f"{base} Then {extra} more arrive."
            nums = _numbers(q)
        else:
            nums = [str(int(float(x)) + i + index) for x in _numbers(base)] or [str(i)]
            it = iter(nums)
            q = re.sub(r"\d+(?:\.\d+)?", lambda _m: next(it), base)  # noqa: B023 (used at once)
        parts.append(f"Problem {i}:\nQuestion: {q}\nProgram:\n```python\n{_program(nums)}\n```")
    return "\n\n".join(parts)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body in two segments meet delayed ACKs (+40 ms)
    server: _Server

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    # --- plumbing -----------------------------------------------------------------------------
    def _send(self, status: int, body: bytes | dict, headers: dict | None = None,
              ctype: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    def _error(self, status: int, message: str, code: str | None = None, headers: dict | None = None,
               kind: str = "invalid_request_error") -> None:
        if self.server.fake.error_style == "fastapi":
            if status == 500:
                return self._send(500, b"Internal Server Error", headers, ctype="text/plain; charset=utf-8")
            return self._send(status, {"detail": message}, headers)
        self._send(status, {"error": {"message": message, "type": kind, "param": None, "code": code}}, headers)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _authorised(self) -> bool:
        key = self.server.fake.api_key
        if key is not None and self.headers.get("Authorization") != f"Bearer {key}":
            self._error(401, "Incorrect API key provided: sk-wron***. You can find your API key at "
                             "https://platform.openai.com/account/api-keys.", "invalid_api_key")
            return False
        return True

    # --- routes -------------------------------------------------------------------------------
    def do_GET(self) -> None:
        fake = self.server.fake
        if not self._authorised():
            return
        path = self.path.split("?")[0]
        if path == "/v1/batches":
            fake.count("batch_list")
            self._send(200, fake.list_batches(self.path))
        elif path == "/v1/models" and fake.list_models:
            fake.count("models")
            models = [{"id": m, "object": "model", "created": 0, "owned_by": fake.owned_by} for m in fake.models]
            if fake.serial:  # llama-cpp-python lists its models under the model's lock
                with fake.model_lock:
                    pass
            self._send(200, {"object": "list", "data": models})
        elif path in fake.routes:
            fake.count(path)
            self._send(200, fake.routes[path])
        elif m := re.fullmatch(r"/v1/batches/([\w-]+)", path):
            fake.count("batch_retrieve")
            batch = fake.poll_batch(m.group(1))
            self._send(200, batch) if batch else self._error(404, "no such batch")
        elif m := re.fullmatch(r"/v1/files/([\w-]+)/content", path):
            data = fake.files.get(m.group(1))
            self._send(200, data, ctype="application/octet-stream") if data is not None else self._error(404, "no such file")
        else:
            self._error(404, f"no route {path}")

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self._body()
        if not self._authorised():
            return
        path = self.path.split("?")[0]
        if path == "/v1/chat/completions":
            self._chat(raw)
        elif path == "/v1/files":
            fake.count("files")
            file_id = fake.add_file(_multipart_file(raw, self.headers.get("Content-Type", "")))
            self._send(200, {"id": file_id, "object": "file", "bytes": len(fake.files[file_id]), "created_at": 0,
                             "filename": "input.jsonl", "purpose": "batch", "status": "processed"})
        elif path == "/v1/batches":
            fake.count("batches")
            self._send(200, fake.create_batch(json.loads(raw)))
        elif path == "/api/show" and "/api/show" in fake.routes:
            fake.count("/api/show")
            self._send(200, fake.routes["/api/show"])
        else:
            self._error(404, f"no route {path}")

    def _chat(self, raw: bytes) -> None:
        fake = self.server.fake
        fake.count("chat")
        try:
            req = json.loads(raw)
        except json.JSONDecodeError:
            return self._error(500 if fake.error_style == "fastapi" else 400, "body is not JSON")
        if fake.error_style == "fastapi" and (odd := set(req) - _SERVE_FIELDS):
            return self._error(422, f"Unexpected fields in the request: {odd}")
        fake.log_request(req)
        if fake.tag_latest and ":" not in str(req.get("model")):
            req["model"] = f"{req.get('model')}:latest"
        if req.get("model") not in fake.models and not fake.any_model:
            if fake.error_style == "fastapi":
                return self._error(400, f"Server is pinned to '{fake.models[0]}'; requested '{req.get('model')}'.")
            return self._error(404, f"The model `{req.get('model')}` does not exist or you do not have access "
                                    "to it.", "model_not_found")
        if fake.quota is not None and fake.counts["served"] >= fake.quota:
            fake.count("fault_quota")
            return self._error(429, "You exceeded your current quota, please check your plan and billing details. "
                                    "For more information on this error, read the docs: "
                                    "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                               "insufficient_quota", kind="insufficient_quota")
        prompt = "\n".join(str(m.get("content", "")) for m in req.get("messages", []))
        if not fake.serial:
            return self._generate(req, raw, prompt)
        with fake.model_lock:  # one request at a time, as one lock around the model
            if self._client_gone():  # llama-cpp-python checks before it generates
                fake.count("dropped")
                return self._error(400, "Client closed request")
            return self._generate(req, raw, prompt)

    def _client_gone(self) -> bool:
        import socket

        try:
            return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _generate(self, req: dict, raw: bytes, prompt: str) -> None:
        fake = self.server.fake
        if m := _LATENCY.search(prompt):
            time.sleep(float(m.group(1)))
        elif fake.latency:
            time.sleep(fake.latency)
        fault = fake.fault_for(raw, prompt)
        if fault == "429":
            fake.count("fault_429")
            return self._error(429, f"Rate limit reached for {req['model']} in organization org-fake on requests "
                                    "per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
                               "rate_limit_exceeded", {"Retry-After": fake.retry_after}, kind="requests")
        if fault == "500":
            fake.count("fault_500")
            return self._error(500, "The server had an error while processing your request. Sorry about that!",
                               kind="server_error")
        if fault == "slow":
            fake.count("fault_slow")
            time.sleep(fake.slow_s)
        if fault == "malformed":
            fake.count("fault_malformed")
            return self._send(200, b'{"id": "chatcmpl-x", "choices": [{"mess')
        fake.serve(req, prompt)
        body = fake.completion(req, prompt)
        if fake.token_s:  # generation time grows with the reply
            time.sleep(fake.token_s * sum(len(_TOKEN.findall(c["message"]["content"])) for c in body["choices"]))
        self._send(200, body)


def _multipart_file(raw: bytes, ctype: str) -> bytes:
    """The first file part of a multipart/form-data body (enough for the SDK's uploads)."""
    boundary = re.search(r"boundary=\"?([^\";]+)\"?", ctype)
    if not boundary:
        return raw
    for part in raw.split(b"--" + boundary.group(1).encode()):
        head, _, body = part.partition(b"\r\n\r\n")
        if b"filename=" in head:
            return body[:-2] if body.endswith(b"\r\n") else body
    return b""


# the chat-completion fields `transformers serve` accepts (others: HTTP 422); `n` is accepted and ignored
_SERVE_FIELDS = {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stream",
                 "stop", "seed", "frequency_penalty", "presence_penalty", "logit_bias", "tools", "tool_choice",
                 "response_format", "user", "generation_config", "chat_template_kwargs"}


def _cut(text: str, max_tokens: int | None) -> tuple[str, str]:
    """(text, finish_reason): the text cut after its first `max_tokens` tokens, as a server does."""
    if max_tokens is None:
        return text, "stop"
    tokens = list(_TOKEN.finditer(text))
    if len(tokens) <= max_tokens:
        return text, "stop"
    return text[:tokens[max_tokens - 1].end()], "length"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    fake: FakeOpenAIServer

    def handle_error(self, request, client_address) -> None:  # a client that gave up (timeout) is no error
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeOpenAIServer:
    """Start with `with FakeOpenAIServer() as s:`; point the client at `s.url`."""

    def __init__(self, *, models: tuple[str, ...] = ("fake-model",), api_key: str | None = None,
                 latency: float = 0.0, responder: Responder = default_responder, retry_after: str = "0.05",
                 slow_s: float = 1.0, batch_polls: int = 1, usage: bool = True, max_choices: int | None = None,
                 quota: int | None = None, fail_rate: float = 0.0, seed: int = 0, error_style: str = "openai",
                 owned_by: str = "fake", routes: dict[str, dict] | None = None, any_model: bool = False,
                 serial: bool = False, sampling_defaults: dict | None = None, token_s: float = 0.0,
                 list_models: bool = True, tag_latest: bool = False):
        self.models, self.api_key, self.latency, self.responder = models, api_key, latency, responder
        self.owned_by, self.routes, self.any_model = owned_by, dict(routes or {}), any_model
        self.list_models = list_models  # False: GET /v1/models is a 404, as on servers without it
        self.tag_latest = tag_latest  # Ollama: `llama3` is `llama3:latest`
        self.serial, self.model_lock, self.token_s = serial, threading.Lock(), token_s
        self.sampling_defaults = sampling_defaults  # llama.cpp's: applied to fields a request leaves out
        self.sampling: list[dict] = []  # the sampling each chat request was served with (llama.cpp modes)
        self.received: list[dict] = []  # every chat request body, less its messages
        self.retry_after, self.slow_s, self.batch_polls, self.usage = retry_after, slow_s, batch_polls, usage
        self.max_choices = max_choices  # e.g. 1: a server that ignores `n`
        self.hold_batches = False
        self.quota = quota  # successful chat completions left before 429 insufficient_quota (None: no limit)
        self.fail_rate, self._rng = fail_rate, random.Random(seed)
        self.error_style = error_style  # "openai" | "fastapi" (transformers serve)
        self.served: Counter = Counter()  # "n=<n> <prompt>" -> successful completions
        self.counts: Counter = Counter()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self._attempts: Counter = Counter()
        self._lock = threading.Lock()
        self._httpd: _Server | None = None

    @classmethod
    def like_transformers_serve(cls, model_dir: str, **kw) -> FakeOpenAIServer:
        """A stand-in for `transformers serve MODEL_DIR` (see the module docstring)."""
        routes = {"/openapi.json": {"openapi": "3.1.0", "info": {"title": "FastAPI", "version": "0.1.0"},
                                    "paths": {p: {} for p in ("/v1/chat/completions", "/v1/models", "/load_model",
                                                              "/reset", "/health")}}}
        return cls(models=(str(model_dir),), max_choices=1, error_style="fastapi", owned_by="local",
                   routes=routes, **kw)

    @classmethod
    def like_llama_cpp(cls, model_path: str, flavour: str = "python", **kw) -> FakeOpenAIServer:
        """A stand-in for llama-cpp-python's server (`flavour="python"`) or llama.cpp's `llama-server`
        (`flavour="server"`) on the GGUF file `model_path` (see the module docstring)."""
        if flavour == "python":
            routes = {"/openapi.json": {"openapi": "3.1.0", "info": {"title": "🦙 llama.cpp Python API",
                                                                     "version": "0.3.36"},
                                        "paths": {p: {} for p in ("/v1/chat/completions", "/v1/models",
                                                                  "/extras/tokenize")}}}
            return cls(models=(str(model_path),), owned_by="me", routes=routes, any_model=True, max_choices=1,
                       serial=True, sampling_defaults=LLAMA_CPP_PYTHON_DEFAULTS, **kw)
        if flavour == "server":
            props = {"default_generation_settings": {"params": dict(LLAMA_SERVER_DEFAULTS)},
                     "model_path": str(model_path), "build_info": "b6000-fake", "total_slots": 1}
            return cls(models=(str(model_path),), owned_by="llamacpp", routes={"/props": props}, any_model=True,
                       max_choices=1, serial=True, sampling_defaults=LLAMA_SERVER_DEFAULTS, **kw)
        raise ValueError(f"flavour must be python or server, not {flavour!r}")

    @classmethod
    def like_ollama(cls, models: tuple[str, ...], version: str = "0.12.3", parameters: str = "",
                    **kw) -> FakeOpenAIServer:
        """A stand-in for Ollama's OpenAI endpoint (openai/openai.go): models listed as `name:tag` with
        `owned_by` their namespace ("library"), a name without a tag served as `name:latest`,
        `GET /api/version`, and `POST /api/show` with the model's `parameters`."""
        routes = {"/api/version": {"version": version}, "/api/show": {"parameters": parameters}}
        return cls(models=models, owned_by="library", routes=routes, tag_latest=True, max_choices=1, **kw)

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # --- state --------------------------------------------------------------------------------
    def count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def log_request(self, req: dict) -> None:
        with self._lock:
            self.received.append({k: v for k, v in req.items() if k != "messages"})

    def serve(self, req: dict, prompt: str) -> None:
        with self._lock:
            self.counts["served"] += 1
            self.served[f"n={req.get('n') or 1} {prompt}"] += 1

    def fault_for(self, raw: bytes, prompt: str) -> str | None:
        """The fault this attempt of this exact request gets, if any."""
        if self.fail_rate:
            with self._lock:
                draw, kind = self._rng.random(), self._rng.choice(("429", "500", "slow", "malformed"))
            if draw < self.fail_rate:
                return kind
        m = _MARKER.search(prompt)
        if not m or m.group(1) == "prose":
            return None
        key = hashlib.sha256(raw).hexdigest()
        with self._lock:
            self._attempts[key] += 1
            attempt = self._attempts[key]
        return m.group(1) if attempt <= int(m.group(2) or 1) else None

    def completion(self, req: dict, prompt: str) -> dict:
        n = int(req.get("n") or 1)
        if self.max_choices is not None:
            n = min(n, self.max_choices)
        limit = req.get("max_completion_tokens") or req.get("max_tokens")
        texts = [self.responder(prompt, i) for i in range(n)]
        if self.sampling_defaults is not None:
            used = {k: req.get(k, v) for k, v in self.sampling_defaults.items()}
            with self._lock:
                self.sampling.append(used)
            if used["repeat_penalty"] != 1.0:
                texts = [penalised(t) for t in texts]
        replies = [_cut(t, limit) for t in texts]
        body = {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                "model": req.get("model") or self.models[0],
                "choices": [{"index": i, "finish_reason": finish, "logprobs": None,
                             "message": {"role": "assistant", "content": t}} for i, (t, finish) in enumerate(replies)]}
        if self.usage:
            p, c = len(_TOKEN.findall(prompt)), sum(len(_TOKEN.findall(t)) for t, _ in replies)
            body["usage"] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
        return body

    def add_file(self, data: bytes) -> str:
        with self._lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = data
        return file_id

    def create_batch(self, req: dict) -> dict:
        with self._lock:
            batch_id = f"batch_{len(self.batches) + 1}"
            self.batches[batch_id] = {"id": batch_id, "object": "batch", "endpoint": req["endpoint"],
                                      "input_file_id": req["input_file_id"],
                                      "completion_window": req["completion_window"], "status": "validating",
                                      "metadata": req.get("metadata"), "created_at": int(time.time()), "polls": 0}
            return {k: v for k, v in self.batches[batch_id].items() if k != "polls"}

    def list_batches(self, path: str) -> dict:
        """`GET /v1/batches?limit=&after=`: newest first, cursor-paginated like the real API."""
        from urllib.parse import parse_qs, urlparse

        query = parse_qs(urlparse(path).query)
        limit = int((query.get("limit") or ["20"])[0])
        after = (query.get("after") or [None])[0]
        with self._lock:
            ids = sorted(self.batches, key=lambda b: int(b.split("_")[1]), reverse=True)
            if after in ids:
                ids = ids[ids.index(after) + 1:]
            page = [{k: v for k, v in self.batches[b].items() if k != "polls"} for b in ids[:limit]]
        return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None, "has_more": len(ids) > limit}

    def poll_batch(self, batch_id: str) -> dict | None:
        """Each poll advances the batch; after `batch_polls` polls (and unless held) it completes."""
        with self._lock:
            b = self.batches.get(batch_id)
            if b is None:
                return None
            b["polls"] += 1
            if b["status"] in ("validating", "in_progress"):
                b["status"] = "in_progress"
                if not self.hold_batches and b["polls"] >= self.batch_polls:
                    self._run_batch(b)
            return {k: v for k, v in b.items() if k != "polls"}

    def _run_batch(self, b: dict) -> None:
        out = []
        for line in self.files[b["input_file_id"]].decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            body = item["body"]
            prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
            self.counts["batch_items"] += 1
            if body.get("model") not in self.models:
                resp = {"status_code": 404, "request_id": "r", "body": {"error": {"message": "no model"}}}
            else:
                resp = {"status_code": 200, "request_id": "r", "body": self.completion(body, prompt)}
            out.append(json.dumps({"id": f"resp-{len(out)}", "custom_id": item["custom_id"],
                                   "response": resp, "error": None}))
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = ("\n".join(out) + "\n").encode()
        b.update(status="completed", output_file_id=file_id)


if __name__ == "__main__":  # python -m tests.fake_openai_server --latency 0.1: serve until killed
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="a fake OpenAI-compatible server on 127.0.0.1")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds per chat request")
    ap.add_argument("--api-key", default=None)
    args = ap.parse_args()
    with FakeOpenAIServer(latency=args.latency, api_key=args.api_key) as srv:
        print(srv.url, flush=True)
        try:
            sys.stdin.read()  # until the parent closes our stdin
        except KeyboardInterrupt:
            pass
