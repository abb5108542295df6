"""Lossless targets (fdd/student/tokenization.py): every student preset's tokenizer, as a stand-in built like
the real one (tests/tokenizer_standins.py), reproduces PoT, CoT and EoT targets of the synthetic
family and of GSM8K's gold programs after round 0's check and repair; the repair survives
save_pretrained -> AutoTokenizer; an unrepairable tokenizer stops the run in one line."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, PreTrainedTokenizerFast

from fdd import pipeline
from fdd.datasets import load
from fdd.rationales import get_format
from fdd.store import RunStore
from fdd.student import tokenization
from fdd.student.models import seq2seq
from fdd.student.training import Student
from fdd.teachers.gold import GoldTeacher
from fdd.teachers.symbolic import SymbolicTeacher
from tests.conftest import CONF, TINY, compose_cfg, crash_at, run_cli, run_pipeline
from tests.tokenizer_standins import FAMILIES, PRESET_FAMILY, build_model, default_corpus, save_model

PRESETS = sorted(p.stem for p in (CONF / "student").glob("*.yaml"))
TINY_MODEL = [o for o in TINY if o.startswith("student.model.")]
TINY_PRETRAINED = [o for o in TINY if not o.startswith("student.model.")]
PROGRAM = "def f(x):\n    d = {'a': x}\n    if x < 5:\n        return d['a']\n    return 2 * x\nans = f(6)"


@pytest.fixture(scope="module")
def standins(tmp_path_factory) -> dict[str, Path]:
    corpus = default_corpus()
    return {fam: save_model(fam, tmp_path_factory.mktemp(f"standin_{fam}"), corpus) for fam in FAMILIES}


def _eot(program: str) -> str:
    """A straight-line PoT program (`x = x * 2` reassignments) as equations: each assignment a new name."""
    version: dict[str, str] = {}
    out = []
    for n, line in enumerate(program.strip().splitlines()):
        lhs, rhs = (s.strip() for s in line.split("=", 1))
        rhs = re.sub(r"[A-Za-z_]\w*", lambda m: version.get(m.group(), m.group()), rhs)
        version[lhs] = lhs if lhs == "ans" else f"{lhs}_{n}"
        out.append(f"{version[lhs]} = {rhs}")
    return "\n".join(out)


def _verified(problems, texts, fmt_name):
    fmt = get_format(fmt_name)
    answers = fmt.answers(texts)
    kept = [dataclasses.replace(p, rationale=t) for p, t, a in zip(problems, texts, answers)
            if a.value is not None and abs(a.value - p.answer) < 1e-6]
    assert len(kept) >= 0.8 * len(problems), f"{fmt_name}: too few valid targets"
    return kept


@pytest.fixture(scope="module")
def targets() -> dict[tuple[str, str], list]:
    """{(dataset, format): problems whose rationale is a verified target}"""
    probs = load("synthetic", n=150, seed=5, min_steps=1, max_steps=6).problems
    pot = [ts[0] for ts in SymbolicTeacher(error_rate=0.0).annotate(probs)]
    cot = [ts[0] for ts in SymbolicTeacher(error_rate=0.0, rationale="cot").annotate(probs)]
    out = {("synthetic", "pot"): _verified(probs, pot, "pot"), ("synthetic", "cot"): _verified(probs, cot, "cot"),
           ("synthetic", "eot"): _verified(probs, [_eot(t) for t in pot], "eot")}
    gsm = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "train.jsonl"
    if gsm.exists():
        g = load("gsm8k", path=str(gsm), limit=200, seed=0).problems
        for fmt in ("pot", "cot", "eot"):
            cand = GoldTeacher(rationale=fmt).annotate(g)
            pairs = [(p, ts[0]) for p, ts in zip(g, cand) if ts]
            out[("gsm8k", fmt)] = _verified([p for p, _ in pairs], [t for _, t in pairs], fmt)
    return out


def _cfg(preset: str, standins: dict, request):
    over = [f"student={preset}"]
    if preset == "t5_tiny":
        over += TINY_MODEL
    elif preset == "smollm2_135m_local":  # the real thing, not a stand-in (saved once as a plain dir)
        over += [f"student.name_or_path={request.getfixturevalue('smollm2_dir')}", "student.gguf_file=null"]
    else:
        over.append(f"student.name_or_path={standins[PRESET_FAMILY[preset]]}")
    return compose_cfg(over)


def test_unrepaired_flan_t5_standin_is_lossy(standins, targets):
    """The stand-in behaves like FLAN-T5: newlines and indentation vanish, { } < become <unk>."""
    tok = AutoTokenizer.from_pretrained(standins["t5"])
    assert type(tok).__name__ == "T5Tokenizer"
    ids = tok(PROGRAM)["input_ids"]
    assert tok.unk_token_id in ids
    assert tok.decode(ids, skip_special_tokens=True) == "def f(x): d = 'a': x if x  5: return d['a'] return 2 * x ans = f(6)"
    model, tok = seq2seq([], name_or_path=str(standins["t5"]))
    result = tokenization.check(Student(model, tok), targets[("synthetic", "pot")], get_format("pot"))
    multi_line = sum("\n" in p.rationale for p in targets[("synthetic", "pot")])
    assert multi_line > 100 and len(result.lossy) == multi_line  # every program of 2+ lines breaks
    assert result.lossy[0][2].count("\n") == 0


# GSM8K for every preset is slow (-m slow); by default for one preset of each stand-in kind.
CASES = [("synthetic", p) for p in PRESETS] + [
    pytest.param("gsm8k", p, marks=() if p in ("seq2seq", "causal", "gpt2", "qwen2_5_0_5b", "t5_tiny", "smollm2_135m_local")
                 else pytest.mark.slow) for p in PRESETS]


@pytest.mark.parametrize(("dataset", "preset"), CASES)
def test_every_preset_round_trips_after_repair(preset, dataset, standins, targets, tmp_path, request):
    if (dataset, "pot") not in targets:
        pytest.skip("GSM8K train file not found under ../shared/data")
    cfg = _cfg(preset, standins, request)  # the format is build_student's argument: one config serves all three
    for fmt_name in ("pot", "cot", "eot"):
        problems = targets[(dataset, fmt_name)]
        run_dir = tmp_path / fmt_name
        run_dir.mkdir()
        fmt = get_format(fmt_name)
        store = RunStore(run_dir)
        student = pipeline.build_student(cfg, problems, fmt, run_dir, store)
        report = store.summary()["tokenizer"]  # summary.json's round-0 tokenizer report
        assert report["lossy_after_repair"] == 0 and report["targets"] == len(problems)
        # the run's saved tokenizer, loaded as a resumed run (and fdd.solve) loads it
        again = Student(student.model, AutoTokenizer.from_pretrained(run_dir / "tokenizer"),
                        max_target_len=student.max_target_len)
        for s in (student, again):
            result = tokenization.check(s, problems, fmt)
            assert result.lossy == [], f"{preset} {dataset} {fmt_name}: {result.lossy[0]}"
            if fmt_name != "cot":  # programs and equations come back character for character
                assert result.changed == 0, f"{preset} {dataset} {fmt_name}"
        assert student.model.get_input_embeddings().num_embeddings >= len(student.tokenizer)
        family = PRESET_FAMILY.get(preset)
        if family == "t5" and fmt_name != "cot":  # FLAN-T5 needed the repair
            assert report["repaired"] and report["lossy"] > 0
            assert (run_dir / "tokenizer" / tokenization.RECORD).exists()
        elif family != "t5":  # byte-level, byte fallback and t5_tiny's own tokenizer: nothing to repair
            assert not report["repaired"] and report["lossy"] == 0
            assert not (run_dir / "tokenizer" / tokenization.RECORD).exists()


def test_repair_survives_save_and_plain_transformers(standins, targets, tmp_path):
    problems = targets[("synthetic", "pot")] + [dataclasses.replace(targets[("synthetic", "pot")][0], id="prog",
                                                                    rationale=PROGRAM, answer=12.0)]
    model, tok = seq2seq([], name_or_path=str(standins["t5"]))
    base = len(tok)
    student = Student(model, tok)
    report = tokenization.ensure_lossless(student, problems, get_format("pot"), "t5-standin")
    assert report["lossy"] == len(problems) - sum("\n" not in p.rationale for p in problems)
    assert report["repaired"] and report["lossy_after_repair"] == 0 and report["changed_after_repair"] == 0
    assert set(report["added_tokens"]) == {"\n", "\t", "{", "}", "<"}
    new = report["record"]["ids"]
    emb = model.get_input_embeddings().weight
    assert torch.allclose(emb[new], emb[:base].mean(0).expand(len(new), -1))
    assert torch.allclose(model.get_output_embeddings().weight[new],
                          model.get_output_embeddings().weight[:base].mean(0).expand(len(new), -1))
    model.save_pretrained(tmp_path)
    student.tokenizer.save_pretrained(tmp_path)
    tok2 = AutoTokenizer.from_pretrained(tmp_path)
    assert tok2.decode(tok2(PROGRAM)["input_ids"], skip_special_tokens=True) == PROGRAM
    model2 = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert model2.get_input_embeddings().num_embeddings >= len(tok2)
    out = model2.generate(**tok2(["Ava has 3 apples."], return_tensors="pt"), max_new_tokens=5)
    assert isinstance(tok2.batch_decode(out, skip_special_tokens=True)[0], str)


def test_collapsing_normalizer_gets_space_run_tokens(standins, targets):
    """Read verbatim from tokenizer.json (normalizer included, which collapses runs of spaces, as
    SentencePiece does), indentation needs its own tokens: the repair adds them."""
    tok = PreTrainedTokenizerFast(tokenizer_file=str(standins["t5"] / "tokenizer.json"), eos_token="</s>",
                                  pad_token="<pad>", unk_token="<unk>")
    assert tok.decode(tok("a    b")["input_ids"], skip_special_tokens=True) == "a b"
    model, _ = seq2seq([], tokenizer=tok, name_or_path=str(standins["t5"]))
    problems = [dataclasses.replace(targets[("synthetic", "pot")][0], id="prog", rationale=PROGRAM, answer=12.0)]
    student = Student(model, tok)
    report = tokenization.ensure_lossless(student, problems, get_format("pot"), "t5-verbatim")
    assert report["lossy_after_repair"] == 0 and report["changed_after_repair"] == 0
    assert {" " * 4, " " * 8} <= set(report["added_tokens"])


def _bert_style_t5(out: Path, corpus: list[str]) -> Path:
    """A T5 whose tokenizer is BERT-uncased WordPiece (as some community T5 checkpoints ship): its
    decoder puts spaces around every piece, so no added token can give a program back."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"], show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="$A [SEP]", special_tokens=[("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", eos_token="[SEP]")
    build_model("t5", len(fast)).save_pretrained(out)
    fast.save_pretrained(out)
    return out


def test_unrepairable_tokenizer_stops_before_training_in_one_line(tmp_path):
    student_dir = _bert_style_t5(tmp_path / "bert_t5", default_corpus())
    run_dir = tmp_path / "run"
    res = run_cli([f"hydra.run.dir={run_dir}", "student=seq2seq", f"student.name_or_path={student_dir}",
                   *TINY_PRETRAINED], timeout=300)
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("fdd: error:")]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert f"student {student_dir}" in lines[0] and "even repaired" in lines[0] and "first: " in lines[0]
    assert not (run_dir / "tokenizer").exists()  # stopped before the student was saved or trained


