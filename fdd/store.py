"""The run directory (DESIGN §4): atomic round commits, the summary, resume and a write lock.

`state.json` is written last in every commit and is the single source of truth for what is
committed: files of a round beyond it are leftovers of an interrupted commit and get rewritten.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
from pathlib import Path

from fdd.problems import Problem, atomic_write_text, read_problems, write_jsonl


class RunLocked(RuntimeError):
    pass


class InjectedCrash(BaseException):
    """Raised at a fault point when FDD_KILL_MODE=raise (in-process crash tests)."""


def fault_point(stage: str, k: int = 0) -> None:
    """Fault injection for crash tests: FDD_KILL_AT=stage:round SIGKILLs this process right here
    (or raises InjectedCrash with FDD_KILL_MODE=raise, so a test can crash a run in-process)."""
    if os.environ.get("FDD_KILL_AT") == f"{stage}:{k}":
        if os.environ.get("FDD_KILL_MODE") == "raise":
            raise InjectedCrash(f"{stage}:{k}")
        os.kill(os.getpid(), signal.SIGKILL)


class RunStore:
    def __init__(self, run_dir: str | os.PathLike):
        self.dir = Path(run_dir)
        self._lock_fd: int | None = None

    # -- paths -----------------------------------------------------------------------------
    def round_dir(self, k: int) -> Path:
        return self.dir / "rounds" / f"round_{k}"

    def train_path(self, k: int) -> Path:
        return self.round_dir(k) / "train.jsonl"

    def checkpoint_path(self, k: int) -> Path:
        return self.dir / "checkpoints" / f"round_{k}.ckpt"

    # -- lock ------------------------------------------------------------------------------
    def lock(self) -> None:
        """One writer per run dir; a second process gets a message naming the first."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / "run.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 100).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunLocked(f"run dir {self.dir} is in use by pid {other}; wait for it or pick another "
                            "hydra.run.dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- state -----------------------------------------------------------------------------
    def _read_json(self, name: str, default: dict) -> dict:
        path = self.dir / name
        return json.loads(path.read_text()) if path.exists() else default

    def state(self) -> dict:
        """{"committed": last committed round, "trained": last round whose trained weights are
        checkpointed (both -1: none), "seeded": round-0 set written, "config": resumable-config}"""
        return self._read_json("state.json", {"committed": -1, "trained": -1, "seeded": False})

    def write_state(self, **changes) -> None:
        state = self.state() | changes
        atomic_write_text(self.dir / "state.json", json.dumps(state, indent=1))

    def summary(self) -> dict:
        return self._read_json("summary.json", {"rounds": [], "final": {}, "status": "running"})

    def write_summary(self, summary: dict) -> None:
        atomic_write_text(self.dir / "summary.json", json.dumps(summary, indent=1))

    # -- data ------------------------------------------------------------------------------
    def commit_seed(self, train: list[Problem], info: dict) -> None:
        write_jsonl(self.train_path(0), train)
        summary = self.summary()
        summary["seed"] = info
        self.write_summary(summary)
        self.write_state(seeded=True)

    def load_train(self, k: int) -> list[Problem]:
        return read_problems(self.train_path(k))

    def save_trained(self, k: int, save_checkpoint) -> None:
        """Checkpoint the weights trained in round k before its boundary work, so a crash during
        evaluation or augmentation resumes there instead of retraining the round."""
        path = self.checkpoint_path(k)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        try:
            save_checkpoint(str(tmp))
            fault_point("checkpoint", k)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        except BaseException:  # a full disk, a stop: no partial file left (a checkpoint is large)
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)
        self.write_state(trained=k)

    def commit_round(self, k: int, feedback: list[dict] | None, added: list[Problem] | None,
                     next_train: list[Problem] | None, entry: dict) -> None:
        """Write round k's files and the next round's training set, then the state (last)."""
        d = self.round_dir(k)
        if feedback is not None:
            write_jsonl(d / "feedback.jsonl", feedback)
        if added is not None:
            write_jsonl(d / "added.jsonl", added)
        fault_point("commit", k)
        if next_train is not None:
            write_jsonl(self.train_path(k + 1), next_train)
        summary = self.summary()
        summary["rounds"] = [r for r in summary["rounds"] if r["round"] < k] + [entry]
        self.write_summary(summary)
        self.write_state(committed=k)
        self.checkpoint_path(k - 1).unlink(missing_ok=True)
