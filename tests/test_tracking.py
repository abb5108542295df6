"""Experiment tracking: a real offline W&B run read back from its transaction log, the CSV and
TensorBoard loggers' per-round rows, and the per-round table of sample problems."""

from __future__ import annotations

import csv
import json
import struct
import zlib
from pathlib import Path

import pytest
import yaml

from fdd.problems import Problem
from fdd.tracking import SAMPLE_COLUMNS, Tracker, round_metrics, sample_rows
from tests.conftest import TINY, compose_cfg, run_cli

# TINY, smaller still (the tests here run three whole runs): half the problems, two evaluation sets.
FAST = [o for o in TINY if not o.startswith(("logger=", "dataset.n=", "eval.max_new_tokens="))] + [
    "dataset.n=24", "eval.max_new_tokens=32", *(f"~eval.sets.synthetic_{k}" for k in (2, 3, 4, 5))]
ROUND_KEYS = ("round/train_size", "round/easy", "round/hard", "round/added", "round/rejected", "round/seconds")
TEACHER_KEYS = ("teacher/requests", "teacher/prompt_tokens", "teacher/completion_tokens", "teacher/cost_usd")


# ------------------------------------------------------------------------------ reading a .wandb file

def wandb_env(tmp: Path) -> dict:
    """Offline W&B with every wandb folder under tmp: no key, no network, nothing written to ~."""
    return {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp / "wandb_dir"), "WANDB_CACHE_DIR": str(tmp / "wandb_cache"),
            "WANDB_CONFIG_DIR": str(tmp / "wandb_config"), "WANDB_DATA_DIR": str(tmp / "wandb_data"),
            "WANDB_SILENT": "true"}


def read_wandb_log(path: Path) -> list:
    """The records of a `run-*.wandb` transaction log, as wandb's own protobuf `Record`s.

    wandb 0.31 writes this file from its Go core and no longer ships a Python reader
    (`wandb.sdk.internal.datastore` is gone), so this reads the framing it documents: a 7-byte
    header `:W&B`, magic 0xBEE1, version 0, then LevelDB-log records (crc32 of type+data, uint16
    length, uint8 type FULL/FIRST/MIDDLE/LAST) in 32 KiB blocks."""
    from wandb.proto import wandb_internal_pb2 as pb

    block = 32768
    data = path.read_bytes()
    assert struct.unpack("<4sHB", data[:7]) == (b":W&B", 0xBEE1, 0), "not a W&B transaction log"
    records, parts, pos = [], b"", 7
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer: too short for a record header
            pos += block - pos % block
            continue
        crc, n, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:  # zero padding up to the next block
            pos += block - pos % block
            continue
        body = data[pos + 7:pos + 7 + n]
        assert zlib.crc32(body, zlib.crc32(bytes([kind]))) == crc, f"bad checksum at byte {pos}"
        pos += 7 + n
        parts = body if kind in (1, 2) else parts + body
        if kind in (1, 4):
            records.append(pb.Record.FromString(parts))
    return records


def _items(updates) -> dict:
    """{key: value} from history/summary/config items; a media value (nested_key [key, field]) as a dict."""
    out: dict = {}
    for u in updates:
        *parents, leaf = [u.key] if u.key else list(u.nested_key)
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = json.loads(u.value_json)
    return out


