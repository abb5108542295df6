"""fdd.report: the end-of-run table, report.md/accuracy.png, and the sweep aggregation CLI."""

from __future__ import annotations

import csv
import io
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from fdd.report.cli import main
from fdd.report.single import format_round_table, write_run_report

REPO = Path(__file__).resolve().parents[1]
SWEEPS = REPO / "sweeps"

BENCHES = ("synthetic_1", "synthetic_3")
# ACC[arm][seed][round][bench]: chosen so means and stds are easy to check by hand.
ACC = {
    "fdd": {0: [[0.40, 0.10], [0.60, 0.30], [0.80, 0.50]], 1: [[0.50, 0.20], [0.70, 0.40], [0.90, 0.60]]},
    "random": {0: [[0.40, 0.10], [0.45, 0.15], [0.50, 0.20]], 1: [[0.40, 0.10], [0.55, 0.15], [0.60, 0.30]]},
}
N = 200


def _summary(accs: list[list[float]], status: str = "complete") -> dict:
    rounds = [
        {
            "round": k,
            "train_size": 100 + 50 * k,
            "easy": 60,
            "hard": 40,
            "added": 50,
            "rejected": 3,
            "teacher": {"requests": 100, "cached": 2, "prompt_tokens": 1000, "completion_tokens": 500},
            "eval": {b: {"accuracy": a, "n": N} for b, a in zip(BENCHES, row)},
            "seconds": 12.5,
            "some_future_key": [1, 2],
        }
        for k, row in enumerate(accs)
    ]
    final = {"eval": {b: {"accuracy": a, "n": N} for b, a in zip(BENCHES, accs[-1])}}
    return {"rounds": rounds, "final": final, "status": status}


