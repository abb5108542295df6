"""The RoundRunner callback: at each round boundary, feedback → augmentation → commit → evaluation.

Round k trains for `epochs_per_round` epochs on rounds/round_k/train.jsonl. At its last epoch's end
the runner evaluates the student on every evaluation set, and (if rounds remain) re-solves the
feedback pool, asks the teacher for new problems per the arm's plan, verifies them, commits the
round atomically with a checkpoint, and hands the enlarged set to the datamodule, which serves it
from the next epoch on.
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import lightning.pytorch as pl
import torch

from fdd import evaluate
from fdd.checks import DEFAULT_CHECKS
from fdd.datamodule import DistillData
from fdd.feedback import plan, verify
from fdd.problems import Problem
from fdd.rationales import RationaleFormat
from fdd.store import RunStore, fault_point
from fdd.teachers.agreement import resolver_for
from fdd.teachers.base import usage_delta

log = logging.getLogger("fdd")


def wait_for_commit(store: RunStore, k: int, poll_s: float = 0.5) -> None:
    """Ranks > 0: wait until rank 0 has committed round k (a file barrier on state.json). Rank 0's
    boundary can last far longer than a NCCL/gloo timeout (a Batch API job takes up to 24 h), so
    the other ranks poll the run store instead of sitting in the broadcast; they give up when
    rank 0's process is gone (its run.lock is free again)."""
    while store.state()["committed"] < k:
        if not _held(store.dir / "run.lock"):
            raise RuntimeError(f"rank 0 stopped before committing round {k}; rerun to resume")
        time.sleep(poll_s)


