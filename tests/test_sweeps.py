"""Sweeps: a real two-job Hydra multirun through the CLI, aggregated by `python -m fdd.report`, and
the objective `fdd.run` returns to sweepers (Optuna maximises it)."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from fdd.run import main
from tests.conftest import compose_cfg, run_cli
from tests.test_tracking import FAST, wandb_env, wandb_run_files

FAST = [o for o in FAST if not o.startswith("rounds=")]  # the sweep command gives rounds=1 itself


def test_multirun_of_two_arms_then_report(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", "feedback=fdd,random", "rounds=1", *FAST, "logger=wandb", f"hydra.sweep.dir={sweep}"],
                   env=wandb_env(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    jobs = {}
    for job in (sweep / "0", sweep / "1"):
        summary = json.loads((job / "summary.json").read_text())
        assert summary["status"] == "complete" and [r["round"] for r in summary["rounds"]] == [0, 1]
        final = [e["accuracy"] for e in summary["final"]["eval"].values()]
        assert summary["objective"] == pytest.approx(sum(final) / len(final))
        arm = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())["feedback"]["name"]
        jobs[arm] = job
        # each job its own W&B run, finished, grouped by the sweep dir, tagged by its arm
        _, wb = wandb_run_files(job)
        assert wb["exit"].exit_code == 0
        assert wb["run"].run_group == f"{tmp_path.name}/sweep" and list(wb["run"].tags) == [arm]
        assert wb["run"].display_name.startswith(f"feedback={arm}")
        assert wb["summary"]["final/mean_accuracy"] == pytest.approx(summary["objective"])
    assert set(jobs) == {"fdd", "random"}
    assert wandb_run_files(jobs["fdd"])[1]["run"].run_id != wandb_run_files(jobs["random"])[1]["run"].run_id

    rep = run_cli([str(sweep)], module="fdd.report", timeout=120)
    assert rep.returncode == 0, rep.stderr[-3000:]
    assert "`feedback=fdd`" in rep.stdout and "`feedback=random`" in rep.stdout and " ± " in rep.stdout
    for name in ("report.md", "report.csv", "accuracy_by_arm.png"):
        assert (sweep / name).stat().st_size > 0, name
    with open(sweep / "report.csv") as f:
        rows = list(csv.DictReader(f))
    means = {(r["arm"], r["round"]) for r in rows if r["benchmark"] == "mean"}
    assert means == {(f"feedback={a}", k) for a in ("fdd", "random") for k in ("0", "1", "final")}
    for arm, job in jobs.items():  # one seed per arm: the mean is that run's, the std 0
        final = json.loads((job / "summary.json").read_text())["objective"]
        row = next(r for r in rows if r["arm"] == f"feedback={arm}" and r["round"] == "final"
                   and r["benchmark"] == "mean")
        assert float(row["mean"]) == pytest.approx(final, abs=1e-6) and float(row["std"]) == 0

    # the entry point returns the objective (what Hydra hands to sweepers such as Optuna): on a
    # finished run dir `fdd.run`'s main function returns it without training again
    job = jobs["fdd"]
    cfg = compose_cfg([*FAST, "rounds=1", "feedback=fdd", "logger=none", f"resume={job}", f"paths.output_dir={job}"])
    value = main.__wrapped__(cfg)
    assert isinstance(value, float)
    assert value == pytest.approx(json.loads((job / "summary.json").read_text())["objective"])
