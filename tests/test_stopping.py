"""Generation stops when the rationale is finished (fdd/rationales.py `end`, fdd/student/stopping.py), with
the text cut there, and counts what it cut at the token limit.

The model-level tests force what a tiny model writes with a logits processor, so the stop is
checked against known texts inside the real `model.generate` loop, whatever the weights."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, LogitsProcessor, T5Config, T5ForConditionalGeneration

from fdd.datasets import load
from fdd.rationales import get_format
from fdd.student import evaluate, generation
from fdd.student.models import train_tokenizer
from fdd.student.stopping import RationaleStop, generate_causal, trigger_table
from fdd.student.training import causal_batch
from fdd.teachers.symbolic import SymbolicTeacher

POT, COT, EOT = (get_format(n) for n in ("pot", "cot", "eot"))


@pytest.mark.parametrize(("text", "cut"), [
    ("x = 1\nans = x\n", "x = 1\nans = x"),                                  # the completed answer line
    ("x = 1\nans = x\ny = 2\n", "x = 1\nans = x"),                           # what follows it is dropped
    ("x = 1\nans = (x +\n       2)\nQuestion: next\n", "x = 1\nans = (x +\n       2)"),  # brackets closed
    ("x = 1\nans: float = x * 2\n", "x = 1\nans: float = x * 2"),
    ("x = 1\n\nQuestion: Ann has 3 pens.", "x = 1"),                         # a new question
    ("def solution():\n    a = 4\n    return a\n\nprint(solution())", "def solution():\n    a = 4\n    return a"),
])
def test_pot_end_cuts_after_the_finished_program(text, cut):
    assert POT.cut(text) == cut


@pytest.mark.parametrize("text", [
    "x = 1\nans = x",                  # the answer line is not finished: `ans = x2` may follow
    "x = 1\nans = (x +\n",             # open bracket
    "ans_total = 3\nanswer = 4\n",     # other names
    "x = 1\nif x:\n    ans = 2\n",     # not top level
    "def solution():\n    return 4\n",  # the function may go on
    "A: 10\nB: 10\n",                  # valid Python, no answer yet
])
def test_pot_end_waits_while_the_program_may_go_on(text):
    assert POT.end(text) is None


def test_pot_hopeless_only_when_no_continuation_can_parse():
    assert POT.hopeless("Michael's age is 5\n")
    assert POT.hopeless("x = 1\n  y = 2\n")              # unexpected indent
    assert not POT.hopeless("x = (1 +\n")                # may still close
    assert not POT.hopeless("def solution():\n")
    assert not POT.hopeless("ans = (3 +")                 # no completed line yet
    assert not POT.hopeless("x = 1\nans = x\n")
    assert POT.hopeless("To solve this")                    # a line of prose, before its newline
    assert POT.hopeless("x = 1\nJamaar has 3 peaches")
    for code in ("total apples", "x if", "x is not", "not x", "import math", "for i in", "lambda x", "print x"):
        assert POT.hopeless(code + " ") == (code == "total apples"), code  # two plain words vs a keyword
    assert not POT.hopeless("To")                           # one word: `To = 3` may follow
    assert not POT.hopeless('note = """\nSome prose here')  # inside a string: anything may follow
    assert not POT.hopeless("total = (apples\n    plus more")  # inside a bracket, `+` may still come


def test_cot_and_eot_ends():
    assert COT.end("The answer is 3.") is None               # "3.5" may follow
    assert COT.cut("So 3 + 4 = 7. The answer is 7.\nQuestion: more") == "So 3 + 4 = 7. The answer is 7."
    assert COT.cut("The answer is 3.5 apples. Then more text") == "The answer is 3.5 apples."
    assert COT.cut("Half of 48 is 24.\n#### 72\nand more") == "Half of 48 is 24.\n#### 72"
    assert COT.end("The answer is clear.\nIt is") is None     # no number in the answer sentence
    assert EOT.cut("a0 = 3\nans = a0 + 2\nb = 7\n") == "a0 = 3\nans = a0 + 2"


@pytest.mark.parametrize("rationale", ["pot", "eot", "cot"])
def test_no_symbolic_target_is_cut_early(rationale):
    """The rule fires inside no target the embedded teacher writes (round 0 reports such targets)."""
    fmt = get_format(rationale)
    probs = load("synthetic", n=200, seed=3, min_steps=1, max_steps=6).problems
    targets = [ts[0] for ts in SymbolicTeacher(error_rate=0.0, rationale=rationale).annotate(probs)]
    assert not any(fmt.early_end(t) for t in targets)
    assert all(fmt.end(t + "\n") is not None or rationale == "cot" for t in targets)


