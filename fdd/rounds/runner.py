"""The RoundRunner callback: at each round boundary, feedback → augmentation → commit → evaluation.

Round k trains for `epochs_per_round` epochs on rounds/round_k/train.jsonl. At its last epoch's end
the runner evaluates the student on every evaluation set, and (if rounds remain) re-solves the
feedback pool, asks the teacher for new problems per the arm's plan, verifies them, commits the
round atomically with a checkpoint, and hands the enlarged set to the datamodule, which serves it
from the next epoch on.

Generation runs on the training device, in one pass per boundary: the feedback pool and every
evaluation set form one length-sorted stream (`generate_boundary`; a sampled pool goes apart).
Under DDP every rank generates a strided share of it (`_solve`); the verdicts are gathered in the
original order, and rank 0 alone asks the teacher, verifies and commits. summary.json's
`generation` says how many problems each rank generated and what was cut.
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

from fdd import stages
from fdd.problems import Problem, read_problems
from fdd.rationales import RationaleFormat
from fdd.rounds.diagnosis import (
    accuracy_by_tag,
    counts_by_tag,
    first_wrong_counts,
    first_wrong_steps,
    inherit_tags,
    mark_rare,
)
from fdd.rounds.feedback import plan
from fdd.rounds.verdicts import label, sampling
from fdd.store import RunStore, fault_point
from fdd.student import evaluate
from fdd.student.data import DistillData
from fdd.student.throughput import throughput
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
                 seeds: list[Problem], decontaminator=None, on_round=None, peak_tflops: float | None = None,
                 rare_kinds: set[str] | None = None):
        self.teacher, self.store, self.data, self.fmt = teacher, store, data, fmt
        self.feedback, self.eval_sets, self.eval_cfg = feedback, eval_sets, eval_cfg
        self.rounds, self.epochs_per_round, self.seed = rounds, epochs_per_round, seed
        self.seeds, self.decontaminator, self.on_round = seeds, decontaminator, on_round
        self.peak_tflops = peak_tflops  # MFU's denominator (fdd/student/throughput.py); None: by GPU name
        self.rare = set(rare_kinds or ())  # kinds the training set makes rare: problems tagged rare_kind yes/no
        mark_rare((p for probs in eval_sets.values() for p in probs), self.rare)
        self.frontier: list[Problem] = []
        self._t0, self._step0 = time.time(), 0
        self._generated: list[int] = [0]  # problems generated this boundary, per rank
        self._cut: Counter = Counter()  # sequences cut at eval.max_new_tokens (or the context) this boundary, per set
        self._prompt_cut: Counter = Counter()  # prompts cut to fit max_source_len or the context, per set
        self._references: dict = {}  # the pool's reference step values, kept between rounds (fdd/rounds/diagnosis.py)
        self._training: int | None = None  # the training stage's depth (fdd/stages.py)

    def on_train_epoch_start(self, trainer: pl.Trainer, student) -> None:
        k, first = divmod(trainer.current_epoch, self.epochs_per_round)
        student.current_round = k
        if first == 0:
            self._t0, self._step0 = time.time(), trainer.global_step
            self._training = stages.enter(lambda: f"round {k}, training (optimizer step "
                                                  f"{trainer.global_step - self._step0 + 1})")
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
        stages.leave(self._training)  # the boundary names its own stages
        boundary = stages.enter(f"round {k}")
        training = student.finish_round(k)  # every rank: the round's training counts, gathered
        training["optimizer_steps"] = trainer.global_step - self._step0  # kept in the checkpoint with it
        if not student.sharded():  # FSDP's flat shards would miscount the parameters
            training |= throughput(student.model, training, time.time() - self._t0, student.device,
                                   trainer.world_size, self.peak_tflops)
        if trainer.is_global_zero:  # DDP: rank 0 alone writes the checkpoint
            with stages.stage("checkpointing the trained weights"):
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
        stages.leave(boundary)

    # -- the round boundary ----------------------------------------------------------------
    @stages.staged(lambda desc, **_: generation_stage(desc))
    def _solve(self, trainer: pl.Trainer | None, student, problems: list[Problem], desc: str,
               samples: int = 1, temperature: float = 0.7) -> list[evaluate.Verdict]:
        """The student's verdicts on `problems`, in their order, from one generation stream
        (fdd/student/generation.py). Under DDP each rank solves every world-th problem (strided:
        lengths spread evenly) and all ranks gather all verdicts."""
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        mine = problems[rank::world]
        ev = self.eval_cfg
        verdicts = evaluate.solve(student.generation_model(), student.tokenizer, mine, self.fmt, samples=samples,
                                  temperature=temperature, batch_size=ev.batch_size, max_new_tokens=ev.max_new_tokens,
                                  max_source_len=student.max_source_len, desc=desc,
                                  stop_early=ev.get("stop_early", True), compile=ev.get("compile", False))
        if world == 1:
            self._generated[0] += len(mine)
            return verdicts
        parts: list = [None] * world
        torch.distributed.all_gather_object(parts, verdicts)
        out = [None] * len(problems)
        for r, part in enumerate(parts):
            out[r::world] = part
            self._generated[r] += len(part)
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

    def generate_boundary(self, trainer: pl.Trainer | None, student, k: int,
                          last: bool) -> tuple[list[evaluate.Verdict], dict[str, list[evaluate.Verdict]]]:
        """The feedback pool's verdicts (none after the last round) and every evaluation set's, in one
        length-sorted generation stream when they are solved alike (greedy, or the same sampling); a
        sampled pool (pass_rate) goes apart, under its own seeded generator. Counts what each set had
        cut (at the token limit or the context, and prompts cut to fit)."""
        fault_point("feedback", k)
        pool = [] if last or self.feedback.name == "none" else self.pool(k)
        fb, samples = sampling(self.feedback), int(self.eval_cfg.samples)
        parts = {name: probs for name, probs in self.eval_sets.items()}
        pool_apart = fb["samples"] != samples or fb["samples"] > 1
        verdicts: dict[str, list[evaluate.Verdict]] = {}
        if pool and pool_apart:
            verdicts["feedback"] = self._sampled_verdicts(trainer, student, pool, k, **fb)
        elif pool:
            parts = {"feedback": pool, **parts}
        stream = [p for probs in parts.values() for p in probs]
        desc = f"round {k} generation ({', '.join(parts)})"
        solved = iter(self._solve(trainer, student, stream, desc, samples) if stream else [])
        verdicts |= {name: [next(solved) for _ in probs] for name, probs in parts.items()}
        for name, vs in verdicts.items():
            self._cut[name] += sum(v.cut for v in vs)
            self._prompt_cut[name] += sum(v.prompt_cut for v in vs)
        fault_point("evaluate", k)
        return verdicts.pop("feedback", []), verdicts

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

    def scores(self, trainer: pl.Trainer | None, k: int, verdicts: dict[str, list[evaluate.Verdict]]) -> dict:
        """Accuracy per evaluation set (and per tag) from its verdicts."""
        _trace(trainer, k, "eval", {name: [asdict(v) for v in vs] for name, vs in verdicts.items()})
        out = {}
        for name, vs in verdicts.items():
            out[name] = evaluate.accuracy(vs)
            if by_tag := accuracy_by_tag(self.eval_sets[name], {v.id: v.correct for v in vs}):
                out[name]["by_tag"] = by_tag  # fdd/rounds/diagnosis.py
        return out

    def feedback_verdicts(self, trainer: pl.Trainer | None, student, k: int) -> list[evaluate.Verdict]:
        """The pool's verdicts alone (the boundary solves them with the evaluation sets)."""
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
            with stages.stage("asking the teacher for harder variations"):
                kids = self.teacher.harder(todo.harder, fb.harder_per_easy, k, **shown)
            new += [p for ps in kids for p in ps]
        if todo.similar and fb.similar_per_hard > 0:
            with stages.stage("asking the teacher for similar problems"):
                kids = self.teacher.similar(todo.similar, fb.similar_per_hard, k, **shown)
            new += [p for ps in kids for p in ps]
        inherit_tags(new, by_id)
        mark_rare([*pool, *new], self.rare)
        usage = usage_delta(before, self.teacher.usage().as_dict())
        fault_point("augment", k)
        before = self.teacher.usage().as_dict()  # teacher.verify=resolve: its requests, counted apart
        examples = self.teacher.examples() if hasattr(self.teacher, "examples") else []
        with stages.stage("verifying the new problems"):
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
        asked = [(p, b) for b, ps, per in (("harder", todo.harder, fb.harder_per_easy),
                                           ("similar", todo.similar, fb.similar_per_hard)) if per > 0 for p in ps]
        if requests_by_tag := counts_by_tag(asked, ("harder", "similar")):
            stats["requests_by_tag"] = requests_by_tag
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
        self._generated, self._cut, self._prompt_cut = [0] * world, Counter(), Counter()
        train = self.data.problems
        entry: dict = {"round": k, "train_size": len(train)}
        last = k >= self.rounds
        verdicts, by_set = self.generate_boundary(trainer, student, k, last)
        if not last:
            _trace(trainer, k, "feedback", [asdict(v) for v in verdicts])
        evals = self.scores(trainer, k, by_set)
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
        prompts_cut = sum(self._prompt_cut.values())
        entry["generation"] = {"problems": sum(self._generated), "per_rank": list(self._generated),
                               "device": device.type, "seconds": t_generate, "cut_at_limit": cut,
                               "cut_by_set": dict(self._cut), "prompts_cut": prompts_cut,
                               "prompts_cut_by_set": dict(self._prompt_cut)}
        log.info("round %d boundary: generated for %d problems on %d rank(s) (per rank: %s) on %s; %d sequence(s) "
                 "cut at eval.max_new_tokens=%d or the student's context; %d prompt(s) cut to fit", k,
                 sum(self._generated), world, ", ".join(map(str, self._generated)), device, cut,
                 self.eval_cfg.max_new_tokens, prompts_cut)
        entry["seconds"] = round(time.time() - self._t0, 2)
        next_train = None if last else train + added
        with stages.stage("committing"):
            self.store.commit_round(k, records, added, next_train, entry)
        if not last:
            self.frontier = added
            self.data.set_problems(next_train)
        if self.on_round is not None:  # Tracker.log_round: also logs a round finished on resume
            self.on_round(entry, {"feedback": records or [], "added": added or [], "problems": train})


def generation_stage(desc: str) -> str:
    """The stage `_solve` runs in, named from its `desc` ("feedback", "eval NAME", "round K
    generation (feedback, NAME, ...)"): the sets it generates for (fdd/stages.py)."""
    if desc.startswith("eval "):
        return f"evaluating {desc[5:]} (generation)"
    names = desc[desc.find("(") + 1:desc.rfind(")")].split(", ") if desc.endswith(")") else [desc]
    return "generating for " + ", ".join("the feedback pool" if n == "feedback" else n for n in names)


def _trace(trainer: pl.Trainer | None, k: int, what: str, data) -> None:
    """Tests: with FDD_TRACE_IDS=DIR, rank 0 writes the gathered verdicts of round k's boundary."""
    if (trace := os.environ.get("FDD_TRACE_IDS")) and (trainer is None or trainer.is_global_zero):
        path = Path(trace) / f"round{k}_{what}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
