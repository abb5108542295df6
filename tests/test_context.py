"""Generation stays inside what the student can hold (fdd/student/context.py): a tiny GPT-2 with 128
positions and questions longer than that, through generation, a 2-round run and fdd.solve; round 0
stops in one line when the recipe cannot fit; a stop rule that would change answers is turned off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, LogitsProcessor

from fdd.rationales import get_format
from fdd.student import generation
from fdd.student.context import context_length, fit_prompt, new_token_room
from fdd.student.models import causal
from fdd.teachers.symbolic import SymbolicTeacher
from tests.conftest import TINY, run_cli, run_pipeline
from tests.tokenizer_standins import build_model, build_tokenizer, save_tokenizer

POSITIONS = 128
PREFACE = ("Read the whole story below with care, because every sentence in it may matter for the answer, and "
           "then work out the number that the question at the very end asks for. ") * 3
TINY_CAUSAL = [o for o in TINY if not o.startswith("student.model.")]


@pytest.fixture(scope="module")
def short_gpt2(tmp_path_factory) -> Path:
    """A GPT-2 with 128 positions and its byte-level tokenizer (400 pieces), saved as a checkpoint."""
    out = tmp_path_factory.mktemp("gpt2_128")
    tok = build_tokenizer("gpt2", vocab_size=400)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=POSITIONS, n_embd=32, n_layer=1, n_head=2,
                                       bos_token_id=0, eos_token_id=0))
    model.save_pretrained(out)
    save_tokenizer("gpt2", tok, out)
    return out


class NoEOS(LogitsProcessor):
    """Never lets a row end, so every row runs to whatever cap it has."""

    def __init__(self, eos: int):
        self.eos = eos

    def __call__(self, input_ids, scores):
        scores[:, self.eos] = -float("inf")
        return scores


def test_context_length_of_each_kind_of_model():
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=96, n_embd=8, n_layer=1, n_head=2))
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                         num_attention_heads=2, max_position_embeddings=200))
    t5 = build_model("t5", 64)
    tok = build_tokenizer("t5", vocab_size=200)
    assert context_length(gpt2) == 96 and context_length(llama) == 200
    assert tok.model_max_length == 512 and context_length(t5, tok) is None  # relative positions: no limit

    class Bare:  # no position count in the config: the tokenizer's real limit, never its 1e30 sentinel
        config = type("C", (), {})()

    assert context_length(Bare(), type("T", (), {"model_max_length": 300})()) == 300
    assert context_length(Bare(), type("T", (), {"model_max_length": int(1e30)})()) is None
    assert fit_prompt(list(range(10)), 16) == (list(range(10)), False)
    assert fit_prompt(list(range(20)), 16, lead=1) == ([0, *range(13, 20)], True)  # BOS kept, the end kept
    assert new_token_room(100, 128, 384) == 28 and new_token_room(100, None, 384) == 384


def test_generation_never_passes_the_context(short_gpt2, monkeypatch):
    model, tok = causal([], name_or_path=str(short_gpt2))
    questions = ["Ava has 3 apples. How many apples does Ava have?",
                 PREFACE[:100] + " Ava has 3 apples. How many apples does Ava have?",
                 PREFACE * 2 + " Ava has 3 apples. How many apples does Ava have?"]
    widths = [len(tok(causal_prompt(q))["input_ids"]) for q in questions]
    assert widths[0] < 64 < widths[1] < POSITIONS < widths[2]  # the last one alone exceeds the context
    seen, real = [], model.generate

    def checked(**kw):
        mask = kw["attention_mask"]
        seen.append(int(mask.sum(1).max()) + kw["max_new_tokens"])
        return real(**kw, logits_processor=[NoEOS(tok.eos_token_id)])

    monkeypatch.setattr(model, "generate", checked)
    for batch_size in (1, 3):
        gens = generation.generate(model, tok, questions, batch_size=batch_size, max_new_tokens=384,
                                   max_source_len=512, fmt=None, chunk=16)
        assert [g[0].end for g in gens] == ["limit"] * 3  # cut by the context, counted with the limit cuts
        assert [g[0].prompt_cut for g in gens] == [False, False, True]
        assert max(seen) <= POSITIONS
        lengths = [len(tok(g[0].text, add_special_tokens=False)["input_ids"]) for g in gens]
        assert lengths[0] > lengths[1] > 0  # each row used its own room, not the batch's narrowest
        seen.clear()


def causal_prompt(question: str) -> str:
    return f"Question: {question}\nAnswer:\n"


def long_eval_set(tmp_path: Path, n: int = 6) -> Path:
    from fdd.datasets import load

    probs = load("synthetic", split="test", n=n, min_steps=1, max_steps=2, seed=5).problems
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps({"question": PREFACE * (1 + i % 2) + p.question, "answer": p.answer}) + "\n"
                            for i, p in enumerate(probs)))
    return path


def test_two_rounds_and_solve_with_a_short_context_student(tmp_path, short_gpt2):
    """Round 0, evaluation (questions longer than the whole context) and a feedback round, then
    fdd.solve on a long question: no crash, cuts counted."""
    run = tmp_path / "run"
    run.mkdir()
    summary, _ = run_pipeline(run, [
        *TINY_CAUSAL, "rounds=2", "student=causal", f"student.name_or_path={short_gpt2}", "student.lr=1e-3",
        "dataset.max_steps=1", "student.max_target_len=48", "eval.max_new_tokens=48",
        f"+eval.sets.long={{name: jsonl, path: {long_eval_set(tmp_path)}}}"])
    assert summary["status"] == "complete" and len(summary["rounds"]) == 3
    assert summary["context"]["context"] == POSITIONS
    gen = summary["rounds"][0]["generation"]
    assert gen["prompts_cut_by_set"]["long"] == 6  # every long question kept its end and half the context
    assert gen["prompts_cut"] == sum(gen["prompts_cut_by_set"].values())  # long synthetic ones too
    assert summary["rounds"][1]["generation"]["prompts_cut_by_set"]["long"] == 6
    question = PREFACE * 3 + "Ava has 12 apples. Ava buys 5 more apples. How many apples does Ava have now?"
    res = run_cli(["--student", str(run / "student"), question], module="fdd.solve", timeout=120)
    assert res.returncode == 0, res.stderr
    assert "\nanswer: " in res.stdout


def test_round0_stops_when_the_recipe_cannot_fit(tmp_path, short_gpt2):
    res = run_cli([*TINY_CAUSAL, "student=causal", f"student.name_or_path={short_gpt2}", "dataset.min_steps=5",
                   "dataset.max_steps=6", f"hydra.run.dir={tmp_path}"], timeout=180)
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.startswith("fdd: error")]
    assert len(lines) == 1, res.stderr
    assert f"context is {POSITIONS} tokens" in lines[0] and "needs" in lines[0]
    assert "student.max_source_len" in lines[0] and "student.max_target_len" in lines[0]
    assert not (tmp_path / "checkpoints").exists()  # stopped before training


class EarlyAnswerTeacher(SymbolicTeacher):
    """Writes programs that set `ans` first and add to it, as LLM teachers often do."""

    def write(self, spec, rng) -> str:
        program = super().write(spec, rng)
        return program.replace("ans = ", "ans = 0\nans += ", 1)


def test_a_stop_rule_that_would_change_answers_is_off(tmp_path, caplog):
    pot = get_format("pot")
    program = "ans = 0\nans += 4\nans += 5\n"
    assert pot.end(program) == len("ans = 0\n") and pot.without_answer_rule().end(program) is None
    assert pot.without_answer_rule().end("x = 1\nQuestion: next") == len("x = 1\n")  # the other rules stay
    summary, student = run_pipeline(tmp_path, [*TINY, "rounds=0", "teacher.error_rate=0",
                                               "teacher._target_=tests.test_context.EarlyAnswerTeacher"])
    rule = summary["stop_rule"]
    assert rule["early"] == rule["targets"] > 0 and rule["answer_rule"] is False
    assert student.model.config.fdd_answer_rule is False  # fdd.solve stops by the same rules
    saved = json.loads((tmp_path / "student" / "config.json").read_text())
    assert saved["fdd_answer_rule"] is False


def test_a_few_early_targets_leave_the_rule_on():
    from fdd.pipeline import MAX_EARLY_TARGETS, stop_rules
    from fdd.problems import Problem

    n = int(2 / MAX_EARLY_TARGETS)  # two early targets are within the allowed share
    seeds = [Problem(id=f"p{i}", question="q", answer=1.0, rationale="x = 1\nans = x") for i in range(n)]
    for p in seeds[:2]:
        p.rationale = "ans = 0\nans += 1"
    fmt, report = stop_rules(seeds, get_format("pot"), enabled=True)
    assert report["answer_rule"] is True and fmt.answer_rule and report["early"] == 2
    seeds[2].rationale = "ans = 0\nans += 1"
    fmt, report = stop_rules(seeds, get_format("pot"), enabled=True)
    assert report["answer_rule"] is False and not fmt.answer_rule
