"""Per-round metrics to every configured logger, with the round as the step."""

from __future__ import annotations

import logging

log = logging.getLogger("fdd")


def round_metrics(entry: dict) -> dict[str, float]:
    m = {f"round/{k}": entry[k] for k in ("train_size", "easy", "hard", "added", "rejected", "seconds")
         if isinstance(entry.get(k), int | float)}
    for key, value in (entry.get("teacher") or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            m[f"teacher/{key}"] = value
    accs = []
    for name, e in entry.get("eval", {}).items():
        m[f"eval/{name}/accuracy"] = e["accuracy"]
        accs.append(e["accuracy"])
    if accs:
        m["eval/mean_accuracy"] = sum(accs) / len(accs)
    return m


def log_round(trainer, entry: dict) -> None:
    metrics = round_metrics(entry)
    k = entry["round"]
    for logger in trainer.loggers:
        if type(logger).__name__ == "WandbLogger":
            run = logger.experiment
            run.define_metric("round")
            run.define_metric("round/*", step_metric="round")
            run.define_metric("eval/*", step_metric="round")
            run.define_metric("teacher/*", step_metric="round")
            run.log({"round": k, **metrics})
        else:
            logger.log_metrics(metrics, step=k)
            logger.save()
    mean = metrics.get("eval/mean_accuracy")
    log.info("round %d: train %d, easy %s, hard %s, added %s, rejected %s, mean accuracy %s, %.1fs", k,
             entry["train_size"], entry.get("easy"), entry.get("hard"), entry.get("added"), entry.get("rejected"),
             f"{mean:.3f}" if mean is not None else "-", entry.get("seconds", 0))
