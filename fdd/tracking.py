"""Experiment tracking: each round's metrics to the configured logger, with the round as the step.

One `Tracker` per run owns the Lightning logger built from `cfg.logger` (csv, tensorboard, wandb, or
none) and is handed to the Trainer, so Lightning's own metrics (train/loss) land in the same place.
Every logger gets the resolved config once and `round_metrics(entry)` per round with step = round.
W&B gets more, because its UI uses it: `round` as the step metric of every per-round key, a table
of sample problems per round, the accuracy-by-round plot, the final numbers in `run.summary`, runs
grouped by Hydra sweep and tagged by arm, and the same W&B run continued when the run resumes.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from itertools import zip_longest
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger

    from fdd.store import RunStore

log = logging.getLogger("fdd")

TEACHER_KEYS = ("requests", "cached", "failed", "unparsed", "prompt_tokens", "completion_tokens", "cost_usd")
# W&B keys plotted against `round` rather than Lightning's trainer/global_step.
ROUND_STEPPED = ("round/*", "eval/*", "teacher/*", "samples", "accuracy_by_round")
SAMPLE_COLUMNS = ["round", "kind", "id", "question", "teacher_rationale", "student_output", "executed_answer",
                  "gold", "verdict", "error"]
FEEDBACK_SAMPLES, ADDED_SAMPLES = 20, 5


def _is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def round_metrics(entry: Mapping) -> dict[str, float]:
    """Flatten one summary.json round entry into logger keys: every number in it as `round/<key>`
    (one level of nesting as `round/<key>/<sub>`, e.g. round/rejected_by/invalid), the teacher's
    usage as `teacher/*`, accuracies as `eval/<set>/accuracy` and their mean `eval/mean_accuracy`.
    Diagnosis by tag: `eval/<set>/<tag>=<value>/accuracy`, the pool's verdicts as
    `round/pool/<tag>=<value>/<easy|hard|borderline>` and the additions as
    `round/added/<tag>=<value>/<harder|similar>`. Where the student goes wrong (PoT):
    `round/diagnosis/failures`, `round/diagnosis/failure/<syntax|runtime|wrong_value>`,
    `round/diagnosis/first_wrong_kind/<kind>`, `round/diagnosis/first_wrong_position/<n>`.

    The standard teacher-usage keys default to 0, so the last round (which sends no requests) has
    the same columns as the others and plots have no holes."""
    m: dict[str, float] = {}
    for key, value in entry.items():
        if key in ("round", "teacher", "eval"):
            continue
        if _is_num(value):
            m[f"round/{key}"] = value
        elif isinstance(value, Mapping):
            m |= {f"round/{key}/{sub}": v for sub, v in value.items() if _is_num(v)}
    for key, value in {**dict.fromkeys(TEACHER_KEYS, 0), **(entry.get("teacher") or {})}.items():
        if _is_num(value):
            m[f"teacher/{key}"] = value
    accs = []
    for name, e in (entry.get("eval") or {}).items():
        m[f"eval/{name}/accuracy"] = e["accuracy"]
        accs.append(e["accuracy"])
        m |= {f"eval/{name}/{tv}/accuracy": c["accuracy"] for tv, c in _tag_cells(e.get("by_tag")) if "accuracy" in c}
    if accs:
        m["eval/mean_accuracy"] = sum(accs) / len(accs)
    for key, short in (("pool_by_tag", "pool"), ("requests_by_tag", "requests"), ("added_by_tag", "added")):
        m |= {f"round/{short}/{tv}/{label}": n for tv, c in _tag_cells(entry.get(key)) for label, n in c.items()
              if _is_num(n)}
    for sub, counts in (entry.get("diagnosis") or {}).items():  # where the student goes wrong
        if isinstance(counts, Mapping):
            m |= {f"round/diagnosis/{sub}/{k}": n for k, n in counts.items() if _is_num(n)}
    return m


def _tag_cells(by_tag: Any) -> list[tuple[str, Mapping]]:
    """[("kind=rate", cell), ...] from a summary `by_tag` block (fdd/rounds/diagnosis.py)."""
    if not isinstance(by_tag, Mapping):
        return []
    return [(f"{tag}={value}", cell) for tag, values in by_tag.items() if isinstance(values, Mapping)
            for value, cell in values.items() if isinstance(cell, Mapping)]


def _float(x: Any) -> float | None:
    return float(x) if _is_num(x) else None


def sample_rows(k: int, samples: Mapping | None, n_feedback: int = FEEDBACK_SAMPLES,
                n_added: int = ADDED_SAMPLES) -> list[list]:
    """Rows (SAMPLE_COLUMNS) for round k's table: up to `n_feedback` feedback verdicts, hard and easy
    alternating so both show even when one dominates, then up to `n_added` verified new problems.

    `samples` is what the RoundRunner hands over: {"feedback": records as in feedback.jsonl,
    "added": new Problems, "problems": the round's training set (for the teacher's rationales)}."""
    if not samples:
        return []
    rng = random.Random(k)
    by_id = {p.id: p for p in samples.get("problems") or []}
    records = list(samples.get("feedback") or [])
    easy = [r for r in records if r.get("verdict") == "easy"]
    hard = [r for r in records if r.get("verdict") != "easy"]
    rng.shuffle(easy)
    rng.shuffle(hard)
    picked = [r for pair in zip_longest(hard, easy) for r in pair if r is not None][:n_feedback]
    rows = []
    for r in picked:
        p = by_id.get(r.get("id"))
        rows.append([k, "feedback", r.get("id"), r.get("question", ""), p.rationale if p else "",
                     r.get("output", ""), _float(r.get("answer")), _float(r.get("gold")), r.get("verdict"),
                     r.get("error") or ""])
    added = list(samples.get("added") or [])
    rng.shuffle(added)
    for p in added[:n_added]:  # a new problem's answer is its rationale's executed result
        rows.append([k, "added", p.id, p.question, p.rationale, "", _float(p.answer), _float(p.answer),
                     f"new ({p.origin})", ""])
    return rows


def hydra_job() -> tuple[str | None, str | None]:
    """(group, name) for the W&B run of a Hydra multirun job: the sweep dir's last two parts
    (`ablation/2025-01-01_12-00-00`) and the job's own overrides; (None, None) outside a multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None, None
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return None, None
    group = "/".join(Path(str(hc.sweep.dir)).parts[-2:])
    own = [o for o in hc.overrides.task if (key := o.split("=", 1)[0].lstrip("+~")) != "sweep"
           and not key.startswith("hydra.")]
    return group, (",".join(own)[:128] or f"job{hc.job.num}")


