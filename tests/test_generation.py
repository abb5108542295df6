"""One generation stream per round boundary (fdd/student/generation.py): batches by a token budget, the
same greedy texts however the stream is cut, out-of-memory batches halved without losing a row, the
static cache giving the tokens of eager generation, and the round boundary generating in one pass."""

from __future__ import annotations

import logging

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

from fdd.datasets import load
from fdd.rationales import get_format
from fdd.student import evaluate, generation
from fdd.student.models import train_tokenizer
from fdd.teachers.symbolic import SymbolicTeacher
from tests.conftest import TINY, run_pipeline

POT = get_format("pot")


@pytest.fixture(scope="module")
def sets():
    """Two evaluation sets and a pool: questions of different lengths, and a corpus for a tokenizer."""
    a = load("synthetic", split="test", n=7, min_steps=1, max_steps=3, seed=3).problems
    b = load("synthetic", split="test", n=5, min_steps=4, max_steps=6, seed=4).problems
    pool = load("synthetic", n=6, min_steps=1, max_steps=2, seed=5).problems
    corpus = [p.question for p in a + b + pool] + [t[0] for t in SymbolicTeacher(error_rate=0).annotate(a + b + pool)]
    return {"pool": [p.question for p in pool], "a": [p.question for p in a], "b": [p.question for p in b]}, corpus


@pytest.fixture(scope="module", params=["t5", "llama"])
def model(request, sets):
    _, corpus = sets
    tok = train_tokenizer(corpus, 300)
    torch.manual_seed(0)
    if request.param == "t5":
        m = T5ForConditionalGeneration(T5Config(vocab_size=len(tok), d_model=32, d_ff=64, num_layers=1,
                                                num_decoder_layers=1, num_heads=2, d_kv=16, pad_token_id=0,
                                                eos_token_id=1, decoder_start_token_id=0))
    else:
        m = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                                         bos_token_id=1, eos_token_id=1, pad_token_id=0))
        m.config.fdd_prompt = "Question: {question}\nAnswer:\n"
    return m.eval(), tok


def _gen(model, tok, questions, **kw):
    return generation.generate(model, tok, questions, max_new_tokens=24, fmt=POT, chunk=8, **kw)


def test_one_stream_gives_each_sets_texts(model, sets):
    """The pool and the sets generated as one stream, at any batch size, equal each set generated alone."""
    m, tok = model
    groups, _ = sets
    alone = {name: _gen(m, tok, qs, batch_size=4) for name, qs in groups.items()}
    for batch_size in (1, 3, 64, "auto"):
        stream = [q for qs in groups.values() for q in qs]
        got = iter(_gen(m, tok, stream, batch_size=batch_size))
        for name, qs in groups.items():
            assert [next(got) for _ in qs] == alone[name], (name, batch_size)


def test_batches_keep_to_the_token_budget():
    lengths = [5, 6, 9, 9, 20, 30]
    order = list(range(6))
    batches = list(generation._batches(order, lengths, new=10, samples=1, rows=64, budget=60))
    assert [i for b in batches for i in b] == order  # nothing lost or reordered
    for b in batches:
        assert len(b) == 1 or len(b) * (max(lengths[i] for i in b) + 10) <= 60
    assert [len(b) for b in batches] == [3, 2, 1]
    assert [len(b) for b in generation._batches(order, lengths, 10, samples=2, rows=64, budget=80)] == [2, 2, 1, 1]
    assert [len(b) for b in generation._batches(order, lengths, 10, 1, rows=2, budget=float("inf"))] == [2, 2, 2]


def test_out_of_memory_halves_the_batch_and_loses_nothing(model, sets, monkeypatch, caplog):
    m, tok = model
    stream = [q for qs in sets[0].values() for q in qs]
    want = _gen(m, tok, stream, batch_size=64)
    real, sizes = m.generate, []

    def small_device(**kw):
        if kw["input_ids"].shape[0] > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        sizes.append(kw["input_ids"].shape[0])
        return real(**kw)

    monkeypatch.setattr(m, "generate", small_device)
    caplog.set_level(logging.WARNING, logger="fdd")
    assert _gen(m, tok, stream, batch_size=64) == want
    assert max(sizes) <= 4  # every batch that ran fitted the device
    assert any("out of device memory" in r.message for r in caplog.records)


def test_an_error_that_is_not_memory_is_raised(model, sets, monkeypatch):
    m, tok = model
    monkeypatch.setattr(m, "generate", lambda **kw: (_ for _ in ()).throw(RuntimeError("index out of range")))
    with pytest.raises(RuntimeError, match="index out of range"):
        _gen(m, tok, sets[0]["a"], batch_size=64)


def test_static_cache_gives_the_tokens_of_eager_generation(model, sets):
    m, tok = model
    if m.config.is_encoder_decoder:
        pytest.skip("eval.compile applies to decoder-only students")
    questions = sets[0]["a"]
    eager = generation.generate(m, tok, questions, max_new_tokens=24, batch_size=3)
    static = generation.generate(m, tok, questions, max_new_tokens=24, batch_size=3, compile=True)
    assert [[g.text for g in gs] for gs in static] == [[g.text for g in gs] for gs in eager]


def test_auto_batch_size_is_memory_sized_on_a_gpu(model, monkeypatch):
    m, _ = model
    assert generation.token_budget(m, "auto") == (generation.AUTO_ROWS, float("inf"))  # on the CPU
    assert generation.token_budget(m, 16) == (16, float("inf"))
    with pytest.raises(ValueError, match="eval.batch_size"):
        generation.token_budget(m, 0)
    per_token = generation.kv_bytes_per_token(m)
    c = m.config
    layers = c.num_decoder_layers if c.is_encoder_decoder else c.num_hidden_layers
    heads = c.num_heads if c.is_encoder_decoder else c.num_key_value_heads
    head_dim = c.d_kv if c.is_encoder_decoder else c.hidden_size // c.num_attention_heads
    assert per_token == 2 * layers * heads * head_dim * 4 * (2 if c.is_encoder_decoder else 1)


def test_the_boundary_generates_in_one_pass(tmp_path, monkeypatch):
    """Greedy verdicts: the pool and every evaluation set are solved by one call per boundary."""
    calls, solve = [], evaluate.solve

    def counting(model, tok, problems, fmt, **kw):
        calls.append((kw.get("desc"), len(problems)))
        return solve(model, tok, problems, fmt, **kw)

    monkeypatch.setattr(evaluate, "solve", counting)
    summary, _ = run_pipeline(tmp_path, [*TINY, "rounds=1"])
    assert len(calls) == 2  # rounds 0 and 1
    pool, evals = summary["rounds"][0]["easy"] + summary["rounds"][0]["hard"], 6 * 8
    assert calls[0][1] == pool + evals and calls[1][1] == evals  # the last round has no pool
    assert "feedback" in calls[0][0] and "synthetic_6" in calls[0][0]