def _job(path: Path, summary: dict | str, overrides: list[str] | None, feedback: str, seed: int) -> Path:
    (path / ".hydra").mkdir(parents=True)
    text = summary if isinstance(summary, str) else json.dumps(summary)
    (path / "summary.json").write_text(text)
    config = {"seed": seed, "rounds": 2, "feedback": {"name": feedback, "harder_per_easy": 2}}
    (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    if overrides is not None:
        (path / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    return path


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A Hydra multirun of 2 arms × 2 seeds, plus one job still running."""
    root = tmp_path / "multirun" / "2025-01-01" / "12-00-00"
    job = 0
    for arm, seeds in ACC.items():
        for seed, accs in seeds.items():
            overrides = ["sweep=ablation", "rounds=2", f"feedback={arm}", f"seed={seed}"]
            _job(root / str(job), _summary(accs), overrides, arm, seed)
            job += 1
    _job(
        root / str(job),
        _summary(ACC["fdd"][0], status="running"),
        ["rounds=2", "feedback=fdd", "seed=2"],
        "fdd",
        2,
    )
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


def _csv(path: Path) -> dict[tuple[str, str, str], dict]:
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    return {(r["arm"], r["round"], r["benchmark"]): r for r in rows}


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()


def test_aggregate_multirun(sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert main([str(sweep), "--out", str(out)]) == 0
    stdout, stderr = capsys.readouterr()

    rows = _csv(out / "report.csv")
    # 2 arms × (rounds 0..2 + final) × (2 benchmarks + mean)
    assert len(rows) == 2 * 4 * 3
    assert {a for a, _, _ in rows} == {"feedback=fdd", "feedback=random"}  # seed and shared overrides dropped
    r = rows[("feedback=fdd", "1", "synthetic_1")]
    assert float(r["mean"]) == pytest.approx(0.65)
    assert float(r["std"]) == pytest.approx(statistics.stdev([0.6, 0.7]), abs=1e-6)
    assert (r["n_seeds"], r["n"], r["seeds"]) == ("2", str(N), "0;1")
    # the mean over benchmarks is taken per run, then over seeds
    m = rows[("feedback=random", "2", "mean")]
    assert float(m["mean"]) == pytest.approx((0.35 + 0.45) / 2)
    assert float(m["std"]) == pytest.approx(statistics.stdev([0.35, 0.45]), abs=1e-6)
    assert float(rows[("feedback=fdd", "final", "synthetic_3")]["mean"]) == pytest.approx(0.55)

    md = (out / "report.md").read_text()
    assert md.strip() in stdout
    assert "| `feedback=fdd` | 1 | 2 | 65.0 ± 7.1 | 35.0 ± 7.1 | 50.0 ± 7.1 |" in md
    assert "| `feedback=random` | 0 | 2 | 40.0 ± 0.0 | 10.0 ± 0.0 | 25.0 ± 0.0 |" in md
    assert f"synthetic_1 (n={N})" in md
    assert "4 complete runs in 2 arms; 1 skipped" in md
    assert "skipped 1 of 5 run(s)" in stderr and "status 'running'" in stderr
    _assert_png(out / "accuracy_by_arm.png")
    assert not list(out.glob(".*.tmp"))


def test_default_out_single_seed_and_feedback_fallback(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = _job(tmp_path / "run", _summary(ACC["fdd"][1]), None, "fdd", 1)  # no overrides.yaml
    (run / "report.md").write_text("the run's own report")
    assert main([str(run)]) == 0
    assert (run / "report.md").read_text() == "the run's own report"  # a run dir's report is kept
    out = run / "aggregate"
    rows = _csv(out / "report.csv")
    r = rows[("fdd", "2", "synthetic_1")]
    assert (float(r["mean"]), float(r["std"]), r["n_seeds"], r["seeds"]) == (
        pytest.approx(0.9),
        0.0,
        "1",
        "1",
    )
    assert "90.0 ± 0.0" in (out / "report.md").read_text()
    _assert_png(out / "accuracy_by_arm.png")


def test_metric_by_benchmark(sweep: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(sweep), "--metric", "synthetic_3"]) == 0
    _assert_png(sweep / "accuracy_by_arm.png")
    assert main([str(sweep), "--metric", "weighted"]) == 0
    rows = _csv(sweep / "report.csv")
    assert float(rows[("feedback=fdd", "0", "weighted")]["mean"]) == pytest.approx(0.3)


@pytest.mark.parametrize("case", ["missing", "empty", "only_incomplete", "corrupt", "bad_metric", "no_args"])
def test_bad_input_exits_2_with_one_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = [str(tmp_path)]
    if case == "missing":
        args = [str(tmp_path / "nope")]
    elif case == "only_incomplete":
        _job(tmp_path / "0", _summary(ACC["fdd"][0], status="running"), ["seed=0"], "fdd", 0)
    elif case == "corrupt":
        _job(tmp_path / "0", "{not json", ["seed=0"], "fdd", 0)
        _job(tmp_path / "1", "[1, 2]", ["seed=1"], "fdd", 1)
    elif case == "bad_metric":
        _job(tmp_path / "0", _summary(ACC["fdd"][0]), ["seed=0"], "fdd", 0)
        args += ["--metric", "nope"]
    elif case == "no_args":
        args = []
    try:
        rc = main(args)
    except SystemExit as e:  # argparse's own errors exit from inside main
        rc = e.code
    assert rc == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "warning" not in line]
    assert len(errors) == 1 and "error" in errors[0]


def test_cli_module_no_traceback(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "fdd.report", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_format_round_table_fits_and_is_plain() -> None:
    accs = [[0.1 * i + 0.01 * k for i in range(1, 7)] for k in range(3)]
    summary = {
        "rounds": [
            {
                "round": k,
                "train_size": 12000,
                "easy": 9000,
                "hard": 3000,
                "added": 11950,
                "rejected": 50,
                "eval": {f"synthetic_{i + 1}": {"accuracy": a, "n": 200} for i, a in enumerate(row)},
                "seconds": 1234.5,
            }
            for k, row in enumerate(accs)
        ],
        "status": "complete",
    }
    text = format_round_table(summary, color=False)
    assert "\x1b[" not in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "…" not in text  # nothing truncated by rich
    row2 = next(line for line in text.splitlines() if line.split()[:1] == ["2"])
    # round, train, easy, hard, added, rejected, 6 accuracies, mean, seconds
    assert row2.split() == [
        "2",
        "12000",
        "9000",
        "3000",
        "11950",
        "50",
        "12.0",
        "22.0",
        "32.0",
        "42.0",
        "52.0",
        "62.0",
        "37.0",
        "1234",
    ]
    assert "\x1b[" in format_round_table(summary, color=True)
    assert "rnd" in format_round_table({}, color=False)  # empty summary still renders


def test_write_run_report(tmp_path: Path) -> None:
    summary = _summary(ACC["fdd"][0])
    config = {
        "teacher": {"_target_": "fdd.teachers.openai_compat.OpenAITeacher", "model": "gpt-4o-mini"},
        "student": {"model": {"_target_": "fdd.student.models.scratch_t5", "d_model": 128}, "lr": 2e-3},
        "dataset": {"name": "synthetic", "n": 1000},
        "feedback": {"name": "fdd", "harder_per_easy": 2},
        "rounds": 2,
        "seed": 0,
    }
    write_run_report(tmp_path, summary, config)
    md = (tmp_path / "report.md").read_text()
    assert "**Status:** complete" in md
    for text in (
        "- **teacher**: `OpenAITeacher (gpt-4o-mini)`",
        "- **student**: `scratch_t5`",
        "- **dataset**: `synthetic`",
        "- **feedback arm**: `fdd`",
        "- **rounds**: `2`",
        "- **seed**: `0`",
    ):
        assert text in md
    assert "| 1 | 150 | 60 | 40 | 50 | 3 | 60.0 | 30.0 | 45.0 | 12.5 |" in md
    assert "| synthetic_3 | 50.0 | 200 |" in md  # final evaluation
    assert "| **total** | **300** | **6** | **3,000** | **1,500** |" in md  # teacher usage
    _assert_png(tmp_path / "accuracy.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accuracy.png", "report.md"]

    # Hydra's group choices, when the run dir has them, name the groups as the user chose them
    (tmp_path / ".hydra").mkdir()
    choices = {"teacher": "openai", "student": "t5_tiny", "hydra/sweeper": "basic"}
    (tmp_path / ".hydra" / "hydra.yaml").write_text(
        yaml.safe_dump({"hydra": {"runtime": {"choices": choices}}})
    )
    write_run_report(tmp_path, summary, config)
    md = (tmp_path / "report.md").read_text()
    assert "- **teacher**: `openai (gpt-4o-mini)`" in md and "- **student**: `t5_tiny`" in md

    write_run_report(tmp_path / "new", {"rounds": [], "status": "running"})  # no config, no rounds
    assert "**Status:** running" in (tmp_path / "new" / "report.md").read_text()
    _assert_png(tmp_path / "new" / "accuracy.png")


_FAKE_APP = """
import json
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    acc = {"fdd": 0.6, "random": 0.4}[cfg.feedback.name] + 0.01 * cfg.seed
    ev = {"synthetic_3": {"accuracy": acc, "n": 50}}
    summary = {"rounds": [{"round": 0, "eval": ev}], "final": {"eval": ev}, "status": "complete"}
    Path(HydraConfig.get().runtime.output_dir, "summary.json").write_text(json.dumps(summary))


main()
"""


def test_real_hydra_multirun_of_a_sweep_file(tmp_path: Path) -> None:
    """sweeps/sweep/ablation_small.yaml through Hydra's basic sweeper, then the report on its output:
    checks the sweep file and the report against the real multirun layout, without fdd.run."""
    conf = tmp_path / "conf"
    for arm in ("fdd", "random"):
        (conf / "feedback").mkdir(parents=True, exist_ok=True)
        (conf / "feedback" / f"{arm}.yaml").write_text(f"name: {arm}\n")
    (conf / "config.yaml").write_text(
        "defaults:\n  - feedback: fdd\n  - _self_\n  - sweep: null\n"
        f"hydra:\n  searchpath:\n    - file://{SWEEPS}\nseed: 0\n"
    )
    (tmp_path / "app.py").write_text(_FAKE_APP)
    sweep_dir = tmp_path / "multirun"
    cmd = [sys.executable, "app.py", "-m", "sweep=ablation_small", f"hydra.sweep.dir={sweep_dir}"]
    p = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert len(list(sweep_dir.glob("*/summary.json"))) == 6

    report = [sys.executable, "-m", "fdd.report", str(sweep_dir)]
    p = subprocess.run(report, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    rows = _csv(sweep_dir / "report.csv")
    r = rows[("feedback=fdd", "0", "synthetic_3")]
    assert float(r["mean"]) == pytest.approx(0.61) and float(r["std"]) == pytest.approx(0.01, abs=1e-6)
    assert (r["n_seeds"], r["seeds"]) == ("3", "0;1;2")
    assert float(rows[("feedback=random", "0", "mean")]["mean"]) == pytest.approx(0.41)


# ------------------------------------------------------------------------- paired comparison, tags


def test_t_quantile_matches_tables() -> None:
    from fdd.report.compare import t_cdf, t_quantile

    # two-sided 95 % critical values from the standard t table
    for df, t in ((1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (29, 2.0452), (1000, 1.9623)):
        assert t_quantile(0.975, df) == pytest.approx(t, abs=1e-4)
    assert t_quantile(0.995, 5) == pytest.approx(4.0321, abs=1e-4)
    assert t_quantile(0.025, 4) == pytest.approx(-2.7764, abs=1e-4)
    assert t_cdf(0.0, 3) == pytest.approx(0.5) and t_cdf(1.0, 1) == pytest.approx(0.75)  # Cauchy: 1/2 + atan(1)/π


# final accuracy per seed on one benchmark: fdd − random = 1, 2, 3, 4, 5 points
PAIRED = {"fdd": [0.51, 0.42, 0.63, 0.54, 0.45], "random": [0.50, 0.40, 0.60, 0.50, 0.40]}


def _paired_sweep(root: Path) -> Path:
    job = 0
    for arm, finals in PAIRED.items():
        for seed, acc in enumerate(finals):
            rounds = [{"round": 0, "eval": {"synthetic_3": {"accuracy": 0.3, "n": N}}},
                      {"round": 1, "eval": {"synthetic_3": {"accuracy": acc, "n": N}}}]
            summary = {"rounds": rounds, "final": {"eval": rounds[-1]["eval"]}, "status": "complete"}
            _job(root / str(job), summary, [f"feedback={arm}", f"seed={seed}"], arm, seed)
            job += 1
    return root


def test_compare_paired_difference_with_t_interval(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep = _paired_sweep(tmp_path / "sweep")
    assert main([str(sweep), "--compare", "fdd", "random"]) == 0
    stdout = capsys.readouterr().out
    rows = {r["round"]: r for r in csv.DictReader(io.StringIO((sweep / "compare.csv").read_text()))}
    # diffs 0.01..0.05: mean 0.03, sd = sqrt(2.5)·0.01, half-width = t(0.975, 4)·sd/√5 = 2.776445·0.0070711
    half = 2.776445 * statistics.stdev([0.01, 0.02, 0.03, 0.04, 0.05]) / 5**0.5
    r = rows["1"]
    assert (r["n"], r["seeds"]) == ("5", "0;1;2;3;4")
    assert float(r["mean"]) == pytest.approx(0.03)
    assert float(r["ci_low"]) == pytest.approx(0.03 - half, abs=1e-6)
    assert float(r["ci_high"]) == pytest.approx(0.03 + half, abs=1e-6)
    assert [float(d) for d in r["diffs"].split(";")] == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05])
    assert float(rows["0"]["mean"]) == pytest.approx(0.0) and float(rows["0"]["ci_high"]) == pytest.approx(0.0)
    assert "final" in rows
    assert "## Paired difference `feedback=fdd` − `feedback=random`" in stdout
    assert f"| 1 | 5 | +3.0 | [{100 * (0.03 - half):+.1f}, {100 * (0.03 + half):+.1f}] |" in stdout
    _assert_png(sweep / "compare.png")
    # reversed order: the difference flips sign
    assert main([str(sweep), "--compare", "feedback=random", "feedback=fdd"]) == 0
    rows = {r["round"]: r for r in csv.DictReader(io.StringIO((sweep / "compare.csv").read_text()))}
    assert float(rows["1"]["ci_high"]) == pytest.approx(-0.03 + half, abs=1e-6)


def test_compare_pairs_only_shared_seeds_and_rejects_unknown_arms(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    sweep = _paired_sweep(tmp_path / "sweep")
    import shutil

    shutil.rmtree(sweep / "9")  # random seed 4 is missing: fdd seed 4 has no partner
    assert main([str(sweep), "--compare", "fdd", "random"]) == 0
    assert "seeds without a partner left out: 4" in capsys.readouterr().err
    rows = {r["round"]: r for r in csv.DictReader(io.StringIO((sweep / "compare.csv").read_text()))}
    assert rows["1"]["n"] == "4"
    assert main([str(sweep), "--compare", "fdd", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no arm 'nope'" in err[0]


def _tagged(acc_odd: float, acc_even: float) -> dict:
    ev = {"synthetic_3": {"accuracy": (acc_odd + acc_even) / 2, "n": 20,
                          "by_tag": {"kind": {"odd": {"accuracy": acc_odd, "n": 10},
                                              "even": {"accuracy": acc_even, "n": 10}}}}}
    r0 = {"round": 0, "train_size": 10, "easy": 6, "hard": 4, "added": 9, "eval": ev,
          "pool_by_tag": {"kind": {"odd": {"easy": 2, "hard": 3}, "even": {"easy": 4, "hard": 1}}},
          "requests_by_tag": {"kind": {"odd": {"harder": 2, "similar": 3}, "even": {"harder": 4, "similar": 1}}},
          "added_by_tag": {"kind": {"odd": {"harder": 2, "similar": 3}, "even": {"harder": 4, "similar": 0}}}}
    later = {**ev, "synthetic_3": {**ev["synthetic_3"], "by_tag": {"kind": {"odd": {"accuracy": acc_odd + 0.3, "n": 10},
                                                                             "even": {"accuracy": acc_even, "n": 10}}}}}
    return {"rounds": [r0, {"round": 1, "train_size": 19, "eval": later}], "final": {"eval": later},
            "status": "complete"}


def test_tags_in_run_report_and_aggregate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_run_report(tmp_path / "run", _tagged(0.2, 0.6))
    md = (tmp_path / "run" / "report.md").read_text()
    assert "### synthetic_3 by kind" in md
    assert "| kind=even | 10 | 60.0 | 60.0 |" in md and "| kind=odd | 10 | 20.0 | 50.0 |" in md
    assert "| kind=odd | 2/3 | - |" in md  # pool: easy/hard per round (nothing after the last round)
    assert "| kind=even | 4/1 | - |" in md  # requests by the parent's kind: harder/similar
    assert "| kind=even | 4/0 | - |" in md  # additions: harder/similar
    assert "### The feedback chain at round 0" in md  # the four links side by side
    assert "| kind=odd | 3/5 | 2/3 | 2/3 | 20.0 | 50.0 |" in md
    sweep = tmp_path / "sweep"
    for job, (arm, seed, odd) in enumerate([("fdd", 0, 0.2), ("fdd", 1, 0.4), ("random", 0, 0.1)]):
        _job(sweep / str(job), _tagged(odd, 0.6), [f"feedback={arm}", f"seed={seed}"], arm, seed)
    assert main([str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "### Final accuracy by tag" in out
    assert f"| kind=odd | 60.0 ± {100 * statistics.stdev([0.2, 0.4]):.1f} | 40.0 ± 0.0 |" in out
    sd = f"{100 * statistics.stdev([0.2, 0.4]):.1f}"
    assert "### `feedback=fdd` by round" in out
    assert f"| kind=odd | 30.0 ± {sd} (e/h 2/3; asked 2/3; kept 2/3) | 60.0 ± {sd} |" in out  # the chain's counts
    rows = {(r["arm"], r["round"], r["value"]): r for r in csv.DictReader(io.StringIO(
        (sweep / "report_by_tag.csv").read_text()))}
    r = rows[("feedback=fdd", "0", "even")]
    assert (float(r["accuracy_mean"]), r["n_seeds"], r["pool_easy_mean"], r["pool_hard_mean"], r["added_harder_mean"],
            r["asked_similar_mean"]) == (pytest.approx(0.6), "2", "4", "1", "4", "1")
    assert rows[("feedback=random", "final", "odd")]["accuracy_mean"] == "0.400000"
    assert main([str(sweep), "--compare", "fdd", "random", "--metric", "kind=odd"]) == 0  # a tag's pooled accuracy
    out = capsys.readouterr().out
    final = {r["round"]: r for r in csv.DictReader(io.StringIO((sweep / "compare.csv").read_text()))}["final"]
    assert "Accuracy on kind=odd" in out and float(final["mean"]) == pytest.approx(0.5 - 0.4)  # fdd 0.5 (seed 0)
    assert main([str(sweep), "--compare", "fdd", "random", "--metric", "kind=none"]) == 2


def test_compare_says_what_a_null_is_worth(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--compare: the smallest difference detectable at 80 % power from the observed spread, and
    each arm's realised routing read from the runs' feedback.jsonl `sent` records."""
    sweep = _paired_sweep(tmp_path / "sweep")
    verdicts = ["easy", "easy"] + ["hard"] * 8  # p = 0.2
    sends = {"fdd": [["harder"], ["harder"]] + [["similar"]] * 8,  # by the verdicts
             "random": [["harder"], ["similar"], ["harder"]] + [["similar"]] * 7}  # 1 harder to a hard, 1 similar to an easy
    for job in sweep.iterdir():
        arm = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())["feedback"]["name"]
        (job / "rounds" / "round_0").mkdir(parents=True)
        (job / "rounds" / "round_0" / "feedback.jsonl").write_text("".join(
            json.dumps({"id": f"p{i}", "verdict": v, "sent": s}) + "\n" for i, (v, s) in enumerate(zip(verdicts, sends[arm]))))
    assert main([str(sweep), "--compare", "fdd", "random"]) == 0
    stdout = capsys.readouterr().out
    row = {r["round"]: r for r in csv.DictReader(io.StringIO((sweep / "compare.csv").read_text()))}["1"]
    sd = statistics.stdev([0.01, 0.02, 0.03, 0.04, 0.05])
    mde = (2.776445 + 0.940965) * sd / 5**0.5  # t(0.975, 4) + t(0.8, 4)
    assert float(row["mde80"]) == pytest.approx(mde, abs=1e-5)
    assert f"with n = 5 pairs and a spread of {100 * sd:.1f} points, these runs detect a true difference of " \
           f"{100 * mde:.1f} points 80 % of the time" in stdout
    assert "Routing of `feedback=fdd`: 0.0 % of its teacher requests went against the student's verdicts (mean " \
           "over 5 runs); solved share of the pool p = 20.0 %, 2p(1 − p) = 32.0 %." in stdout
    assert "Routing of `feedback=random`: 20.0 % of its teacher requests" in stdout
