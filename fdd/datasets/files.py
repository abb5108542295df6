"""Where a benchmark's records come from, shared by the loaders (DESIGN §4 "Data locations").

A loader reads `path` if given (it must exist), else `data_dir/<relpath>` if that file is there,
else the Hugging Face hub through `datasets`. Failures are one-line errors that name the path.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlparse

from fdd.problems import read_jsonl

SPLITS_ONE_SET = ("train", "test", "all")  # sets without an official split: `split` selects nothing


def local_file(name: str, path: str | os.PathLike | None, data_dir: str | os.PathLike | None,
               relpath: str) -> Path | None:
    """The local file to read, or None when the hub should be used."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"{name}: no file at {p}")
        return p
    if data_dir is not None:
        p = Path(data_dir).expanduser() / relpath
        if p.is_file():
            return p
    return None


def hub_rows(name: str, hub_id: str, config: str | None, splits: Iterable[str],
             data_dir: str | os.PathLike | None, relpath: str) -> list[dict]:
    """Rows of a hub dataset (splits concatenated in order); a clear error when it cannot be had."""
    looked = f"{Path(data_dir).expanduser() / relpath} not found" if data_dir is not None else "no data_dir"
    if not _hub_may_answer():
        raise FileNotFoundError(f"{name}: {looked}, and the HF hub ({hub_id}) cannot be reached from here "
                                "(set HF_DATASETS_OFFLINE=1 to use a cached copy); pass path= or data_dir=")
    try:
        import datasets

        rows: list[dict] = []
        for split in splits:
            rows.extend(dict(r) for r in datasets.load_dataset(hub_id, config, split=split))
        return rows
    except Exception as e:  # no network, no such dataset, ...: say what was tried, in one line
        detail = (str(e).strip().splitlines() or [""])[0][:160]
        raise FileNotFoundError(f"{name}: {looked}, and the HF hub dataset {hub_id} could not be loaded "
                                f"({type(e).__name__}: {detail}); pass path= or data_dir=") from None


def _hub_may_answer() -> bool:
    """False when the hub host does not even resolve (offline machine): fail in ms, not after retries.

    With HF_HUB_OFFLINE / HF_DATASETS_OFFLINE set, `datasets` reads its cache, so we let it try;
    behind a proxy name resolution says nothing, so we let it try too.
    """
    env = os.environ
    if any(env.get(k, "").lower() in ("1", "true", "yes") for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return True
    if any(env.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    host = urlparse(env.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False


def read_json_records(name: str, path: Path) -> list[dict]:
    """A JSON array of objects, or JSON lines; a broken file is a ValueError naming it."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{name}: {path}:{e.lineno}: not valid JSON ({e.msg})") from None
    else:
        try:
            data = read_jsonl(path)
        except ValueError as e:  # already names the file and line
            raise ValueError(f"{name}: {e}") from None
    if not isinstance(data, list):
        raise ValueError(f"{name}: {path} holds a JSON {type(data).__name__}, expected a list of records")
    return data


def check_split(name: str, split: str, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if split not in allowed:
        raise ValueError(f"{name}: unknown split {split!r} (known: {', '.join(allowed)})")


def check_options(name: str, options: dict) -> None:
    """Reject misspelt options instead of silently ignoring them."""
    if options:
        raise ValueError(f"{name}: unknown option(s) {', '.join(sorted(options))}")