def test_early_end_finds_a_target_that_sets_ans_before_its_end():
    assert POT.early_end("ans = 0\nfor i in range(3):\n    ans += i")
    assert not POT.early_end("x = 3\nans = x * 2")


def test_gsm8k_gold_programs_are_never_cut_early(gsm8k_gold):
    _, results = gsm8k_gold
    programs = [r.program for r in results if r.program]
    assert len(programs) > 8000
    assert [p for p in programs if POT.early_end(p)] == []


# --- inside model.generate ----------------------------------------------------------------------
class Force(LogitsProcessor):
    """Makes row i of the batch write `ids[i]` and then EOS, whatever the model would say."""

    def __init__(self, ids: list[list[int]], eos: int, start: int):
        self.ids, self.eos, self.start = ids, eos, start

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1] - self.start
        out = torch.full_like(scores, -1e9)
        for i, seq in enumerate(self.ids):
            out[i, seq[step] if step < len(seq) else self.eos] = 0.0
        return out


@pytest.fixture(scope="module")
def tiny_t5():
    texts = ["x = 12\ny = x * 3\nans = y - 4\n\nQuestion: Ann has 3 pens. How many?",
             "Ann has 5 pens.\nThe answer is 5.", "a = 1\nb = 2\n" * 20, "Question: what is this"]
    tok = train_tokenizer(texts, 300)
    config = T5Config(vocab_size=len(tok), d_model=16, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2,
                      d_kv=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    torch.manual_seed(0)
    return T5ForConditionalGeneration(config).eval(), tok


def test_rows_stop_where_their_rationale_ends_and_others_go_on(tiny_t5):
    model, tok = tiny_t5
    texts = ["x = 12\ny = x * 3\nans = y - 4\n\nQuestion: Ann has 3 pens. How many?",  # stops after the ans line
             "a = 1\nb = 2\n" * 20,                                                      # runs to the limit
             "Ann has 5 pens.\nThe answer is 5."]                                       # prose: hopeless
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    enc = tok(["q1", "q2", "q3"], return_tensors="pt", padding=True)
    stop = RationaleStop(POT, tok, 0)
    limit = 40
    gen = model.generate(**enc, max_new_tokens=limit, do_sample=False, pad_token_id=0,
                         logits_processor=[Force(ids, tok.eos_token_id, 1)], stopping_criteria=[stop])
    assert stop.stopped.tolist() == [True, False, True]
    ends = [generation._row(gen[i].tolist(), tok.eos_token_id, stop, i, 1)[1] for i in range(3)]
    assert ends == ["done", "limit", "done"]
    decoded = tok.batch_decode(gen, skip_special_tokens=True)
    assert POT.cut(decoded[0]) == "x = 12\ny = x * 3\nans = y - 4"
    assert decoded[2].startswith("Ann has 5 pens.\n") and "answer" not in decoded[2]  # stopped at the first line
    # the first row stopped right after the answer line: it wrote no "Question" tokens
    assert "Question" not in decoded[0]


def test_trigger_table_marks_newline_tokens(tiny_t5):
    _, tok = tiny_t5
    table = trigger_table(tok, "\n")
    newline = tok("\n", add_special_tokens=False)["input_ids"]
    assert table.dtype == torch.bool and len(table) == len(tok)
    assert table[newline].all() and not table[tok.eos_token_id]
    assert trigger_table(tok, "\n") is table  # built once per tokenizer


def test_generate_reports_how_each_text_ended(tiny_t5, monkeypatch):
    """evaluate.generate: texts cut at the end of the rationale, ends recorded, and a limit-hit
    sequence counted by evaluate.solve."""
    model, tok = tiny_t5
    texts = ["x = 2\nans = x\nmore = 1\n", "a = 1\nb = 2\n" * 20]
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    real = model.generate

    def forced(**kw):
        return real(**kw, logits_processor=[Force(ids, tok.eos_token_id, 1)])

    monkeypatch.setattr(model, "generate", forced)
    gens = evaluate.generate(model, tok, ["first question", "second question, longer"], max_new_tokens=30, fmt=POT)
    assert [g[0].end for g in gens] == ["done", "limit"]
    assert gens[0][0].text == "x = 2\nans = x"
    plain = evaluate.generate(model, tok, ["first question", "second question, longer"], max_new_tokens=30)
    assert [g[0].end for g in plain] == ["eos", "limit"]  # without a format only EOS stops
    assert plain[0][0].text.startswith("x = 2\nans = x\nmore = 1")


# --- decoder-only batches: finished rows leave the batch -----------------------------------------
class ForceByPrompt(LogitsProcessor):
    """Makes the row whose prompt is `prompts[k]` write `targets[k]`, then EOS: keyed by the prompt,
    not the row index, since rows leave the batch between chunks."""

    def __init__(self, prompts: list[list[int]], targets: list[list[int]], eos: int, width: int):
        self.by_prompt = {tuple(p): t for p, t in zip(prompts, targets)}
        self.eos, self.width = eos, width

    def __call__(self, input_ids, scores):
        out = torch.full_like(scores, -1e9)
        for i, row in enumerate(input_ids.tolist()):
            target, step = self.by_prompt[tuple(row[:self.width])], len(row) - self.width
            out[i, target[step] if step < len(target) else self.eos] = 0.0
        return out


@pytest.fixture(scope="module")
def tiny_llama(tiny_t5):
    _, tok = tiny_t5  # a byte-level BPE with <pad>, </s>
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=1, eos_token_id=1, pad_token_id=0)
    torch.manual_seed(1)
    model = LlamaForCausalLM(config).eval()
    model.config.fdd_prompt = "Question: {question}\nAnswer:\n"
    return model, tok


