"""Benchmark loaders on the real files in ../shared/data, the generic jsonl loader, and the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from fdd import datasets
from fdd.datasets import files
from tests.conftest import ROOT

COUNTS = [  # (name, options, records in the file)
    ("gsm8k", {"split": "train"}, 7473),
    ("gsm8k", {"split": "test"}, 1319),
    ("svamp", {}, 1000),
    ("asdiv", {}, 2305),
    ("asdiv", {"subset": "asdiv_a"}, 1218),
    ("multiarith", {}, 600),
    ("addsub", {}, 395),
    ("singleeq", {}, 508),
]


@pytest.mark.parametrize("name, options, count", COUNTS, ids=[f"{n}-{o}" for n, o, _ in COUNTS])
def test_counts_and_records(shared_data, name: str, options: dict, count: int) -> None:
    loaded = datasets.load(name, data_dir=shared_data, **options)
    assert len(loaded.problems) + len(loaded.failed) == count
    ids = [p.id for p in loaded.problems] + [f["id"] for f in loaded.failed]
    assert len(set(ids)) == count, "ids must be unique"
    for p in loaded.problems:
        assert isinstance(p.answer, float) and math.isfinite(p.answer), p
        assert p.question.strip() and p.source == name
        assert p.origin == "seed" and p.round == 0
    for f in loaded.failed:
        assert f["id"] and f["reason"]


def test_gsm8k_fields(shared_data) -> None:
    train = datasets.load("gsm8k", split="train", data_dir=shared_data)
    first = train.problems[0]
    assert first.id == "gsm8k-train-00000" and first.answer == 72.0
    assert first.question.startswith("Natalia sold clips") and first.rationale.endswith("#### 72")
    assert not train.failed
    comma = next(p for p in train.problems if "#### 1,600" in p.rationale)  # thousands separator in the gold
    assert comma.answer == 1600.0


def test_svamp_question_is_body_plus_question(shared_data) -> None:
    raw = json.loads((shared_data / "svamp" / "SVAMP.json").read_text())[0]
    p = datasets.load("svamp", data_dir=shared_data).problems[0]
    assert p.id == raw["ID"] == "chal-1"
    assert p.question == raw["Body"].strip() + " " + raw["Question"].strip() and p.answer == 51.0


def test_asdiv_answers(shared_data) -> None:
    loaded = datasets.load("asdiv", data_dir=shared_data)
    by_id = {p.id: p for p in loaded.problems}
    failed = {f["id"]: f["reason"] for f in loaded.failed}
    assert by_id["nluds-0001"].answer == 9.0 and by_id["nluds-0001"].question.endswith("in the basket?")
    assert by_id["nluds-1331"].answer == pytest.approx(-1 / 3)  # "-(1/3)"
    assert by_id["nluds-1312"].answer == 2.5  # "5/2"
    assert failed["nluds-0850"].startswith("ratio")  # "5:6"
    assert failed["nluds-1295"].startswith("several answers")
    assert failed["nluds-0030"].startswith("not a number")  # "Mrs. Hilt"
    assert len(loaded.problems) == 2095
    subset = datasets.load("asdiv", subset="asdiv_a", data_dir=shared_data)
    assert subset.name == "asdiv_a" and len(subset.problems) == 1218


def test_multiarith_ids_and_answers(shared_data) -> None:
    p = datasets.load("multiarith", data_dir=shared_data).problems[0]
    assert p.id == "multiarith-0" and p.answer == 39.0 and p.question.startswith("For Halloween")
    assert datasets.load("addsub", data_dir=shared_data).problems[0].answer == 43.0  # a numeric string


def test_path_and_limit(shared_data) -> None:
    loaded = datasets.load("gsm8k", split="test", path=shared_data / "gsm8k" / "test.jsonl", limit=5, seed=3)
    assert len(loaded.problems) == 5
    again = datasets.load("gsm8k", split="test", path=str(shared_data / "gsm8k" / "test.jsonl"), limit=5, seed=3)
    assert [p.id for p in loaded.problems] == [p.id for p in again.problems]


def test_bad_locations(tmp_path, monkeypatch) -> None:
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        datasets.load("gsm8k", path=tmp_path / "nope.jsonl")
    monkeypatch.setattr(files, "_hub_may_answer", lambda: False)
    with pytest.raises(FileNotFoundError, match=r"gsm8k/train.jsonl not found.*openai/gsm8k"):
        datasets.load("gsm8k", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="addsub"):
        datasets.load("addsub", data_dir=tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    with pytest.raises(ValueError, match="bad.json"):
        datasets.load("svamp", path=bad)


def test_bad_arguments(shared_data) -> None:
    with pytest.raises(ValueError, match="unknown split"):
        datasets.load("gsm8k", split="dev", data_dir=shared_data)
    with pytest.raises(ValueError, match="unknown option"):
        datasets.load("svamp", data_dir=shared_data, subsett="x")
    with pytest.raises(ValueError, match="unknown subset"):
        datasets.load("asdiv", data_dir=shared_data, subset="b")
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load("nosuchset")


def _write_custom(tmp_path):
    records = [
        {"uid": "q-1", "meta": {"prompt": "How many apples does she have now?"}, "ctx": "Ann has 3 apples and buys 4.",
         "gold": "7"},
        {"uid": "q-2", "meta": {"prompt": "How much did he pay?"}, "gold": "$1,000.50", "work": "1000.5 #### 1000.5"},
        {"uid": "q-3", "meta": {"prompt": "What is left?"}, "gold": "He has 5 - 2 = 3 left.\n#### 3"},
        {"uid": "q-4", "meta": {"prompt": "What is the ratio?"}, "gold": "3:4"},
        {"uid": "q-5", "meta": {}, "gold": 4},
        {"meta": {"prompt": "No id here?"}, "gold": 2.5},
    ]
    path = tmp_path / "custom.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_generic_jsonl_loader(tmp_path) -> None:
    path = _write_custom(tmp_path)
    loaded = datasets.load("jsonl", path=path, question_field="meta.prompt", answer_field="gold", body_field="ctx",
                           id_field="uid", rationale_field="work")
    by_id = {p.id: p for p in loaded.problems}
    assert by_id["q-1"].question == "Ann has 3 apples and buys 4. How many apples does she have now?"
    assert by_id["q-1"].answer == 7.0 and by_id["q-2"].answer == 1000.5 and by_id["q-3"].answer == 3.0
    assert by_id["q-2"].rationale == "1000.5 #### 1000.5" and by_id["q-1"].source == "custom"
    assert by_id["custom-train-00005"].answer == 2.5  # no id field: positional id
    reasons = {f["id"]: f["reason"] for f in loaded.failed}
    assert set(reasons) == {"q-4", "q-5"}
    assert "not a number" in reasons["q-4"] and "question" in reasons["q-5"]
    as_array = tmp_path / "custom.json"
    as_array.write_text(json.dumps([json.loads(line) for line in path.read_text().splitlines()]))
    again = datasets.load("jsonl", path=as_array, question_field="meta.prompt", answer_field="gold", id_field="uid")
    assert len(again.problems) == 4
    with pytest.raises(ValueError, match="path= is required"):
        datasets.load("jsonl")


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fdd.datasets", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_cli(shared_data, tmp_path) -> None:
    listing = _cli()
    assert listing.returncode == 0 and {"gsm8k", "svamp", "asdiv", "multiarith", "jsonl"} <= set(listing.stdout.split())

    out = _cli("asdiv", "--data-dir", str(shared_data))
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["count"] == 2305 and summary["parsed"] + len(summary["failed"]) == 2305
    assert summary["sample"]["id"] == "nluds-0001" and {"id", "reason"} <= set(summary["failed"][0])

    env_dir = _cli("svamp", env={"FDD_DATA_DIR": str(shared_data)})  # default --data-dir from the environment
    assert json.loads(env_dir.stdout)["parsed"] == 1000

    custom = _write_custom(tmp_path)
    mapped = _cli("jsonl", "--path", str(custom), "--question-field", "meta.prompt", "--answer-field", "gold",
                  "--body-field", "ctx", "--id-field", "uid")
    assert mapped.returncode == 0, mapped.stderr
    assert json.loads(mapped.stdout)["parsed"] == 4

    gold = _cli("gsm8k", "--split", "test", "--data-dir", str(shared_data), "--check-gold")
    assert gold.returncode == 0, gold.stderr
    summary = json.loads(gold.stdout)
    assert summary["count"] == 1319 and summary["gold_ok"] + len(summary["gold_failed"]) == 1319
    assert summary["gold_ok"] >= 1312 and all(f["reason"] for f in summary["gold_failed"])

    for args in (["gsm8k", "--path", str(tmp_path / "missing.jsonl")], ["nosuchset"], ["gsm8k", "--split", "dev"]):
        err = _cli(*args, "--data-dir", str(shared_data))
        assert err.returncode == 2 and err.stdout == ""
        assert len(err.stderr.strip().splitlines()) == 1, err.stderr


HUB = [("gsm8k", {"split": "test"}, 1319), ("svamp", {}, 1000), ("asdiv", {}, 2305), ("multiarith", {}, 600)]


@pytest.mark.hub
@pytest.mark.skipif(os.environ.get("FDD_TEST_HUB") != "1", reason="needs the HF hub: set FDD_TEST_HUB=1")
@pytest.mark.parametrize("name, options, count", HUB, ids=[n for n, _, _ in HUB])
def test_hub(tmp_path, name: str, options: dict, count: int) -> None:
    loaded = datasets.load(name, data_dir=tmp_path, **options)  # empty data_dir: falls through to the hub
    assert len(loaded.problems) + len(loaded.failed) == count
    assert all(isinstance(p.answer, float) for p in loaded.problems)
