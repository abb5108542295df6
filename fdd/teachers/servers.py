"""Which server answers at `teacher.base_url`, which models it serves, and which of its silent
sampling defaults fdd switches off in every request.

Local servers do not sample as OpenAI's API does when a request leaves a field out, and a repeat
penalty hurts PoT programs most, which must repeat their variable names. What each one applies
(read in its source; docs/teachers.md "Local servers" has the measured effect):

- llama-cpp-python (`python -m llama_cpp.server`): repeat_penalty 1.1, top_k 40, top_p 0.95,
  min_p 0.05 (its request model's field defaults);
- llama.cpp's own `llama-server`: top_k 40, top_p 0.95, min_p 0.05 (repeat_penalty 1.0 in builds
  since 2024, 1.1 before; `/props` says which);
- vLLM: the model's generation_config.json (`--generation-config auto`, e.g. Qwen2.5's
  repetition_penalty 1.05, top_k 20, top_p 0.8);
- transformers serve: the model's generation config as well;
- Ollama: repeat_penalty 1.1 before 0.32.10 and top_k 40, unless the model's parameters set them;
  its OpenAI endpoint reads none of these fields, so they cannot be switched off per request.

`identify` asks the server, stopping at the first answer: the `owned_by` of `GET /v1/models`
("llamacpp": llama-server, "vllm": vLLM, "openai"/"system": OpenAI), `GET /props` with
`default_generation_settings` (llama-server), `GET /api/version` with a version (Ollama),
`GET /openapi.json` (title "llama.cpp Python API": llama-cpp-python; a `/load_model` route:
transformers serve). A server none of these names is `other` and gets nothing beyond what fdd
always sends: an unknown field can be a 422 on a strict server. `teacher.server` names the kind
when a proxy hides it, or `other` to send nothing extra.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

KNOBS = ("top_p", "top_k", "min_p", "repetition_penalty")  # teacher.<knob>: what fdd can set per request


@dataclass(frozen=True)
class Dialect:
    """How one kind of server names the sampling knobs, and the value that switches each off.

    `fields` maps a knob to the request field the server reads ("a.b": key b of the JSON-string field
    a); a knob it does not read is absent. `neutral` holds what fdd sends when the user left the knob
    unset: only the knobs whose server default differs from OpenAI's (no penalty, top_p 1, no top_k,
    no min_p)."""

    name: str
    fields: dict[str, str]
    neutral: dict[str, float | int]
    defaults: str  # what the server applies when a request leaves the knobs out (for the log line)


_LLAMA = {"top_p": "top_p", "top_k": "top_k", "min_p": "min_p", "repetition_penalty": "repeat_penalty"}
_LLAMA_OFF = {"repetition_penalty": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0}  # top_k <= 0: off in llama.cpp

DIALECTS: dict[str, Dialect] = {
    "llama_cpp_python": Dialect("llama-cpp-python", _LLAMA, _LLAMA_OFF,
                                "repeat_penalty 1.1, top_k 40, top_p 0.95, min_p 0.05"),
    "llama_cpp": Dialect("llama.cpp llama-server", _LLAMA, _LLAMA_OFF,
                         "top_k 40, top_p 0.95, min_p 0.05 (repeat_penalty 1.1 in builds before 2024)"),
    "vllm": Dialect("vLLM", {k: k for k in KNOBS},
                    {"repetition_penalty": 1.0, "top_k": -1, "top_p": 1.0, "min_p": 0.0},  # -1: off in every version
                    "the model's generation_config.json (repetition_penalty, top_k, top_p, min_p)"),
    # top_k stays: under --continuous-batching transformers serve reads top_k 0 as 1 (greedy)
    "transformers_serve": Dialect("transformers serve", {"top_p": "top_p", "top_k": "generation_config.top_k",
                                                         "min_p": "generation_config.min_p",
                                                         "repetition_penalty": "generation_config.repetition_penalty"},
                                  {"repetition_penalty": 1.0, "top_p": 1.0},
                                  "the model's generation config (repetition_penalty, top_k, top_p)"),
    "ollama": Dialect("Ollama", {"top_p": "top_p"}, {},
                      "the model's parameters, else repeat_penalty 1.1 (before 0.32.10) and top_k 40; its OpenAI "
                      "endpoint reads only temperature, top_p, penalties of OpenAI's names, seed, stop, max_tokens"),
    "openai": Dialect("OpenAI", {"top_p": "top_p"}, {}, "nothing a request does not ask for"),
    "other": Dialect("an unidentified server", {k: k for k in KNOBS}, {}, "unknown"),
}
SERVER_CHOICES = ("auto", *DIALECTS)
_OWNED_BY = {"llamacpp": "llama_cpp", "vllm": "vllm", "openai": "openai", "system": "openai",
             "openai-internal": "openai"}


@dataclass
class Server:
    """What `identify` found: the kind (a key of DIALECTS), how it was told, and the models listed."""

    kind: str
    evidence: str
    version: str | None = None
    models: list[dict] | None = None  # the entries of GET /models (id, owned_by, ...); None: it could not say
    listing: str = ""  # why there is no list, when there is none
    notes: list[str] = field(default_factory=list)  # warnings for the log (Ollama's penalty)

    @property
    def dialect(self) -> Dialect:
        return DIALECTS[self.kind]


def root_of(url: str) -> str:
    """The server's root (where llama-server's /props and Ollama's /api live): base_url less /v1."""
    url = url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


