"""Pretrained students (seq2seq and causal) through the real pipeline, their collation, schedule and
batching, and `python -m fdd.solve` on the exported student. Every model is a tiny random one saved
with save_pretrained into a temp dir: nothing is downloaded."""

from __future__ import annotations

import json
import logging
import random

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

from fdd.datasets import load
from fdd.problems import read_problems
from fdd.rationales import get_format
from fdd.solve import main as solve_main
from fdd.student.data import DistillData
from fdd.student.models import causal, train_tokenizer
from fdd.student.training import Student, causal_batch
from fdd.teachers.symbolic import SymbolicTeacher
from tests.conftest import TINY, run_cli, run_pipeline

# TINY shrinks t5_tiny's built-from-config model; pretrained students take their size from the checkpoint.
TINY_PRETRAINED = [o for o in TINY if not o.startswith("student.model.")]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    probs = load("synthetic", n=60, seed=7, min_steps=1, max_steps=4).problems
    rationales = [ts[0] for ts in SymbolicTeacher(error_rate=0.0).annotate(probs)]
    return [p.question for p in probs] + rationales


def byte_bpe(corpus: list[str], specials: list[str], vocab_size: int = 320) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def gpt2_like(corpus: list[str]) -> tuple[GPT2LMHeadModel, PreTrainedTokenizerFast]:
    """GPT-2 style: one <|endoftext|> (BOS = EOS), nothing added to a text, no pad token."""
    tok = PreTrainedTokenizerFast(tokenizer_object=byte_bpe(corpus, ["<|endoftext|>"]),
                                  bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    config = GPT2Config(vocab_size=len(tok), n_positions=512, n_embd=32, n_layer=1, n_head=2,
                        bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    return GPT2LMHeadModel(config), tok


def llama_like(corpus: list[str]) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """Llama style: a BOS in front of every text, a separate EOS, no pad token."""
    raw = byte_bpe(corpus, ["<unk>", "<s>", "</s>"])
    raw.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=1, eos_token_id=2, pad_token_id=None)
    torch.manual_seed(0)
    return LlamaForCausalLM(config), tok


def t5_like(corpus: list[str]) -> tuple[T5ForConditionalGeneration, PreTrainedTokenizerFast]:
    tok = train_tokenizer(corpus, 320)
    config = T5Config(vocab_size=len(tok), d_model=32, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2,
                      d_kv=16, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    torch.manual_seed(0)
    return T5ForConditionalGeneration(config), tok


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, corpus) -> dict:
    """Local stand-ins for hub checkpoints: {"seq2seq": dir, "causal": dir}."""
    out = {}
    for name, build in (("seq2seq", t5_like), ("causal", llama_like)):
        d = tmp_path_factory.mktemp(name)
        model, tok = build(corpus)
        if name == "causal":  # like Qwen2.5's bf16 checkpoint: the student must still train in fp32
            model = model.to(torch.bfloat16)
        model.save_pretrained(d)
        tok.save_pretrained(d)
        out[name] = d
    return out


def run_student(tmp_path, overrides: list[str]):
    """The real pipeline in this process; returns (summary, the trained Student)."""
    return run_pipeline(tmp_path, [*TINY_PRETRAINED, "rounds=2", *overrides])


def check_run(tmp_path, summary: dict, student) -> None:
    assert summary["status"] == "complete"
    assert [r["round"] for r in summary["rounds"]] == [0, 1, 2]
    for k in range(3):
        train = read_problems(tmp_path / "rounds" / f"round_{k}" / "train.jsonl")
        assert student.seen_ids[k] == {p.id for p in train}, f"round {k}"
        assert summary["rounds"][k]["training"]["examples"] == len(train)
        assert 0.0 <= summary["rounds"][k]["training"]["padding_fraction"] < 1.0


def solve_cli(student_dir, tmp_path, capsys) -> None:
    """`python -m fdd.solve` on an exported student: --file through the real CLI, a question in-process."""
    q = "Ava has 12 apples. Ava buys 5 more apples. How many apples does Ava have now?"
    probs = tmp_path / "probs.jsonl"
    probs.write_text(json.dumps({"id": "p1", "question": q}) + "\n" + json.dumps({"question": "What is 2 + 3?"}) + "\n")
    res = run_cli(["--student", str(student_dir), "--max-new-tokens", "24", "--file", str(probs)],
                  module="fdd.solve", timeout=120)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["id"] for r in lines] == ["p1", "2"]
    for r in lines:
        assert set(r) == {"id", "question", "rationale", "answer", "error"}
        assert (r["answer"] is None) == (r["error"] is not None)
    capsys.readouterr()
    assert solve_main(["--student", str(student_dir), "--max-new-tokens", "24", q]) == 0
    out = capsys.readouterr().out
    assert out.startswith(lines[0]["rationale"]) and "\nanswer: " in out  # the same greedy rationale


