"""One FDD run from a composed config: prepare round 0, fit all rounds, write the final artifacts.

Kept apart from fdd/run.py so tests and sweepers can call `run(cfg)` directly.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from fdd import datasets, stages
from fdd.datasets import synthetic
from fdd.problems import Problem
from fdd.rationales import get_format
from fdd.rounds.runner import RoundRunner
from fdd.store import RunStore, fault_point
from fdd.student import tokenization
from fdd.student.data import DistillData
from fdd.tracking import Tracker
from fdd.validation import UserError, validate
from fdd.verify import annotate

log = logging.getLogger("fdd")

# Keys that may change between a run's start and its resumption.
RESUMABLE_CHANGES = ("rounds", "resume", "paths.", "logger", "trainer.", "eval.batch_size", "eval.compile", "hydra",
                     "stop_signals", "peak_tflops", "teacher.concurrency", "teacher.adaptive_concurrency",
                     "teacher.timeout", "max_lossy_targets", "max_overflow",
                     "teacher.min_yield")  # the last three: read at round 0 only
MAX_EARLY_TARGETS = 0.005  # round-0 targets the answer rule may cut short before it is turned off (stop_rules)
DEFAULT_MIN_YIELD = 0.2  # conf/teacher/*.yaml set it; a teacher config without it gets this


def generation_budget(cfg: DictConfig, say: bool = True) -> None:
    """Evaluation must be able to write every target the student was trained on: raise
    eval.max_new_tokens to student.max_target_len (EOS included in both), saying so."""
    need = cfg.student.get("max_target_len")
    if need is not None and cfg.eval.max_new_tokens < need:
        if say:
            log.info("eval.max_new_tokens=%d is below student.max_target_len=%d: evaluating with %d", cfg.eval.max_new_tokens,
                     need, need)
        cfg.eval.max_new_tokens = need


def training_device(trainer_cfg: DictConfig) -> torch.device:
    """The device the Trainer will put the student on (its first device), known before the Trainer
    exists: a round finished on resume generates there, not on the CPU."""
    accel = str(trainer_cfg.get("accelerator", "cpu")).lower()
    devices = trainer_cfg.get("devices", "auto")
    if isinstance(devices, str) and "," in devices:  # "1,3": device indices, as Lightning reads them
        devices = [d for d in devices.split(",") if d.strip()]
    listed = OmegaConf.is_list(devices) or isinstance(devices, list | tuple)  # else a count, or "auto"
    if accel in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda", int(devices[0]) if listed else int(os.environ.get("LOCAL_RANK") or 0))
    if accel in ("gpu", "cuda"):
        raise UserError(f"trainer.accelerator={accel} but no CUDA device is visible (trainer=cpu to run on the CPU)")
    if accel in ("mps", "auto") and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _flat(cfg: DictConfig) -> dict:
    out = {}

    def walk(node, prefix):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        else:
            out[prefix[:-1]] = node

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    return out


def check_config(store: RunStore, cfg: DictConfig) -> None:
    """Refuse to resume a run whose config changed in a way that changes its data (name the keys)."""
    now = {k: v for k, v in _flat(cfg).items() if not k.startswith(RESUMABLE_CHANGES)}
    before = store.state().get("config")
    if before is None:
        store.write_state(config=now)
        return
    changed = sorted(k for k in set(before) if now.get(k) != before.get(k))
    overridden = _overridden()
    for key in sorted(set(now) - set(before)):  # a key the run's start did not have
        parts = key.split(".")
        if any(".".join(parts[:i]) in before for i in range(1, len(parts))) or key in overridden:
            changed.append(key)  # a null that became a mapping, or a key the command line adds
        else:  # a newer fdd's key at its default: nothing the run was started with differs
            log.info("resuming with %s=%r, a key this run did not start with (a newer fdd)", key, now[key])
    if changed:
        raise UserError(f"config changed since {store.dir} began, cannot resume: {', '.join(changed[:8])}"
                        f"{' …' if len(changed) > 8 else ''} (use a new hydra.run.dir)")


def _overridden() -> set[str]:
    """The keys the command line set (Hydra's task overrides), when Hydra runs the job."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return set()
    return {o.split("=", 1)[0].lstrip("+~") for o in HydraConfig.get().overrides.task}


def load_sets(cfg: DictConfig) -> dict[str, list[Problem]]:
    sets = {}
    for name, spec in cfg.eval.sets.items():
        spec = OmegaConf.to_container(spec)
        loaded = datasets.load(**{"seed": 0, **spec, "limit": cfg.eval.limit}, data_dir=cfg.paths.data_dir)
        if loaded.failed:
            log.warning("eval set %s: %d records could not be parsed (first: %s)", name, len(loaded.failed),
                        loaded.failed[0])
        sets[name] = loaded.problems
    return sets


def rare_kinds(cfg: DictConfig) -> set[str]:
    """The synthetic kinds the training set makes rare (`dataset.kind_weights`): problems holding one
    are tagged `rare_kind` (fdd/rounds/diagnosis.py `mark_rare`)."""
    return synthetic.rare_kinds(cfg.dataset.get("kind_weights")) if cfg.dataset.get("name") == "synthetic" else set()


def make_decontaminator(cfg: DictConfig, eval_sets: dict[str, list[Problem]]):
    from fdd.rounds.decontaminate import Decontaminator

    questions = [p.question for probs in eval_sets.values() for p in probs]
    return Decontaminator(questions, ngram=cfg.decontamination.ngram, threshold=cfg.decontamination.threshold)


def prepare_seed(cfg: DictConfig, store: RunStore, teacher, fmt, decon) -> None:
    """Round 0: load the training problems, have the teacher annotate them, keep the verified ones."""
    spec = OmegaConf.to_container(cfg.dataset)
    on_invalid = spec.pop("on_invalid", "fail")
    loaded = datasets.load(**{"seed": cfg.seed, **spec}, data_dir=cfg.paths.data_dir)
    if loaded.failed:
        first = loaded.failed[0]
        msg = (f"dataset {loaded.name}: {len(loaded.failed)} of {len(loaded.failed) + len(loaded.problems)} "
               f"records unusable (first: {first['id']}: {first['reason']})")
        if on_invalid != "skip":
            raise UserError(f"{msg}; fix the file or set dataset.on_invalid=skip")
        log.warning("%s; skipped (dataset.on_invalid=skip)", msg)
    problems = loaded.problems
    before = teacher.usage().as_dict()
    with stages.stage("annotation by the teacher"):
        texts = teacher.annotate(problems)
    with stages.stage("checking the annotations (sandbox)"):
        checked = annotate(problems, texts, fmt, decon)
    fault_point("annotate", 0)
    after = teacher.usage().as_dict()
    check_yield(len(checked.kept), len(problems), checked.rejected, cfg.teacher.get("min_yield", DEFAULT_MIN_YIELD))
    info = {"problems": len(problems), "parse_failed": len(loaded.failed), "kept": len(checked.kept),
            "rejected": sum(checked.rejected.values()), "rejected_by": dict(checked.rejected),
            "teacher": {k: v - before.get(k, 0) for k, v in after.items() if isinstance(v, int | float)}}
    log.info("round 0 set: %d of %d problems annotated and verified (%s rejected)", info["kept"],
             info["problems"], info["rejected"])
    with stages.stage("committing the round-0 set"):
        store.commit_seed(checked.kept, info)


def check_yield(kept: int, total: int, rejected: Counter, min_yield: float) -> None:
    """Stop before training, in one line, when the teacher's round-0 rationales reproduce too few gold
    answers: a teacher that cannot solve the training problems will not write verified new ones."""
    if kept and kept >= min_yield * total:
        return
    top = ", ".join(f"{n} {why}" for why, n in rejected.most_common(3)) or "none"
    raise UserError(f"round 0 kept {kept} of {total} training problems (yield {kept / max(1, total):.1%}, "
                    f"teacher.min_yield={min_yield:g}); rejected: {top}. The teacher is too weak for this set"
                    f"{' or its replies are cut: raise teacher.max_tokens' if rejected.get('truncated') else ''}"
                    f"{'; teacher.min_yield=0 trains on what was kept' if kept else ''}")


def build_student(cfg: DictConfig, seeds: list[Problem], fmt, run_dir: Path, store: RunStore | None = None,
                  stop_rule: dict | None = None):
    from transformers import AutoTokenizer

    from fdd.student.training import Student

    tok_dir = run_dir / "tokenizer"
    tokenizer = AutoTokenizer.from_pretrained(tok_dir) if tok_dir.exists() else None
    corpus = [t for p in seeds for t in (p.question, fmt.render(p))]
    model, tokenizer = instantiate(cfg.student.model, corpus=corpus, tokenizer=tokenizer)
    model.config.fdd_rationale = fmt.name  # saved with the student: fdd.solve reads its answers the same way
    model.config.fdd_answer_rule = fmt.answer_rule  # and stops its generations by the same rules
    model.config.fdd_max_source_len = int(cfg.student.get("max_source_len", 256))  # on questions cut alike
    if cfg.get("eval") is not None and cfg.eval.get("max_new_tokens"):
        model.config.fdd_max_new_tokens = int(cfg.eval.max_new_tokens)  # and generates with the same budget
    not_student = ("model", "name_or_path", "gguf_file", "bucket_by_length")  # the factory's and the datamodule's
    kw = {k: v for k, v in OmegaConf.to_container(cfg.student).items() if k not in not_student}
    student = Student(model, tokenizer, **kw)
    if tok_dir.exists():  # resume: the saved tokenizer is the (repaired) one; grow the embeddings to match
        tokenization.restore(model, tokenizer, tok_dir)
    else:  # round 0: lossless targets (fdd/student/tokenization.py), reported as summary.json's `tokenizer`
        name = cfg.student.get("name_or_path") or cfg.student.model._target_.rsplit(".", 1)[-1]
        try:
            report = tokenization.ensure_lossless(student, seeds, fmt, name, cfg.get("max_lossy_targets", 0.01))
        except tokenization.LossyTokenizer as e:
            raise UserError(str(e)) from None
        fits = check_fit(student, seeds, fmt, cfg.get("max_overflow", 0.01))
        if store is not None:
            store.write_summary({**store.summary(), "tokenizer": {k: v for k, v in report.items() if k != "record"},
                                 "context": fits, "stop_rule": stop_rule or {}})
        save_dir(tokenization.WithRecord(student.tokenizer, report.get("record")), tok_dir)
    return student


def check_fit(student, seeds: list[Problem], fmt, max_overflow: float) -> dict:
    """Round 0: do the training examples fit the student's context (fdd/student/context.py)? Stop before
    training, in one line, when more than `max_overflow` of them do not; fewer are cut and counted."""
    context = student.context
    needs = student.needs([{"question": p.question, "target": fmt.render(p)} for p in seeds]) if seeds else [0]
    over = sum(n > context for n in needs) if context else 0
    report = {"context": context, "longest": max(needs), "over": over, "examples": len(seeds)}
    if over > max_overflow * len(seeds):
        raise UserError(f"the student's context is {context} tokens, but round 0's longest prompt + rationale needs "
                        f"{max(needs)} ({over} of {len(seeds)} training examples do not fit, max_overflow="
                        f"{max_overflow:g}): lower student.max_source_len ({student.max_source_len}) + "
                        f"student.max_target_len ({student.max_target_len}) to at most {context} (longer ones are then "
                        "cut and counted), or use a student with a longer context")
    if over:
        log.warning("%d of %d round-0 examples do not fit the student's context of %d tokens (longest: %d): they are "
                    "cut to fit and counted as truncated", over, len(seeds), context, max(needs))
    return report


def stop_rules(seeds: list[Problem], fmt, enabled: bool):
    """The rationale format generation stops by, and what round 0 says about it. The answer rule
    (fdd/rationales.py: stop at the statement that gives the answer) would cut short a student that
    imitates targets setting their answer before their last line; when more than MAX_EARLY_TARGETS of
    the round-0 targets do, the rule is off for the run (the other stop rules stay), said in the log
    and summary.json `stop_rule`. Up to that share, what the rule can change is at most about that
    share of any accuracy, below the noise of every benchmark here."""
    early = [p.id for p in seeds if fmt.early_end(fmt.render(p))]
    report = {"targets": len(seeds), "early": len(early), "first_early": early[0] if early else None,
              "max_early": MAX_EARLY_TARGETS, "answer_rule": True}
    if not early or not enabled:
        return fmt, report
    if len(early) > MAX_EARLY_TARGETS * len(seeds):
        report["answer_rule"] = False
        log.warning("%d of %d round-0 targets set their answer before their last line (first: %s): generation will "
                    "not stop at the answer statement in this run (it stops at EOS, a new Question: or a program that "
                    "cannot parse)", len(early), len(seeds), early[0])
        return fmt.without_answer_rule(), report
    log.warning("%d of %d round-0 targets set their answer before their last line (first: %s; at most %.1f%% "
                "leaves the answer rule on): generation stops there; set eval.stop_early=false to generate to EOS",
                len(early), len(seeds), early[0], 100 * MAX_EARLY_TARGETS)
    return fmt, report


def save_dir(obj, path: Path) -> None:
    """save_pretrained into a temp dir, then rename: a reader never sees half a model."""
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        obj.save_pretrained(tmp)
    except BaseException:  # an error or a stop: leave no half-written copy behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def round_epochs(cfg: DictConfig) -> int:
    """Epochs per round as the trainer counts them: with steps_per_round, one (the datamodule's
    sampler draws exactly that many batches, cycling the set), else epochs_per_round."""
    return 1 if cfg.get("steps_per_round") else cfg.epochs_per_round


def objective(summary: dict) -> float:
    evals = summary.get("final", {}).get("eval", {})
    return sum(e["accuracy"] for e in evals.values()) / len(evals) if evals else 0.0


def is_rank_zero() -> bool:
    """Whether this process is global rank 0 of a multi-process (DDP) run, known before the Trainer
    exists: Lightning's launcher (LOCAL_RANK, NODE_RANK), torchrun (RANK) and srun (SLURM_PROCID) set
    these for the other ranks."""
    return all(int(os.environ.get(k) or 0) == 0 for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def wait_for_rank_zero(store: RunStore, poll_s: float = 2.0) -> None:
    """Ranks > 0 build their student from what rank 0 writes first (round-0 set, tokenizer, a finished
    boundary after a crash). Lightning's launcher starts them only at trainer.fit, when all of it
    exists; torchrun and srun start every rank at once, so wait for it here."""
    while True:
        state = store.state()
        if state.get("seeded") and state.get("trained", -1) <= state["committed"] and \
                (store.dir / "tokenizer").exists():
            return
        time.sleep(poll_s)


def run(cfg: DictConfig) -> float:
    from hydra.core.hydra_config import HydraConfig

    validate(cfg)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # keep the console to fdd's own lines
    run_dir = Path(cfg.resume or HydraConfig.get().runtime.output_dir)
    store = RunStore(run_dir)
    # DDP: ranks > 0 run this too (Lightning re-runs the command with the same hydra.run.dir); they
    # train and generate their share of each boundary: rank 0 holds the lock, talks to the teacher
    # and commits (fdd/rounds/runner.py).
    rank0 = is_rank_zero()
    try:
        if rank0:
            store.lock()
    except PermissionError:
        raise UserError(f"output dir {run_dir} is not writable") from None
    tracker = None
    try:
        summary = store.summary()
        if summary.get("status") == "complete":
            print(f"fdd: run in {run_dir} is already complete; nothing to do")
            return objective(summary)
        if rank0:
            check_config(store, cfg)
        generation_budget(cfg, say=rank0)
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
        fmt = get_format(cfg.rationale)
        with stages.stage("loading the evaluation sets"):
            eval_sets = load_sets(cfg)
            decon = make_decontaminator(cfg, eval_sets)
        with stages.stage("starting the teacher"):
            teacher = instantiate(cfg.teacher, rationale=cfg.rationale, seed=cfg.seed, run_dir=str(run_dir))
            if hasattr(teacher, "preflight") and rank0:
                teacher.preflight()
        if not rank0:
            wait_for_rank_zero(store)
        if not store.state().get("seeded"):
            with stages.stage("round 0"):
                prepare_seed(cfg, store, teacher, fmt, decon)
        seeds = store.load_train(0)
        fmt, stop_rule = stop_rules(seeds, fmt, cfg.eval.get("stop_early", True))
        with stages.stage("building the student"):
            student = build_student(cfg, seeds, fmt, run_dir, store if rank0 else None, stop_rule)
        tracker = Tracker(cfg, store if rank0 else None)
        data = DistillData(fmt.render, student.collate, batch_size=cfg.batch_size, seed=cfg.seed,
                           bucket=cfg.student.get("bucket_by_length", False),
                           steps_per_round=cfg.get("steps_per_round"))
        runner = RoundRunner(teacher=teacher, store=store, data=data, fmt=fmt, feedback=cfg.feedback,
                             eval_sets=eval_sets, eval_cfg=cfg.eval, rounds=cfg.rounds,
                             epochs_per_round=round_epochs(cfg), seed=cfg.seed, seeds=seeds,
                             decontaminator=decon, on_round=tracker.log_round,
                             peak_tflops=cfg.get("peak_tflops"), rare_kinds=rare_kinds(cfg))
        state = store.state()
        done, trained = state["committed"], state.get("trained", -1)
        if trained == done + 1:  # crashed after training round `trained`, before its commit
            with stages.stage(f"round {trained}"):
                resume_round(store, student, data, runner, trained, training_device(cfg.trainer))
            done = trained
        if done < cfg.rounds:
            fit(cfg, store, student, data, runner, done + 1, tracker.trainer_logger)
        else:
            load_weights(student, store.checkpoint_path(done))
        if not rank0:
            return 0.0  # rank 0 writes the final artifacts and returns the objective
        with stages.stage("writing the final student and report"):
            value = finish(cfg, store, student)
            tracker.finish(store.summary())
        return value
    except BaseException:
        if tracker is not None:
            tracker.close(exit_code=1)
        raise
    finally:
        store.unlock()


def load_weights(student, path: Path) -> None:
    state = torch.load(path, map_location="cpu", weights_only=False)
    student.load_state_dict(state["state_dict"])
    student.on_load_checkpoint(state)  # the round's training report (fdd/student/training.py)


def resume_round(store: RunStore, student, data: DistillData, runner: RoundRunner, k: int,
                 device: torch.device | str = "cpu") -> None:
    """Finish the boundary of round k from its trained-weights checkpoint (no retraining), generating
    on `device` (the training device). One process: under DDP the other ranks start later."""
    log.info("resuming: round %d was trained; redoing its evaluation and augmentation on %s", k, device)
    load_weights(student, store.checkpoint_path(k))
    student.to(device)
    runner.stage(k)
    runner.end_round(None, student, k)


class DirectCheckpointIO(TorchCheckpointIO):
    """`torch.save` straight to the file. Lightning's own writer serialises the whole checkpoint into
    memory first (a second copy of weights and optimizer state: 12 bytes per parameter with AdamW)
    to make the write atomic; RunStore.save_trained already writes to a temporary file and renames
    it, so that copy buys nothing here (bench/bench_checkpoint.py: about half the time)."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if storage_options is not None:
            return super().save_checkpoint(checkpoint, path, storage_options)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:  # a Python file: a full disk surfaces as its OSError, not as torch's
            try:                     # "enforce fail at inline_container.cc"
                torch.save(checkpoint, f)
            except RuntimeError as e:
                if isinstance(e.__context__, OSError):
                    raise e.__context__ from None
                raise


def fit(cfg: DictConfig, store: RunStore, student, data: DistillData, runner: RoundRunner, k0: int,
        logger=False) -> None:
    """Train rounds k0..rounds; the RoundRunner commits each round as it ends."""
    runner.stage(k0)
    student.epochs_per_round = round_epochs(cfg)  # sizes the per-round lr schedule
    if k0 > 0:
        log.info("resuming from round %d (rounds 0-%d are committed)", k0, k0 - 1)
    manual = {}
    if student.batch_tokens is not None:  # it accumulates over token-budget micro-batches and clips itself
        student.clip_val, manual = cfg.trainer.get("gradient_clip_val"), {"gradient_clip_val": None}
    plugins = {} if cfg.trainer.get("plugins") else {"plugins": [DirectCheckpointIO()]}  # a user's own: as given
    trainer = instantiate(cfg.trainer, callbacks=[runner], logger=logger, **plugins,
                          max_epochs=(cfg.rounds + 1) * round_epochs(cfg), reload_dataloaders_every_n_epochs=1,
                          enable_checkpointing=False, default_root_dir=str(store.dir), num_sanity_val_steps=0,
                          **manual)
    ckpt = store.checkpoint_path(k0 - 1) if k0 > 0 else None
    # The RoundRunner names each round's stages; this scope marks what escapes Lightning with them.
    # Stop signals: Lightning adds its own SIGTERM handler during fit (it only sets a flag its loops
    # check between batches, and forwards the signal to the processes its DDP launcher started) and
    # calls fdd's after it, which raises `stages.Stopped` at once.
    with stages.stage(None):
        try:
            trainer.fit(student, datamodule=data, ckpt_path=str(ckpt) if ckpt else None)
        except SIGTERMException:  # a rank told of SIGTERM by Lightning's flag (DDP), not by the signal
            raise stages.Stopped(signal.SIGTERM) from None
        except SystemExit as e:  # Lightning 2.6 answers Ctrl-C with sys.exit(1) (its only interrupt path)
            if isinstance(e.__context__, KeyboardInterrupt):  # Ctrl-C or a stop signal: fdd.run says how
                raise e.__context__ from None                  # to resume and exits 130 / 128 + signal
            raise
    if store.state()["committed"] < cfg.rounds:
        raise RuntimeError("training stopped before the last round was committed")


def finish(cfg: DictConfig, store: RunStore, student) -> float:
    from fdd.report.cards import model_card
    from fdd.report.single import format_round_table, write_run_report
    from fdd.report.summaries import atomic_write

    summary = store.summary()
    summary["final"] = {"eval": summary["rounds"][-1]["eval"]}
    config = OmegaConf.to_container(cfg, resolve=True)
    save_dir(student.generation_model(), store.dir / "student")  # trainer=fsdp: the full copy
    student.tokenizer.save_pretrained(store.dir / "student")
    atomic_write(store.dir / "student" / "README.md", model_card(summary, config).encode())
    summary["status"] = "complete"
    summary["objective"] = objective(summary)
    write_run_report(store.dir, summary, config)
    store.write_summary(summary)  # last: a run stopped before this line redoes its export when resumed
    print(format_round_table(summary))
    print(f"fdd: run complete in {store.dir}")
    return summary["objective"]