def resolved_config(cfg: DictConfig) -> dict:
    """The full config with interpolations resolved, plus Hydra's group choices (`student: t5_tiny`)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        out = OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # noqa: BLE001 - an unresolvable value must not stop the run; log it as text
        out = OmegaConf.to_container(cfg, resolve=False)
    if HydraConfig.initialized():
        choices = HydraConfig.get().runtime.choices
        out["choices"] = {k: v for k, v in choices.items() if not k.startswith("hydra/")}
    return out


def _is_wandb(logger_or_target: Any) -> bool:
    name = logger_or_target if isinstance(logger_or_target, str) else type(logger_or_target).__name__
    return name.rsplit(".", 1)[-1] == "WandbLogger"


class Tracker:
    """The run's logger (from `cfg.logger`) and everything fdd logs to it; a no-op with logger=none.

    Created once the run is known to need work (not for an already complete run); `close()` must be
    called when the run ends, also on failure, because W&B runs stay open until finished and a Hydra
    multirun's next job would otherwise log into this job's run."""

    def __init__(self, cfg: DictConfig, store: RunStore | None = None):
        self.store = store
        self.logger = self._build(cfg)
        self.wandb_run = None
        if self.logger is None:
            return
        from lightning.pytorch.utilities import rank_zero_only

        if _is_wandb(self.logger) and rank_zero_only.rank == 0:  # DDP: other ranks get a dummy run
            run = self.wandb_run = self.logger.experiment
            run.define_metric("round")
            for key in ROUND_STEPPED:
                run.define_metric(key, step_metric="round")
            if store is not None:
                store.write_state(wandb_id=run.id)
        self.logger.log_hyperparams(resolved_config(cfg))

    def _build(self, cfg: DictConfig) -> Logger | None:
        node = cfg.get("logger")
        if not node or "_target_" not in node:
            return None
        kwargs = {}
        if _is_wandb(node._target_):
            group, name = hydra_job()
            if node.get("group") is None and group:
                kwargs["group"] = group
            if node.get("name") is None and name:
                kwargs["name"] = name
            wandb_id = self.store.state().get("wandb_id") if self.store is not None else None
            if node.get("id") is None and wandb_id:
                kwargs["id"] = wandb_id  # resume continues the same W&B run (WandbLogger resumes "allow")
        logger = instantiate(node, **kwargs)
        # Lightning always passes `anonymous`, which wandb 0.31 warns about on every run.
        getattr(logger, "_wandb_init", {}).pop("anonymous", None)
        return logger

    @property
    def trainer_logger(self) -> Logger | bool:
        """What Trainer(logger=...) takes: this logger, or False (None would make Lightning add its own)."""
        return self.logger if self.logger is not None else False

    def log_round(self, entry: dict, samples: Mapping | None = None) -> None:
        """The RoundRunner's on_round: log round `entry` (as in summary.json) with step = round."""
        metrics = round_metrics(entry)
        k = entry["round"]
        if self.wandb_run is not None:
            import wandb

            payload: dict[str, Any] = {"round": k, **metrics}
            if rows := sample_rows(k, samples):
                payload["samples"] = wandb.Table(columns=SAMPLE_COLUMNS, data=rows, allow_mixed_types=True)
            self.wandb_run.log(payload)
        elif self.logger is not None:
            # CSV mixes these rows with Lightning's train/loss rows (step = global step): `round` tells them apart
            extra = {"round": k} if type(self.logger).__name__ == "CSVLogger" else {}
            self.logger.log_metrics({**metrics, **extra}, step=k)
            self.logger.save()
        mean = metrics.get("eval/mean_accuracy")
        log.info("round %d: train %d, easy %s, hard %s, added %s, rejected %s, mean accuracy %s, %.1fs", k,
                 entry["train_size"], entry.get("easy"), entry.get("hard"), entry.get("added"), entry.get("rejected"),
                 f"{mean:.3f}" if mean is not None else "-", entry.get("seconds", 0))

    def finish(self, summary: Mapping) -> None:
        """Run end: the final numbers into W&B's run.summary and accuracy.png as an image, then close."""
        if self.wandb_run is not None:
            import wandb

            self.wandb_run.summary.update(final_summary(summary))
            png = self.store.dir / "accuracy.png" if self.store is not None else None
            rounds = summary.get("rounds") or []
            if png is not None and png.exists():
                self.wandb_run.log({"round": rounds[-1]["round"] if rounds else 0,
                                    "accuracy_by_round": wandb.Image(str(png))})
        self.close(0)

    def close(self, exit_code: int = 0) -> None:
        """Finish the W&B run (exit_code != 0 marks it failed); idempotent."""
        if self.wandb_run is not None:
            run, self.wandb_run = self.wandb_run, None
            run.finish(exit_code=exit_code)


def final_summary(summary: Mapping) -> dict[str, Any]:
    """Flat run-level numbers for W&B's summary: final accuracies, the objective, teacher totals."""
    rounds = summary.get("rounds") or []
    out: dict[str, Any] = {"status": summary.get("status")}
    if rounds:
        out |= {"final/round": rounds[-1].get("round"), "final/train_size": rounds[-1].get("train_size")}
    final = (summary.get("final") or {}).get("eval") or {}
    for name, e in final.items():
        out[f"final/eval/{name}/accuracy"] = e["accuracy"]
    if final:
        out["final/mean_accuracy"] = sum(e["accuracy"] for e in final.values()) / len(final)
    if _is_num(summary.get("objective")):
        out["objective"] = summary["objective"]
    totals: dict[str, float] = {}
    for r in rounds:
        for key, value in (r.get("teacher") or {}).items():
            if _is_num(value):
                totals[key] = totals.get(key, 0) + value
    out |= {f"teacher/total_{k}": v for k, v in totals.items()}
    return out
