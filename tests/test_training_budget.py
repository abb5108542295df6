"""Training that fills the device (fdd/student/training.py, throughput.py): token-budget micro-batches
whose accumulated step equals one step over the whole batch, the recipe's batch kept, and MFU counted
from the right FLOPs."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

from fdd.datasets import load
from fdd.rationales import get_format
from fdd.student.models import train_tokenizer
from fdd.student.throughput import peak_flops, throughput, training_flops
from fdd.student.training import Student
from fdd.teachers.symbolic import SymbolicTeacher
from tests.conftest import TINY, compose_cfg, run_cli, run_pipeline


@pytest.fixture(scope="module")
def items():
    probs = load("synthetic", n=12, min_steps=1, max_steps=5, seed=9).problems
    fmt = get_format("pot")
    for p, ts in zip(probs, SymbolicTeacher(error_rate=0).annotate(probs)):
        p.rationale = ts[0]
    return [{"id": p.id, "question": p.question, "target": fmt.render(p)} for p in probs]


def build(kind: str, items):
    tok = train_tokenizer([t for it in items for t in (it["question"], it["target"])], 300)
    torch.manual_seed(0)
    if kind == "t5":
        model = T5ForConditionalGeneration(T5Config(vocab_size=len(tok), d_model=32, d_ff=64, num_layers=1,
                                                    num_decoder_layers=1, num_heads=2, d_kv=16, pad_token_id=0,
                                                    eos_token_id=1, decoder_start_token_id=0, dropout_rate=0.0))
    else:
        model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                             num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                             max_position_embeddings=512, bos_token_id=1, eos_token_id=1,
                                             pad_token_id=0))
    return model, tok


@pytest.mark.parametrize("kind", ["t5", "causal"])
def test_micro_batches_give_the_gradient_of_the_whole_batch(kind, items):
    model, tok = build(kind, items)
    student = Student(model, tok, batch_tokens=120)
    batch = student.collate(items)
    parts = student.micro_batches(batch)
    assert len(parts) >= 3  # the budget splits the batch
    widths = [p["attention_mask"].shape[1] + (0 if kind == "causal" else p["labels"].shape[1]) for p in parts]
    assert all(len(p["input_ids"]) == 1 or len(p["input_ids"]) * w <= 120 for p, w in zip(parts, widths))
    assert sum(len(p["input_ids"]) for p in parts) == len(items)
    assert sum(int((p["labels"] != -100).sum()) for p in parts) == int((batch["labels"] != -100).sum())
    whole = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    whole.loss.backward()
    want = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    loss = student.accumulate(batch)
    assert torch.isclose(loss, whole.loss.detach(), rtol=1e-5)
    for name, p in model.named_parameters():
        assert torch.allclose(p.grad, want[name], rtol=1e-4, atol=1e-7), name


def test_throughput_counts_an_encoder_decoder_by_its_halves(items):
    t5, _ = build("t5", items)
    llama, _ = build("causal", items)
    emb = t5.get_input_embeddings().weight.numel()
    enc = sum(p.numel() for p in t5.get_encoder().parameters()) - emb
    dec = sum(p.numel() for p in t5.get_decoder().parameters()) - emb + t5.get_output_embeddings().weight.numel()
    assert training_flops(t5, 100, 50) == 6 * (enc * 100 + dec * 50)
    body = sum(p.numel() for p in llama.parameters()) - llama.get_input_embeddings().weight.numel()
    assert training_flops(llama, 100, 50) == 6 * body * 150
    assert peak_flops(torch.device("cpu")) is None and peak_flops(torch.device("cpu"), 10) == 1e13
    report = {"tokens": 150, "source_tokens": 100, "target_tokens": 50}
    got = throughput(llama, report, 2.0, torch.device("cpu"), peak_tflops=1e-6)
    assert got["tokens_per_s"] == 75.0 and got["mfu"] == round(6 * body * 150 / (2.0 * 1e6), 4)
    assert "mfu" not in throughput(llama, report, 2.0, torch.device("cpu"))  # no known peak on a CPU


def test_a_run_with_token_budget_batches(tmp_path):
    summary, student = run_pipeline(tmp_path, [*TINY, "rounds=1", "student.batch_tokens=300"])
    assert summary["status"] == "complete" and not student.automatic_optimization
    for r in summary["rounds"]:
        steps = r["training"]["optimizer_steps"]
        assert steps == -(-r["train_size"] // 16)  # one step per batch_size batch, as without the budget
        assert r["training"]["tokens_per_s"] > 0 and r["training"]["tokens"] > 0


def test_token_budget_refuses_the_trainers_accumulation(tmp_path):
    res = run_cli([*TINY, "student.batch_tokens=300", "trainer.accumulate_grad_batches=2",
                   f"hydra.run.dir={tmp_path}"], timeout=60)
    assert res.returncode == 2 and "trainer.accumulate_grad_batches=1" in res.stderr
    assert len([line for line in res.stderr.splitlines() if line.strip()]) == 1
    assert compose_cfg(["student.batch_tokens=300"]).student.batch_tokens == 300