def test_finished_rows_leave_the_batch(tiny_llama, monkeypatch):
    model, tok = tiny_llama
    tok.padding_side = "left"
    questions = ["q one", "q two is longer", "q three", "q four"]
    targets = [tok(t, add_special_tokens=False)["input_ids"] for t in
               ("x = 2\nans = x\nmore = 1\n", "x = 5", "a = 1\nb = 2\n" * 20, "A: 10\n" * 30)]
    enc = causal_batch(tok, questions, model.config.fdd_prompt, 64)
    width = enc["input_ids"].shape[1]
    force = ForceByPrompt(enc["input_ids"].tolist(), targets, tok.eos_token_id, width)
    sizes, real = [], model.generate

    def recording(**kw):
        sizes.append(kw["input_ids"].shape[0])
        return real(**kw)

    monkeypatch.setattr(model, "generate", recording)
    kw = {"max_new_tokens": 40, "do_sample": False, "num_beams": 1, "pad_token_id": 0, "logits_processor": [force]}
    rows = generate_causal(model, enc, kw, tok, POT, chunk=4)
    assert [e for _, e in rows] == ["done", "eos", "limit", "limit"]
    texts = tok.batch_decode([ids for ids, _ in rows], skip_special_tokens=True)
    assert POT.cut(texts[0]) == "x = 2\nans = x" and texts[1] == "x = 5"
    assert [len(ids) for ids, _ in rows][2:] == [40, 40]
    assert sizes[0] == 4 and sizes[-1] == 2 and sizes == sorted(sizes, reverse=True)  # the batch shrank


def test_chunked_generation_equals_one_call(tiny_llama):
    """Continuing from the cache in chunks gives exactly the tokens of one uninterrupted call."""
    model, tok = tiny_llama
    tok.padding_side = "left"
    enc = causal_batch(tok, ["q one", "q two is longer", "q three"], model.config.fdd_prompt, 64)
    kw = {"max_new_tokens": 24, "do_sample": False, "num_beams": 1, "pad_token_id": 0}
    with torch.no_grad():
        whole = model.generate(**enc, **kw)[:, enc["input_ids"].shape[1]:].tolist()
        chunked = generate_causal(model, enc, kw, tok, None, chunk=5)
    for ids, (got, end) in zip(whole, chunked):
        want = ids[:ids.index(1) + 1] if 1 in ids else ids
        assert got == want and end == ("eos" if 1 in ids else "limit")


def test_sampled_rows_are_chunked_per_sample(tiny_llama):
    """samples > 1: one row per sample (questions × samples), kept apart through the chunks, and the
    same draws again under the same seed."""
    model, tok = tiny_llama
    tok.padding_side = "left"
    questions = ["q one", "q two is longer"]
    enc = causal_batch(tok, questions, model.config.fdd_prompt, 64)
    kw = {"max_new_tokens": 12, "do_sample": True, "num_return_sequences": 3, "top_k": 0, "temperature": 1.0,
          "num_beams": 1, "pad_token_id": 0}
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        with torch.no_grad():
            runs.append(generate_causal(model, enc, kw, tok, None, chunk=5))
    assert runs[0] == runs[1] and len(runs[0]) == 6
    assert all(len(ids) == 12 or end == "eos" for ids, end in runs[0])
    gens = evaluate.generate(model, tok, questions, samples=3, max_new_tokens=12)
    assert [len(g) for g in gens] == [3, 3]