def identify(url: str, api_key: str, model: str, timeout: float = 10.0, kind: str = "auto") -> Server:
    """The server behind `url` (an OpenAI base URL). Never raises: a server that cannot be reached or
    read is `other` with no model list, and the chat request then says what is wrong."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(timeout=timeout, headers=headers, follow_redirects=False) as http:
        def get(path: str) -> Any:
            try:
                r = http.get(root_of(url) + path)
                return r.json() if r.status_code == 200 else None
            except (httpx.HTTPError, ValueError, OSError):
                return None

        listed, why, reached = _listing(http, url.rstrip("/") + "/models")
        server = Server(kind if kind != "auto" else "other", "teacher.server" if kind != "auto" else "",
                        models=listed, listing=why)
        if kind == "auto" and reached:  # a server that cannot be reached is asked nothing more
            _tell(server, listed, get)
        if server.kind == "ollama":
            server.version = server.version or _field(get("/api/version"), "version")
            server.notes += _ollama_penalty(http, root_of(url), model, server.version)
        return server


def _listing(http: Any, models_url: str) -> tuple[list[dict] | None, str, bool]:
    """(the entries of GET /models, why there are none, whether the server answered at all)."""
    try:
        r = http.get(models_url)
    except Exception as e:  # noqa: BLE001  (httpx errors, a refused connection: the chat request reports it)
        return None, f"GET /models failed ({type(e).__name__})", False
    if r.status_code != 200:
        return None, f"GET /models answered HTTP {r.status_code}", True
    try:
        data = r.json().get("data")
    except (ValueError, AttributeError):
        return None, "GET /models did not answer a model list", True
    listed = [d for d in data if isinstance(d, dict) and isinstance(d.get("id"), str)] if isinstance(data, list) else []
    return (listed or None), ("" if listed else "GET /models listed no model"), True


def _field(body: Any, key: str) -> Any:
    return body.get(key) if isinstance(body, dict) else None


def _tell(server: Server, listed: list[dict] | None, get: Any) -> None:
    """Fill `server.kind` and `server.evidence` from what the server says of itself."""
    owners = {str(d.get("owned_by")) for d in listed or []}
    for owner in sorted(owners):
        if owner in _OWNED_BY:
            server.kind, server.evidence = _OWNED_BY[owner], f"GET /v1/models owned_by={owner!r}"
            if server.kind == "llama_cpp":
                props = get("/props")
                server.version = _field(props, "build_info")
            elif server.kind == "vllm":
                server.version = _field(get("/version"), "version")
            return
    props = get("/props")
    if isinstance(props, dict) and "default_generation_settings" in props:
        server.kind, server.evidence, server.version = "llama_cpp", "GET /props", _field(props, "build_info")
        return
    version = _field(get("/api/version"), "version")
    if isinstance(version, str):
        server.kind, server.evidence, server.version = "ollama", "GET /api/version", version
        return
    spec = get("/openapi.json")
    title = str(_field(_field(spec, "info"), "title") or "")
    if "llama.cpp" in title:
        server.kind, server.evidence = "llama_cpp_python", f"GET /openapi.json title {title!r}"
        server.version = _field(_field(spec, "info"), "version")
    elif "/load_model" in (_field(spec, "paths") or {}):
        server.kind, server.evidence = "transformers_serve", "GET /openapi.json route /load_model"
    else:
        server.evidence = "owned_by " + (", ".join(sorted(map(repr, owners))) or "unknown") + \
            "; no /props, /api/version or known /openapi.json"


def _older(version: str | None, than: tuple[int, ...]) -> bool | None:
    nums = re.findall(r"\d+", version or "")
    return None if len(nums) < 3 else tuple(int(n) for n in nums[:3]) < than


def _ollama_penalty(http: Any, root: str, model: str, version: str | None) -> list[str]:
    """Ollama's repeat penalty for `model` (its parameters, else the server default), which its
    OpenAI endpoint cannot switch off: a warning naming the way out, or nothing."""
    try:
        r = http.post(root + "/api/show", json={"model": model})
        params = str(r.json().get("parameters") or "") if r.status_code == 200 else ""
    except Exception:  # noqa: BLE001  (the warning is advice; a failure here changes nothing)
        params = ""
    m = re.search(r"^\s*repeat_penalty\s+([\d.]+)", params, re.M)
    old = _older(version, (0, 32, 10))
    penalty = float(m.group(1)) if m else (1.1 if old in (True, None) else 1.0)
    if penalty == 1.0:
        return []
    where = "the model's parameters" if m else f"Ollama's default before 0.32.10; this server is {version or 'unknown'}"
    return [f"Ollama applies repeat_penalty {penalty:g} to {model!r} ({where}) and its OpenAI endpoint cannot "
            f"switch it off: `ollama create` a copy with `PARAMETER repeat_penalty 1` and set teacher.model to it"]


def sampling_fields(server: Server, user: dict[str, Any]) -> tuple[dict, dict, list[str]]:
    """(the fields to add to every request body, the neutral values fdd chose, the knobs the user set
    that this server does not read). A knob the user set wins over fdd's neutral value."""
    d = server.dialect
    chosen = {k: v for k, v in user.items() if v is not None}
    added = {k: v for k, v in d.neutral.items() if k not in chosen}
    body: dict[str, Any] = {}
    nested: dict[str, dict] = {}
    for knob, value in {**added, **chosen}.items():
        name = d.fields.get(knob)
        if name is None:
            continue
        if "." in name:
            outer, inner = name.split(".", 1)
            nested.setdefault(outer, {})[inner] = value
        else:
            body[name] = value
    for outer, values in nested.items():
        body[outer] = json.dumps(values, sort_keys=True)
    return body, added, [k for k in chosen if k not in d.fields]