def test_flan_t5_like_student_through_the_pipeline_then_resume(standins, tmp_path, monkeypatch, capsys):
    """`student=seq2seq` with the FLAN-T5-like stand-in: repaired at round 0 (reported in
    summary.json), crashed after round 0's training, resumed (the embeddings regrown before the
    checkpoint loads), exported with a tokenizer that gives programs back, answered by fdd.solve."""
    from fdd.solve import main as solve_main
    over = ["student=seq2seq", f"student.name_or_path={standins['t5']}", *TINY_PRETRAINED, "rounds=0"]
    # round 0 trained and checkpointed, then a crash
    crash_at("evaluate:0", lambda: run_pipeline(tmp_path, over), tmp_path, monkeypatch)
    summary, student = run_pipeline(tmp_path, over)
    assert summary["status"] == "complete"
    rep = summary["tokenizer"]
    assert rep["repaired"] and rep["lossy"] > 0 and rep["lossy_after_repair"] == 0
    assert rep["student"] == str(standins["t5"]) and "\n" in rep["added_tokens"]
    record = json.loads((tmp_path / "tokenizer" / tokenization.RECORD).read_text())
    emb = student.model.get_input_embeddings().weight
    assert emb.shape[0] >= len(student.tokenizer) and record["ids"][-1] < emb.shape[0]
    tok = AutoTokenizer.from_pretrained(tmp_path / "student")
    assert tok.decode(tok(PROGRAM)["input_ids"], skip_special_tokens=True) == PROGRAM
    capsys.readouterr()
    assert solve_main(["--student", str(tmp_path / "student"), "--max-new-tokens", "16", "--device", "cpu",
                       "Ava has 3 apples. Ava buys 2 more apples. How many apples does Ava have now?"]) == 0
    assert "\nanswer: " in capsys.readouterr().out
