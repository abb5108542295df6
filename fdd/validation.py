"""Bad input found from the composed config alone, before any model library is imported: `fdd.run`
checks it first, so a mistyped override fails in about a second with one line, not after Lightning
and torch have loaded."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from fdd.rounds import feedback, verdicts
from fdd.student import files as model_files


class UserError(Exception):
    """Bad input: reported in one line with a non-zero exit."""


def validate(cfg: DictConfig) -> None:
    if cfg.rounds < 0:
        raise UserError(f"rounds must be >= 0, got {cfg.rounds}")
    if cfg.epochs_per_round < 1:
        raise UserError(f"epochs_per_round must be >= 1, got {cfg.epochs_per_round}")
    if cfg.feedback.name not in feedback.ARMS:
        raise UserError(f"feedback.name must be one of {', '.join(feedback.ARMS)}, got {cfg.feedback.name!r}")
    if cfg.feedback.pool not in feedback.POOLS:
        raise UserError(f"feedback.pool must be one of {', '.join(feedback.POOLS)}, got {cfg.feedback.pool!r}")
    if cfg.get("steps_per_round") is not None and (not isinstance(cfg.steps_per_round, int)
                                                   or cfg.steps_per_round < 1):
        raise UserError(f"steps_per_round must be null or an integer >= 1, got {cfg.steps_per_round!r}")
    if problem := verdicts.check(cfg.feedback):
        raise UserError(problem)
    if cfg.feedback.harder_per_easy < 0 or cfg.feedback.similar_per_hard < 0:
        raise UserError("feedback.harder_per_easy and feedback.similar_per_hard must be >= 0")
    strategy = cfg.trainer.get("strategy")
    if cfg.student.get("reinit_each_round") and "fsdp" in str(
            strategy.get("_target_", "") if OmegaConf.is_dict(strategy) else strategy).lower():
        raise UserError("student.reinit_each_round=true is not supported with trainer=fsdp")
    if cfg.student.get("batch_tokens") and cfg.trainer.get("accumulate_grad_batches", 1) != 1:
        raise UserError("student.batch_tokens accumulates gradients itself, over the whole batch_size batch: set "
                        "trainer.accumulate_grad_batches=1 and batch_size to the effective batch")
    batch = cfg.eval.get("batch_size", 64)
    if batch != "auto" and not (isinstance(batch, int) and batch >= 1):
        raise UserError(f"eval.batch_size must be an integer >= 1 or auto, got {batch!r}")
    if not 0 <= cfg.teacher.get("min_yield", 0) <= 1:
        raise UserError(f"teacher.min_yield must be in [0, 1], got {cfg.teacher.min_yield}")
    if "name_or_path" in cfg.student or OmegaConf.is_missing(cfg.student, "name_or_path"):  # `in`: False if ???
        check_student_files(cfg.student)


def check_student_files(student: DictConfig) -> None:
    """A pretrained student's files exist (fdd/student/files.py). A GGUF file given by its absolute path
    alone is its own directory: name_or_path is set to the folder that holds it."""
    gguf = student.get("gguf_file")
    if OmegaConf.is_missing(student, "name_or_path"):
        if not (where := model_files.folder("", gguf)):
            raise UserError("this student needs student.name_or_path=HUB_ID_OR_LOCAL_DIR (or an absolute "
                            "student.gguf_file=FILE)")
        student.name_or_path = where
    if problem := model_files.check(student.name_or_path, gguf):
        raise UserError(problem)
