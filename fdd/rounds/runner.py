"""The RoundRunner callback: at each round boundary, feedback → augmentation → commit → evaluation.

Round k trains for `epochs_per_round` epochs on rounds/round_k/train.jsonl. At its last epoch's end
the runner evaluates the student on every evaluation set, and (if rounds remain) re-solves the
feedback pool, asks the teacher for new problems per the arm's plan, verifies them, commits the
round atomically with a checkpoint, and hands the enlarged set to the datamodule, which serves it
from the next epoch on.

Generation runs on the training device. Under DDP every rank generates a strided share of the pool
and of each evaluation set (`_solve`); the verdicts are gathered in the original order, and rank 0
alone asks the teacher, verifies and commits. summary.json's `generation` says how many problems
each rank generated.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import random
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import lightning.pytorch as pl
import torch

from fdd.problems import Problem, read_problems
from fdd.rationales import RationaleFormat
from fdd.rounds.diagnosis import (
    accuracy_by_tag,
    counts_by_tag,
    first_wrong_counts,
    first_wrong_steps,
    inherit_tags,
)
from fdd.rounds.feedback import plan
from fdd.rounds.verdicts import label, sampling
from fdd.store import RunStore, fault_point
from fdd.student import evaluate
from fdd.student.data import DistillData
from fdd.teachers.agreement import resolver_for
from fdd.teachers.base import Attempt, usage_delta
from fdd.verify import verify
from fdd.verify.checks import DEFAULT_CHECKS

log = logging.getLogger("fdd")


def wait_for_commit(store: RunStore, k: int, poll_s: float = 0.5) -> None:
    """Ranks > 0: wait until rank 0 has committed round k (a file barrier on state.json). Rank 0's
    teacher work can last far longer than a NCCL/gloo timeout (a Batch API job takes up to 24 h), so
    the other ranks poll the run store instead of sitting in a collective; they give up when rank
    0's process is gone (its run.lock is free again)."""
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
        self._t0, self._step0 = time.time(), 0
        self._generated: list[int] = [0]  # problems generated this boundary, per rank
        self._cut: Counter = Counter()  # sequences cut at eval.max_new_tokens this boundary, per set
        self._references: dict = {}  # the pool's reference step values, kept between rounds (fdd/rounds/diagnosis.py)

    def on_train_epoch_start(self, trainer: pl.Trainer, student) -> None:
        k, first = divmod(trainer.current_epoch, self.epochs_per_round)
        student.current_round = k
        if first == 0:
            self._t0, self._step0 = time.time(), trainer.global_step
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
        training["optimizer_steps"] = trainer.global_step - self._step0  # kept in the checkpoint with it
        if trainer.is_global_zero:  # DDP: rank 0 alone writes the checkpoint
            self.store.save_trained(k, trainer.save_checkpoint)
        else:
            trainer.save_checkpoint(str(self.store.checkpoint_path(k)))  # joins the collective; rank 0 writes
        if trainer.world_size > 1:
            trainer.strategy.barrier("fdd.trained")  # the checkpoint is in place for every rank
        student.load_unsharded(self.store.checkpoint_path(k))  # trainer=fsdp only: a full copy per rank
        self.end_round(trainer, student, k, training)  # every rank generates; rank 0 augments and commits
        if not trainer.is_global_zero and k < self.rounds:  # the enlarged set, as rank 0 committed it
            wait_for_commit(self.store, k)
            self.stage(k + 1)

    # -- the round boundary ----------------------------------------------------------------
    def _solve(self, trainer: pl.Trainer | None, student, problems: list[Problem], desc: str,
               samples: int = 1, temperature: float = 0.7) -> list[evaluate.Verdict]:
        """The student's verdicts on `problems`, in their order. Under DDP each rank solves every
        world-th problem (strided: lengths spread evenly) and all ranks gather all verdicts."""
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        mine = problems[rank::world]
        verdicts = evaluate.solve(student.generation_model(), student.tokenizer, mine, self.fmt, samples=samples,
                                  temperature=temperature, batch_size=self.eval_cfg.batch_size,
                                  max_new_tokens=self.eval_cfg.max_new_tokens, max_source_len=student.max_source_len,
                                  desc=desc, stop_early=self.eval_cfg.get("stop_early", True))
        if world == 1:
            self._generated[0] += len(mine)
            out = verdicts
        else:
            parts: list = [None] * world
            torch.distributed.all_gather_object(parts, verdicts)
            out = [None] * len(problems)
            for r, part in enumerate(parts):
                out[r::world] = part
                self._generated[r] += len(part)
        self._cut[desc.removeprefix("eval ")] += sum(v.cut for v in out)
        return out

    def _sampled_verdicts(self, trainer: pl.Trainer | None, student, pool: list[Problem], k: int,
                          samples: int = 1, temperature: float = 0.7) -> list[evaluate.Verdict]:
        """The pool's verdicts; sampled ones (pass_rate) under a generator seeded by (seed, round) and
        restored afterwards, so a resumed run samples the same solutions and training's RNG is untouched."""
        if samples <= 1:
            return self._solve(trainer, student, pool, "feedback")
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed * 1000 + 500 + k)
            return self._solve(trainer, student, pool, "feedback", samples=samples, temperature=temperature)

    def stage(self, k: int) -> None:
        """Serve round k's committed training set, with last round's additions as the frontier."""
        self.data.set_problems(self.store.load_train(k))
        added = self.store.round_dir(k - 1) / "added.jsonl"
        self.frontier = read_problems(added) if k > 0 and added.exists() else []

    def pool(self, k: int) -> list[Problem]:
        name = self.feedback.pool
        if name == "seed":
            return self.seeds
        if name == "all":
            return self.data.problems
        if name == "frontier":
            return self.frontier or self.seeds
        raise ValueError(f"unknown feedback.pool {name!r} (seed, all, frontier)")

    def evaluate_benchmarks(self, trainer: pl.Trainer | None, student, k: int) -> dict:
        verdicts = {name: self._solve(trainer, student, probs, f"eval {name}", self.eval_cfg.samples)
                    for name, probs in self.eval_sets.items()}
        _trace(trainer, k, "eval", {name: [asdict(v) for v in vs] for name, vs in verdicts.items()})
        out = {}
        for name, vs in verdicts.items():
            out[name] = evaluate.accuracy(vs)
            if by_tag := accuracy_by_tag(self.eval_sets[name], {v.id: v.correct for v in vs}):
                out[name]["by_tag"] = by_tag  # fdd/rounds/diagnosis.py
        return out

    def feedback_verdicts(self, trainer: pl.Trainer | None, student, k: int) -> list[evaluate.Verdict]:
        fault_point("feedback", k)
        if self.feedback.name == "none":
            return []
        return self._sampled_verdicts(trainer, student, self.pool(k), k, **sampling(self.feedback))

    def augment(self, verdicts: list[evaluate.Verdict], k: int) -> tuple[list[dict], list[Problem], dict]:
        fb = self.feedback
        pool = self.pool(k)
        by_id = {p.id: p for p in pool}
        labels = [label(v.pass_rate, v.correct, fb) for v in verdicts]  # easy | hard | borderline
        easy, hard, border = ([by_id[v.id] for v, lab in zip(verdicts, labels) if lab == want]
                              for want in ("easy", "hard", "borderline"))
        wrong = self.first_wrong(verdicts, by_id)
        records = [{**asdict(v), "question": by_id[v.id].question, "gold": by_id[v.id].answer,
                    "verdict": lab, **({"diagnosis": wrong[v.id].as_dict()} if v.id in wrong else {})}
                   for v, lab in zip(verdicts, labels)]
        todo = plan(fb.name, easy, hard, random.Random(f"{self.seed}:plan:{k}"), border,
                    fb.get("borderline", "both"))
        sent = {b: {p.id for p in ps} for b, ps, per in (("harder", todo.harder, fb.harder_per_easy),
                                                          ("similar", todo.similar, fb.similar_per_hard)) if per > 0}
        for r in records:  # which requests each parent got: the routing fdd.report --compare reports
            r["sent"] = [b for b, ids in sent.items() if r["id"] in ids]
        shown = {}
        if fb.get("show_attempt", False):  # every arm may show them, so controls stay matched
            shown = {"attempts": {v.id: Attempt(v.output, v.correct, **(wrong[v.id].as_dict() if v.id in wrong else {}))
                                  for v in verdicts}}
        before = self.teacher.usage().as_dict()
        new: list[Problem] = []
        if todo.harder and fb.harder_per_easy > 0:
            new += [p for kids in self.teacher.harder(todo.harder, fb.harder_per_easy, k, **shown) for p in kids]
        if todo.similar and fb.similar_per_hard > 0:
            new += [p for kids in self.teacher.similar(todo.similar, fb.similar_per_hard, k, **shown) for p in kids]
        inherit_tags(new, by_id)
        usage = usage_delta(before, self.teacher.usage().as_dict())
        fault_point("augment", k)
        before = self.teacher.usage().as_dict()  # teacher.verify=resolve: its requests, counted apart
        examples = self.teacher.examples() if hasattr(self.teacher, "examples") else []
        checked = verify(new, self.fmt, [*self.data.problems, *pool], self.decontaminator, parents=by_id,
                         resolver=resolver_for(self.teacher, self.fmt, k),
                         checks=getattr(self.teacher, "checks", DEFAULT_CHECKS), examples=examples)
        usage["verify"] = usage_delta(before, self.teacher.usage().as_dict())
        stats = {"pool": len(pool), "easy": len(easy), "hard": len(hard), "requested": len(new),
                 "added": len(checked.kept), "rejected": sum(checked.rejected.values()),
                 "rejected_by": dict(Counter(checked.rejected)), "teacher": usage,
                 "added_by": dict(Counter(p.origin for p in checked.kept))}
        kinds = ("easy", "hard", "borderline") if fb.get("verdict", "greedy") == "pass_rate" else ("easy", "hard")
        if "borderline" in kinds:
            stats["borderline"] = len(border)
        if pool_by_tag := counts_by_tag(((by_id[v.id], lab) for v, lab in zip(verdicts, labels)), kinds):
            stats["pool_by_tag"] = pool_by_tag  # fdd/rounds/diagnosis.py
        if added_by_tag := counts_by_tag(((p, p.origin) for p in checked.kept), ("harder", "similar")):
            stats["added_by_tag"] = added_by_tag
        if wrong:
            stats["diagnosis"] = first_wrong_counts(list(wrong.values()))
        return records, checked.kept, stats

    def first_wrong(self, verdicts: list[evaluate.Verdict], by_id: dict[str, Problem]) -> dict:
        """Where the student went wrong on each failed pool problem, by id (PoT only: fdd/rounds/diagnosis.py)."""
        if self.fmt.name != "pot":
            return {}
        failed = [(by_id[v.id], v.output, v.error) for v in verdicts if not v.correct]
        found = first_wrong_steps(failed, reference_cache=self._references)
        return {p.id: d for (p, _, _), d in zip(failed, found)}

    def end_round(self, trainer: pl.Trainer | None, student, k: int, training: dict | None = None) -> None:
        """Evaluate, augment and commit round k (its trained weights are already checkpointed);
        `training` is Student.finish_round's report. Every rank calls it and generates its share of
        the feedback pool and the evaluation sets, all before the teacher is asked: the teacher's
        work (rank 0 alone) then holds no collective open. Ranks > 0 return after generating."""
        lead = trainer is None or trainer.is_global_zero
        t_generate = time.time()
        world = trainer.world_size if trainer is not None else 1
        self._generated, self._cut = [0] * world, Counter()
        train = self.data.problems
        entry: dict = {"round": k, "train_size": len(train)}
        last = k >= self.rounds
        verdicts = [] if last else self.feedback_verdicts(trainer, student, k)
        if not last:
            _trace(trainer, k, "feedback", [asdict(v) for v in verdicts])
        fault_point("evaluate", k)
        evals = self.evaluate_benchmarks(trainer, student, k)
        t_generate = round(time.time() - t_generate, 2)
        if not lead:
            return
        if last:
            records, added, stats = None, None, {"easy": 0, "hard": 0, "added": 0, "rejected": 0,
                                                 "teacher": {}}
        else:
            records, added, stats = self.augment(verdicts, k)
        entry |= stats
        training = training or getattr(student, "reports", {}).get(k)  # resume: kept in the checkpoint
        if training:
            entry["training"] = training
        entry["eval"] = evals
        device = next(student.generation_model().parameters()).device
        cut = sum(self._cut.values())
        entry["generation"] = {"problems": sum(self._generated), "per_rank": list(self._generated),
                               "device": device.type, "seconds": t_generate, "cut_at_limit": cut,
                               "cut_by_set": dict(self._cut)}
        log.info("round %d boundary: generated for %d problems on %d rank(s) (per rank: %s) on %s; %d sequence(s) "
                 "cut at eval.max_new_tokens=%d", k, sum(self._generated), world,
                 ", ".join(map(str, self._generated)), device, cut, self.eval_cfg.max_new_tokens)
        entry["seconds"] = round(time.time() - self._t0, 2)
        next_train = None if last else train + added
        self.store.commit_round(k, records, added, next_train, entry)
        if not last:
            self.frontier = added
            self.data.set_problems(next_train)
        if self.on_round is not None:  # Tracker.log_round: also logs a round finished on resume
            self.on_round(entry, {"feedback": records or [], "added": added or [], "problems": train})


def _trace(trainer: pl.Trainer | None, k: int, what: str, data) -> None:
    """Tests: with FDD_TRACE_IDS=DIR, rank 0 writes the gathered verdicts of round k's boundary."""
    if (trace := os.environ.get("FDD_TRACE_IDS")) and (trainer is None or trainer.is_global_zero):
        path = Path(trace) / f"round{k}_{what}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