def test_seq2seq_student_two_rounds_export_and_solve(tmp_path, checkpoints, caplog, capsys):
    caplog.set_level(logging.INFO, logger="fdd")
    summary, student = run_student(tmp_path, ["student=seq2seq", f"student.name_or_path={checkpoints['seq2seq']}",
                                              "student.max_source_len=12", "student.optimizer=adafactor"])
    check_run(tmp_path, summary, student)
    # questions longer than 12 tokens were cut: counted per round and warned about, never silent
    assert all(r["training"]["truncated_source"] > 0 for r in summary["rounds"])
    assert any("truncated" in r.message and r.levelno == logging.WARNING for r in caplog.records)
    model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "student")
    assert model.config.is_encoder_decoder and model.config.fdd_rationale == "pot"
    assert model.config.fdd_max_new_tokens == 64  # the run's evaluation budget: fdd.solve's default
    AutoTokenizer.from_pretrained(tmp_path / "student")
    solve_cli(tmp_path / "student", tmp_path, capsys)


def test_causal_student_two_rounds_export_and_solve(tmp_path, checkpoints, caplog, capsys):
    caplog.set_level(logging.INFO, logger="fdd")
    summary, student = run_student(tmp_path, [
        "student=causal", f"student.name_or_path={checkpoints['causal']}", "student.lr=1e-3",
        "student.gradient_checkpointing=true", "trainer.accumulate_grad_batches=2"])
    check_run(tmp_path, summary, student)
    assert student.model.dtype == torch.float32
    assert any("no pad token" in r.message for r in caplog.records)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "student")
    tok = AutoTokenizer.from_pretrained(tmp_path / "student")
    assert model.config.fdd_prompt == "Question: {question}\nAnswer:\n"
    assert tok.pad_token is not None and model.get_input_embeddings().num_embeddings >= len(tok)
    assert model.generation_config.eos_token_id == tok.eos_token_id != tok.pad_token_id  # generation stops at EOS
    solve_cli(tmp_path / "student", tmp_path, capsys)