def describe(server: Server, url: str, added: dict, chosen: dict, ignored: list[str], extra_body: dict) -> str:
    """The one log line that says which server this is, what fdd adds to each request and why."""
    d = server.dialect
    line = f"teacher: {url} is {d.name}" + (f" {server.version}" if server.version else "") + \
        (f" ({server.evidence})" if server.evidence else "")
    if server.kind == "other":
        line += "; fdd adds no sampling field it might not read (teacher.server names the kind)"
    elif added:
        names = ", ".join(f"{d.fields[k]}={v:g}" for k, v in added.items())
        line += f"; to a request that leaves them out it applies {d.defaults}: fdd sends {names}"
    else:
        line += f"; to a request that leaves them out it applies {d.defaults}: fdd sends nothing extra"
    if chosen := {k: v for k, v in chosen.items() if v is not None and k not in ignored}:
        line += "; set by teacher: " + ", ".join(f"{d.fields[k]}={v:g}" for k, v in chosen.items())
    if ignored:
        line += f"; {d.name} does not read teacher.{', teacher.'.join(ignored)} through this endpoint"
    if extra_body:
        line += f"; teacher.extra_body, sent last (it wins): {json.dumps(extra_body, sort_keys=True, default=str)}"
    return line


# --- the served models ----------------------------------------------------------------------------
def served_names(server: Server) -> list[str]:
    """Every name the listing answers to: ids, and llama-server's `aliases`."""
    names: list[str] = []
    for m in server.models or []:
        names.append(m["id"])
        names += [a for a in m.get("aliases") or [] if isinstance(a, str)]
    return list(dict.fromkeys(names))


def _ollama_name(name: str) -> str:
    """Ollama's form of a model name: `llama3`, `library/llama3` and `llama3:latest` are one model."""
    name = name.strip().lower().removeprefix("registry.ollama.ai/").removeprefix("library/")
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


def is_served(model: str, server: Server) -> bool | None:
    """Whether the listing has `model` (None: no listing, or one with wildcards, so nothing to check)."""
    names = served_names(server)
    if not names or any("*" in n for n in names):
        return None
    if model in names:
        return True
    if server.kind == "ollama":
        return _ollama_name(model) in {_ollama_name(n) for n in names}
    return False


def unserved_message(model: str, url: str, server: Server) -> str:
    """One line naming the models the server lists, closest to `model` first."""
    names = served_names(server)
    shown = difflib.get_close_matches(model, names, n=5, cutoff=0.0)  # cutoff 0: the five closest, always
    more = f" and {len(names) - len(shown)} more" if len(names) > len(shown) else ""
    anyway = "; it answers any name with that model, so a wrong one goes unnoticed" \
        if server.kind in ("llama_cpp_python", "llama_cpp") else ""
    return (f"teacher: model {model!r} not found at {url} (it serves: {', '.join(map(repr, shown))}{more}"
            f"{anyway}): check teacher.model")