def _held(lock: Path) -> bool:
    """Whether some process holds the run dir's lock (fdd/store.py takes it on rank 0)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we got
    return False


class RoundRunner(pl.Callback):
    def __init__(self, *, teacher, store: RunStore, data: DistillData, fmt: RationaleFormat, feedback,
                 eval_sets: dict[str, list[Problem]], eval_cfg, rounds: int, epochs_per_round: int, seed: int,
                 seeds: list[Problem], decontaminator=None, on_round=None):
        self.teacher, self.store, self.data, self.fmt = teacher, store, data, fmt
        self.feedback, self.eval_sets, self.eval_cfg = feedback, eval_sets, eval_cfg
        self.rounds, self.epochs_per_round, self.seed = rounds, epochs_per_round, seed
        self.seeds, self.decontaminator, self.on_round = seeds, decontaminator, on_round
        self.frontier: list[Problem] = []
        self._t0 = time.time()

    def on_train_epoch_start(self, trainer: pl.Trainer, student) -> None:
        k, first = divmod(trainer.current_epoch, self.epochs_per_round)
        student.current_round = k
        if first == 0:
            self._t0 = time.time()
            if k > 0 and student.reinit_each_round:
                torch.manual_seed(self.seed * 1000 + k)  # the same fresh weights after a resume
                student.reinitialise()

    def on_train_batch_end(self, trainer: pl.Trainer, student, outputs, batch, batch_idx: int) -> None:
        if batch_idx == 1 and (trainer.current_epoch + 1) % self.epochs_per_round == 0:
            fault_point("train", student.current_round)

    def on_train_epoch_end(self, trainer: pl.Trainer, student) -> None:
        if (trainer.current_epoch + 1) % self.epochs_per_round:
            return
        k = trainer.current_epoch // self.epochs_per_round
        training = student.finish_round(k)  # every rank: the round's training counts, gathered
        if trainer.is_global_zero:  # DDP: rank 0 alone checkpoints, evaluates, augments and commits
            self.store.save_trained(k, trainer.save_checkpoint)
            student.load_unsharded(self.store.checkpoint_path(k))  # trainer=fsdp only: a full copy
            self.end_round(trainer, student, k, training)
        else:
            trainer.save_checkpoint(str(self.store.checkpoint_path(k)))  # joins the collective; rank 0 writes
            wait_for_commit(self.store, k)  # not in a collective: rank 0 may wait hours on the teacher
        if trainer.world_size > 1:  # every rank trains on the enlarged set from the next epoch on
            self.data.set_problems(trainer.strategy.broadcast(self.data.problems, src=0))

    def on_exception(self, trainer: pl.Trainer, student, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt):
            print(f"fdd: interrupted; rerun the same command (or resume={self.store.dir}) to continue from "
                  "the last committed round", file=sys.stderr)

    # -- the round boundary ----------------------------------------------------------------
    def _solve(self, student, problems: list[Problem], desc: str, samples: int = 1) -> list[evaluate.Verdict]:
        return evaluate.solve(student.generation_model(), student.tokenizer, problems, self.fmt, samples=samples,
                              batch_size=self.eval_cfg.batch_size, max_new_tokens=self.eval_cfg.max_new_tokens,
                              max_source_len=student.max_source_len, desc=desc)

    def pool(self, k: int) -> list[Problem]:
        name = self.feedback.pool
        if name == "seed":
            return self.seeds
        if name == "all":
            return self.data.problems
        if name == "frontier":
            return self.frontier or self.seeds
        raise ValueError(f"unknown feedback.pool {name!r} (seed, all, frontier)")

    def evaluate_benchmarks(self, student, k: int) -> dict:
        return {name: evaluate.accuracy(self._solve(student, probs, f"eval {name}", self.eval_cfg.samples))
                for name, probs in self.eval_sets.items()}

    def augment(self, student, k: int) -> tuple[list[dict], list[Problem], dict]:
        fb = self.feedback
        pool = self.pool(k)
        fault_point("feedback", k)
        verdicts = self._solve(student, pool, "feedback") if fb.name != "none" else []
        by_id = {p.id: p for p in pool}
        easy = [by_id[v.id] for v in verdicts if v.correct]
        hard = [by_id[v.id] for v in verdicts if not v.correct]
        records = [{**asdict(v), "question": by_id[v.id].question, "gold": by_id[v.id].answer,
                    "verdict": "easy" if v.correct else "hard"} for v in verdicts]
        todo = plan(fb.name, easy, hard, random.Random(f"{self.seed}:plan:{k}"))
        before = self.teacher.usage().as_dict()
        new: list[Problem] = []
        if todo.harder and fb.harder_per_easy > 0:
            new += [p for kids in self.teacher.harder(todo.harder, fb.harder_per_easy, k) for p in kids]
        if todo.similar and fb.similar_per_hard > 0:
            new += [p for kids in self.teacher.similar(todo.similar, fb.similar_per_hard, k) for p in kids]
        after = self.teacher.usage().as_dict()
        usage = {key: (after[key] - before.get(key, 0)) if isinstance(after[key], int | float)
                 and not isinstance(after[key], bool) else after[key] for key in after}
        fault_point("augment", k)
        before = self.teacher.usage().as_dict()  # teacher.verify=resolve: its requests, counted apart
        checked = verify(new, self.fmt, [p.question for p in self.data.problems], self.decontaminator,
                         parents=by_id, resolver=resolver_for(self.teacher, self.fmt, k),
                         checks=getattr(self.teacher, "checks", DEFAULT_CHECKS))
        usage["verify"] = usage_delta(before, self.teacher.usage().as_dict())
        stats = {"pool": len(pool), "easy": len(easy), "hard": len(hard), "requested": len(new),
                 "added": len(checked.kept), "rejected": sum(checked.rejected.values()),
                 "rejected_by": dict(Counter(checked.rejected)), "teacher": usage,
                 "added_by": dict(Counter(p.origin for p in checked.kept))}
        return records, checked.kept, stats

    def end_round(self, trainer: pl.Trainer | None, student, k: int, training: dict | None = None) -> None:
        """Evaluate, augment and commit round k (its trained weights are already checkpointed);
        `training` is Student.finish_round's report."""
        train = self.data.problems
        entry: dict = {"round": k, "train_size": len(train)}
        last = k >= self.rounds
        if last:
            records, added, stats = None, None, {"easy": 0, "hard": 0, "added": 0, "rejected": 0,
                                                 "teacher": {}}
        else:
            records, added, stats = self.augment(student, k)
        entry |= stats
        training = training or getattr(student, "reports", {}).get(k)  # resume: kept in the checkpoint
        if training:
            entry["training"] = training
        fault_point("evaluate", k)
        entry["eval"] = self.evaluate_benchmarks(student, k)
        entry["seconds"] = round(time.time() - self._t0, 2)
        next_train = None if last else train + added
        self.store.commit_round(k, records, added, next_train, entry)
        if not last:
            self.frontier = added
            self.data.set_problems(next_train)
        if self.on_round is not None:  # Tracker.log_round: also logs a round finished on resume
            self.on_round(entry, {"feedback": records or [], "added": added or [], "problems": train})
