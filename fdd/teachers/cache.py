"""A persistent SQLite cache of teacher responses, so re-running or resuming never pays twice.

Each response is committed the moment it arrives (WAL journal, one short transaction per write),
so a crash loses nothing the server already answered. Several processes may share one file (a
sweep over student sizes against the same teacher): WAL lets readers and one writer overlap, and
the busy timeout makes concurrent writers wait instead of failing. The cache also remembers which
requests went into a pending OpenAI Batch API job, so a resumed run re-attaches to that batch,
and which requests a batch was *about* to hold (status `intent`, recorded before the batch is
created), so a crash between creating a batch and recording its id cannot pay twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, model TEXT, response TEXT NOT NULL,
    prompt_tokens INTEGER DEFAULT 0, completion_tokens INTEGER DEFAULT 0, created REAL);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY, status TEXT NOT NULL, created REAL);
CREATE TABLE IF NOT EXISTS batch_items (
    key TEXT PRIMARY KEY, batch_id TEXT NOT NULL);
"""


def request_key(model: str, messages: list[dict], params: dict, sample: str = "") -> str:
    """sha256 over everything that determines a response; `sample` keeps independent draws apart."""
    blob = json.dumps({"model": model, "messages": messages, "params": params, "sample": sample},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """`get`/`put` of JSON-able responses by key. Thread-safe; `path=None` keeps it in memory."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:" if self.path is None else str(self.path), timeout=60,
                                   isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout=60000")
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # durable against process crashes in WAL mode
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _q(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # --- responses ----------------------------------------------------------------------------
    def get(self, key: str) -> dict | None:
        rows = self._q("SELECT response FROM responses WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def has(self, key: str) -> bool:
        return bool(self._q("SELECT 1 FROM responses WHERE key = ?", (key,)))

    def put(self, key: str, response: dict, model: str = "") -> None:
        """Insert unless present (first answer wins, so concurrent writers agree)."""
        self._q("INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
                (key, model, json.dumps(response, ensure_ascii=False), int(response.get("prompt_tokens", 0)),
                 int(response.get("completion_tokens", 0)), time.time()))

    def __len__(self) -> int:
        return self._q("SELECT COUNT(*) FROM responses")[0][0]

    # --- batch API bookkeeping ----------------------------------------------------------------
    def add_batch(self, batch_id: str, keys: list[str], status: str = "pending") -> None:
        """Record a batch (or, with status `intent`, one about to be created) and its requests in one
        transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT OR REPLACE INTO batches VALUES (?, ?, ?)", (batch_id, status, time.time()))
                self._db.executemany("INSERT OR REPLACE INTO batch_items VALUES (?, ?)", [(k, batch_id) for k in keys])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def bind_batch(self, record: str, batch_id: str) -> None:
        """An intent record became batch `batch_id` on the server: rename it, now pending."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT OR REPLACE INTO batches VALUES (?, 'pending', ?)", (batch_id, time.time()))
                self._db.execute("UPDATE batch_items SET batch_id = ? WHERE batch_id = ?", (batch_id, record))
                self._db.execute("DELETE FROM batches WHERE batch_id = ?", (record,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def pending_batches(self, keys: list[str]) -> dict[str, list[str]]:
        """batch id (or intent record) -> those of `keys` it holds, for batches not yet collected."""
        out: dict[str, list[str]] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            rows = self._q(
                "SELECT i.key, i.batch_id FROM batch_items i JOIN batches b ON b.batch_id = i.batch_id "
                f"WHERE b.status IN ('pending', 'intent') AND i.key IN ({','.join('?' * len(chunk))})", tuple(chunk))
            for key, batch_id in rows:
                out.setdefault(batch_id, []).append(key)
        return out

    def finish_batch(self, batch_id: str, status: str) -> None:
        self._q("UPDATE batches SET status = ? WHERE batch_id = ?", (status, batch_id))