def wandb_run_files(run_dir: Path) -> tuple[Path, dict]:
    """The one offline W&B run under run_dir, parsed: run, config, metrics, history, summary, exit."""
    found = list(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(found) == 1, found
    out: dict = {"config": {}, "metrics": {}, "history": [], "summary": {}, "run": None, "exit": None}
    for r in read_wandb_log(found[0]):
        kind = r.WhichOneof("record_type")
        if kind == "run":
            out["run"] = r.run
            out["config"] |= _items(r.run.config.update)
        elif kind == "config":
            out["config"] |= _items(r.config.update)
        elif kind == "metric":
            out["metrics"][r.metric.name or r.metric.glob_name] = r.metric.step_metric
        elif kind == "history":
            out["history"].append(_items(r.history.item))
        elif kind == "summary":
            out["summary"] |= _items(r.summary.update)
        elif kind == "exit":
            out["exit"] = r.exit
    return found[0].parent, out


# ------------------------------------------------------------------------------------- end to end

def test_offline_wandb_run_logs_every_round(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli([*FAST, "logger=wandb", f"hydra.run.dir={run_dir}"], env=wandb_env(tmp_path), timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete" and len(summary["rounds"]) == 2
    wb_dir, wb = wandb_run_files(run_dir)
    assert wb["exit"] is not None and wb["exit"].exit_code == 0
    assert list(wb["run"].tags) == ["fdd"] and wb["run"].run_group == ""  # tagged by arm; no sweep, no group
    assert json.loads((run_dir / "state.json").read_text())["wandb_id"] == wb["run"].run_id

    # every per-round key is plotted against `round`
    assert "round" in wb["metrics"]
    for glob in ("round/*", "eval/*", "teacher/*", "samples"):
        assert wb["metrics"][glob] == "round", glob

    # one history row per round holding every per-round metric, equal to summary.json's numbers
    rows = [h for h in wb["history"] if "round/train_size" in h]
    assert [h["round"] for h in rows] == [0, 1]
    for h, r in zip(rows, summary["rounds"]):
        evals = {f"eval/{name}/accuracy": e["accuracy"] for name, e in r["eval"].items()}
        assert set(evals) == {"eval/synthetic_1/accuracy", "eval/synthetic_6/accuracy"}
        missing = {*ROUND_KEYS, *TEACHER_KEYS, *evals, "eval/mean_accuracy"} - h.keys()
        assert not missing, (r["round"], missing)
        assert {k: h[k] for k in evals} == evals
        assert h["eval/mean_accuracy"] == pytest.approx(sum(evals.values()) / len(evals))
        for key in ("train_size", "easy", "hard", "added", "rejected"):
            assert h[f"round/{key}"] == r[key], key
        assert h["teacher/requests"] == r["teacher"].get("requests", 0)
    assert rows[0]["teacher/requests"] == rows[0]["round/easy"] + rows[0]["round/hard"] > 0
    assert rows[1]["teacher/requests"] == 0  # the last round sends no requests, but still has the key

    # a table of sample problems for the round that had feedback
    table = rows[0]["samples"]
    assert table["_type"] == "table-file" and "samples" not in rows[1]
    content = json.loads((wb_dir / "files" / table["path"]).read_text())
    assert content["columns"] == SAMPLE_COLUMNS
    kinds = [row[1] for row in content["data"]]
    r0 = summary["rounds"][0]
    assert kinds.count("feedback") == min(20, r0["pool"]) and kinds.count("added") == min(5, r0["added"])
    for row in content["data"]:
        rec = dict(zip(SAMPLE_COLUMNS, row))
        assert rec["round"] == 0 and rec["question"] and rec["teacher_rationale"] and rec["gold"] is not None
        assert rec["verdict"] in ("easy", "hard", "new (harder)", "new (similar)")
        if rec["kind"] == "feedback":
            assert isinstance(rec["student_output"], str)

    # the accuracy plot, the resolved config and the final numbers
    images = [h["accuracy_by_round"] for h in wb["history"] if "accuracy_by_round" in h]
    assert len(images) == 1 and images[0]["_type"] == "image-file"
    assert (wb_dir / "files" / images[0]["path"]).stat().st_size > 1000
    cfg = wb["config"]
    assert cfg["feedback"]["name"] == "fdd" and cfg["dataset"]["n"] == 24
    assert cfg["rounds"] == 1 and cfg["choices"]["logger"] == "wandb"
    assert cfg["paths"]["output_dir"] == str(run_dir)  # resolved, not ${hydra:...}
    final = summary["final"]["eval"]
    assert wb["summary"]["final/mean_accuracy"] == pytest.approx(summary["objective"])
    assert wb["summary"]["status"] == "complete" and wb["summary"]["final/round"] == 1
    for name, e in final.items():
        assert wb["summary"][f"final/eval/{name}/accuracy"] == e["accuracy"]


# ------------------------------------------------------------------------------------- in process

def _entry(k: int, last: bool = False) -> dict:
    teacher = {} if last else {"requests": 10, "cached": 0, "prompt_tokens": 0, "completion_tokens": 0,
                               "cost_usd": 0.0}
    return {"round": k, "train_size": 40 + 10 * k, "easy": 0 if last else 6, "hard": 0 if last else 4,
            "added": 0 if last else 9, "rejected": 0 if last else 1, "teacher": teacher, "seconds": 1.5,
            "eval": {"a": {"accuracy": 0.25 * k, "n": 8}, "b": {"accuracy": 0.5, "n": 8}}}


@pytest.mark.parametrize("logger", ["csv", "tensorboard"])
def test_csv_and_tensorboard_get_each_round_with_round_as_step(tmp_path, logger):
    cfg = compose_cfg([f"logger={logger}", f"paths.output_dir={tmp_path}", "feedback=random"])
    tracker = Tracker(cfg)
    for k in range(3):
        tracker.log_round(_entry(k, last=k == 2))
    tracker.finish({"rounds": [_entry(k) for k in range(3)], "status": "complete"})
    if logger == "csv":
        with open(tmp_path / "logs" / "metrics.csv") as f:
            rows = [r for r in csv.DictReader(f) if r.get("eval/mean_accuracy")]
        assert [(int(r["step"]), int(r["round"])) for r in rows] == [(0, 0), (1, 1), (2, 2)]
        assert [float(r["eval/mean_accuracy"]) for r in rows] == [0.25, 0.375, 0.5]
        for key in (*ROUND_KEYS, *TEACHER_KEYS, "eval/a/accuracy"):
            assert all(r[key] != "" for r in rows), key
        hparams = yaml.safe_load((tmp_path / "logs" / "hparams.yaml").read_text())
        assert hparams["feedback"]["name"] == "random" and hparams["paths"]["output_dir"] == str(tmp_path)
    else:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
        for key in (*ROUND_KEYS, *TEACHER_KEYS, "eval/mean_accuracy", "eval/b/accuracy"):
            assert [e.step for e in acc.Scalars(key)] == [0, 1, 2], key
        assert [e.value for e in acc.Scalars("eval/mean_accuracy")] == pytest.approx([0.25, 0.375, 0.5])


def test_logger_none_tracks_nothing(tmp_path):
    tracker = Tracker(compose_cfg(["logger=none", f"paths.output_dir={tmp_path}"]))
    assert tracker.logger is None and tracker.trainer_logger is False
    tracker.log_round(_entry(0))
    tracker.finish({"rounds": [], "status": "complete"})
    assert not any(tmp_path.iterdir())


def test_round_metrics_fill_teacher_keys_of_the_last_round():
    m = round_metrics({**_entry(3, last=True), "rejected_by": {"invalid": 2}, "added_by": {"harder": 5},
                       "training": {"examples": 40, "note": "text"}, "status": "ok"})
    assert m["teacher/requests"] == 0 and m["teacher/cost_usd"] == 0
    assert m["round/rejected_by/invalid"] == 2 and m["round/added_by/harder"] == 5
    assert m["round/training/examples"] == 40 and m["round/train_size"] == 70
    assert not {"round/training/note", "round/status", "round/round", "round/teacher", "round/eval"} & m.keys()
    assert m["eval/mean_accuracy"] == pytest.approx((0.75 + 0.5) / 2)


def test_sample_rows_show_both_verdicts_and_new_problems():
    problems = [Problem(id=f"p{i}", question=f"q{i}?", answer=float(i), rationale=f"ans = {i}") for i in range(30)]
    records = [{"id": p.id, "output": "ans = 1", "answer": 1.0 if i < 25 else None, "error": None if i < 25 else "boom",
                "correct": i >= 27, "question": p.question, "gold": p.answer, "verdict": "easy" if i >= 27 else "hard"}
               for i, p in enumerate(problems)]
    added = [Problem(id=f"n{i}", question=f"new{i}?", answer=2.0, rationale="ans = 2", origin="harder") for i in range(8)]
    rows = [dict(zip(SAMPLE_COLUMNS, r)) for r in sample_rows(2, {"feedback": records, "added": added,
                                                                  "problems": problems})]
    fb = [r for r in rows if r["kind"] == "feedback"]
    assert len(fb) == 20 and sum(r["verdict"] == "easy" for r in fb) == 3  # all 3 easy ones show
    assert len([r for r in rows if r["kind"] == "added"]) == 5
    for r in fb:
        p = problems[int(r["id"][1:])]
        assert (r["question"], r["teacher_rationale"], r["gold"], r["round"]) == (p.question, p.rationale, p.answer, 2)
    assert sample_rows(0, None) == [] and sample_rows(0, {"feedback": [], "added": []}) == []


def test_wandb_run_is_finished_per_run_and_continued_on_resume(tmp_path, monkeypatch):
    """A failed run's W&B run is closed as failed; resuming the run dir continues the same W&B run;
    another run dir gets its own (a multirun's jobs share one process)."""
    from fdd.store import RunStore

    for key, value in wandb_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    ids = []
    for name, exit_code in (("a", 1), ("a", 0), ("b", 0)):
        store = RunStore(tmp_path / name)
        store.dir.mkdir(exist_ok=True)
        tracker = Tracker(compose_cfg(["logger=wandb", f"paths.output_dir={store.dir}"]), store)
        ids.append(tracker.wandb_run.id)
        tracker.log_round(_entry(0))
        tracker.close(exit_code)
        tracker.close(exit_code)  # idempotent
    assert ids[0] == ids[1] != ids[2]
    logs = sorted((tmp_path / "a").glob("wandb/offline-run-*/run-*.wandb"))
    assert len(logs) == 2
    codes = [r.exit.exit_code for f in logs for r in read_wandb_log(f) if r.WhichOneof("record_type") == "exit"]
    assert sorted(codes) == [0, 1]


def test_ddp_ranks_other_than_zero_log_nothing(tmp_path, monkeypatch):
    from lightning.pytorch.utilities import rank_zero_only

    for key, value in wandb_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    tracker = Tracker(compose_cfg(["logger=wandb", f"paths.output_dir={tmp_path / 'run'}"]))
    assert tracker.wandb_run is None
    tracker.log_round(_entry(0))
    tracker.finish({"rounds": [_entry(0)], "status": "complete"})
    assert not (tmp_path / "run").exists()


def test_round_metrics_by_tag():
    entry = {"round": 0, "train_size": 10, "easy": 6, "hard": 4,
             "eval": {"gsm8k": {"accuracy": 0.5, "n": 4, "by_tag": {"steps": {"2": {"accuracy": 0.25, "n": 2},
                                                                              "3": {"accuracy": 0.75, "n": 2}}}}},
             "pool_by_tag": {"type": {"Addition": {"easy": 3, "hard": 1, "borderline": 2}}},
             "added_by_tag": {"type": {"Addition": {"harder": 3, "similar": 2}}}}
    m = round_metrics(entry)
    assert m["eval/gsm8k/accuracy"] == 0.5 and m["eval/mean_accuracy"] == 0.5  # tags do not enter the mean
    assert m["eval/gsm8k/steps=2/accuracy"] == 0.25 and m["eval/gsm8k/steps=3/accuracy"] == 0.75
    assert (m["round/pool/type=Addition/easy"], m["round/pool/type=Addition/borderline"]) == (3, 2)
    assert m["round/added/type=Addition/similar"] == 2
    assert not any(k.startswith("round/pool_by_tag") for k in m)