@pytest.mark.parametrize("build", [gpt2_like, llama_like])
def test_causal_collation_masks_exactly_prompt_and_padding(build, corpus, tmp_path):
    model, tok = build(corpus)
    d = str(tmp_path)
    model.save_pretrained(d)
    tok.save_pretrained(d)
    model, tok = causal(corpus, name_or_path=d)
    student = Student(model, tok, max_source_len=64, max_target_len=64)
    batch = [{"id": "a", "question": "Ava has 3 cups.", "target": "ans = 3"},
             {"id": "b", "question": "Ben has 12 cups and loses 5 of them. How many are left?",
              "target": "cups = 12\ncups = cups - 5\nans = cups"}]
    out = student.collate(batch)
    gen = causal_batch(tok, [b["question"] for b in batch], student.prompt, 64)  # what generation feeds in
    for i, b in enumerate(batch):
        prompt = gen["input_ids"][i][gen["attention_mask"][i].bool()].tolist()
        answer = tok(b["target"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        n, length = len(prompt), len(prompt) + len(answer)
        assert out["input_ids"][i, :length].tolist() == prompt + answer  # training sees the generation prompt
        assert (out["labels"][i, :n] == -100).all()                       # prompt: out of the loss
        assert out["labels"][i, n:length].tolist() == answer              # rationale + EOS: in it
        assert (out["labels"][i, length:] == -100).all()                  # padding: out of it
        assert (out["attention_mask"][i] == (torch.arange(out["input_ids"].shape[1]) < length)).all()
    if build is llama_like:
        assert out["input_ids"][0, 0].item() == tok.bos_token_id
    assert tok.decode(gen["input_ids"][0], skip_special_tokens=True).endswith("Answer:\n")


def test_truncation_is_counted(corpus):
    model, tok = t5_like(corpus)
    student = Student(model, tok, max_source_len=6, max_target_len=5)
    batch = [{"id": "a", "question": "Ava has 3 cups.", "target": "cups = 12 - 5\nans = cups * 2"},
             {"id": "b", "question": "Hi", "target": "ans = 1"}]
    out = student.collate(batch)
    assert out["stats"]["truncated_source"] == 1 and out["stats"]["truncated_target"] == 1
    assert out["input_ids"].shape[1] == 6 and out["labels"].shape[1] <= 5
    assert out["input_ids"][0, -1].item() == tok.eos_token_id  # truncation keeps the EOS, like the tokenizer's


def test_bucketing_lowers_padding(corpus):
    model, tok = t5_like(corpus)
    student = Student(model, tok)
    probs = load("synthetic", n=60, seed=3, min_steps=1, max_steps=6).problems
    rationales = SymbolicTeacher(error_rate=0.0).annotate(probs)
    for p, r in zip(probs, rationales):
        p.rationale = r[0]

    def padding(bucket: bool) -> float:
        data = DistillData(get_format("pot").render, student.collate, batch_size=8, bucket=bucket)
        data.set_problems(probs)
        ids, tokens, padded = [], 0, 0
        for batch in data.train_dataloader():
            ids += batch["ids"]
            tokens, padded = tokens + batch["stats"]["tokens"], padded + batch["stats"]["padded"]
        assert sorted(ids) == sorted(p.id for p in probs)  # every problem exactly once either way
        return 1 - tokens / padded

    random_, bucketed = padding(False), padding(True)
    assert bucketed < 0.5 * random_, (random_, bucketed)


def test_per_round_linear_schedule(corpus):
    model, tok = t5_like(corpus)
    s = Student(model, tok, lr=1.0, scheduler="linear", warmup_steps=2, min_lr_ratio=0.1)
    s._round_start, s._round_steps = 0, 10
    f = [s.lr_factor(i) for i in range(10)]
    assert f[:2] == [0.5, 1.0] and all(a > b for a, b in zip(f[2:], f[3:])) and 0.1 <= f[-1] < 0.3
    s._round_start, s._round_steps = 10, 20  # the next round restarts: warm-up, then decay again
    assert s.lr_factor(10) == 0.5 and s.lr_factor(11) == 1.0 and s.lr_factor(29) < 0.2
    const = Student(model, tok, warmup_steps=4)
    assert [const.lr_factor(i) for i in (0, 3, 100)] == [0.25, 1.0, 1.0]
    opt = Student(model, tok, optimizer="adafactor").configure_optimizers()["optimizer"]
    assert type(opt).__name__ == "Adafactor"
    with pytest.raises(ValueError, match="student.optimizer"):
        Student(model, tok, optimizer="sgd")


def test_solve_reports_bad_input_in_one_line(tmp_path):
    res = run_cli(["--student", str(tmp_path / "nope"), "What is 1 + 1?"], module="fdd.solve", timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [f"fdd.solve: error: student dir {tmp_path / 'nope'} does not exist"]


def test_pretrained_student_without_name_fails_clearly(tmp_path):
    res = run_cli([*TINY_PRETRAINED, "student=causal", f"hydra.run.dir={tmp_path}"], timeout=120)
    assert res.returncode != 0
    assert res.stderr.strip() == ("fdd: error: this student needs student.name_or_path=HUB_ID_OR_LOCAL_DIR (or an "
                                  "absolute student.gguf_file=FILE)")


def test_batch_order_depends_on_the_seed_alone():
    from fdd.student.data import RoundBatches

    lengths = [random.Random(i).randint(5, 50) for i in range(40)]
    epochs = [RoundBatches(lengths, 8, seed, bucket=True).batches() for seed in (0, 1, 1)]
    assert epochs[0] != epochs[1] and epochs[1] == epochs[2]  # same seed, same order: safe to re-iterate
