"""Student defects found in review, each pinned by a test: reinitialising a pretrained student,
weight-decay groups under flat (FSDP) parameters, voting over non-finite answers, the generation
budget against the training target length, truncated targets, and a student that cannot be loaded."""

from __future__ import annotations

import math
import socket
import time

import pytest
import torch
from hydra.errors import InstantiationException
from transformers import T5Config, T5ForConditionalGeneration

from fdd.pipeline import generation_budget
from fdd.run import describe
from fdd.student.evaluate import vote
from fdd.student.models import causal, scratch_t5, seq2seq, train_tokenizer
from fdd.student.training import Student
from tests.conftest import TINY, compose_cfg, run_cli

CORPUS = ["Ava has 3 cups and buys 4 more. How many cups?", "cups = 3\ncups = cups + 4\nans = cups",
          "Ben has 12 apples and eats 5.", "apples = 12\napples = apples - 5\nans = apples"] * 4


def tiny_t5(tok) -> T5ForConditionalGeneration:
    config = T5Config(vocab_size=len(tok), d_model=16, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2,
                      d_kv=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    torch.manual_seed(0)
    return T5ForConditionalGeneration(config)


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory):
    """A tiny 'pretrained' T5 saved with save_pretrained, as a hub checkpoint would be."""
    d = tmp_path_factory.mktemp("pretrained")
    tok = train_tokenizer(CORPUS, 120)
    tiny_t5(tok).save_pretrained(d)
    tok.save_pretrained(d)
    return d


def weights(student: Student) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in student.model.state_dict().items()}


def train_a_little(student: Student) -> None:
    with torch.no_grad():
        for p in student.model.parameters():
            p.add_(0.5)


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- reinit_each_round ---------------------------------------------------------------------------
def test_reinit_restores_the_pretrained_weights(pretrained_dir):
    model, tok = seq2seq([], name_or_path=str(pretrained_dir))
    student = Student(model, tok, reinit_each_round=True)
    pretrained = weights(student)
    train_a_little(student)
    assert not same(weights(student), pretrained)
    student.reinitialise()
    # neither re-randomised nor left trained (transformers 5 flags loaded weights as initialised)
    assert same(weights(student), pretrained)


def test_a_pretrained_student_trains_with_dropout_on(pretrained_dir):
    model, tok = seq2seq([], name_or_path=str(pretrained_dir))
    assert not model.training  # from_pretrained returns eval mode; Lightning would keep it
    student = Student(model, tok)
    assert all(m.training for m in student.model.modules())


def test_reinit_of_a_scratch_student_re_randomises_seeded():
    model, tok = scratch_t5(CORPUS, vocab_size=120, d_model=16, d_ff=32, num_layers=1, num_decoder_layers=1,
                            num_heads=2, d_kv=8)
    student = Student(model, tok, reinit_each_round=True)
    train_a_little(student)
    trained = weights(student)
    torch.manual_seed(7)
    student.reinitialise()
    first = weights(student)
    train_a_little(student)
    torch.manual_seed(7)
    student.reinitialise()
    assert not same(first, trained) and same(weights(student), first)


def test_reinit_restarts_the_warm_up():
    model, tok = scratch_t5(CORPUS, vocab_size=120, d_model=16, d_ff=32, num_layers=1, num_decoder_layers=1,
                            num_heads=2, d_kv=8)
    for reinit, expected in ((True, [0.25, 1.0]), (False, [1.0, 1.0])):
        s = Student(model, tok, scheduler="constant", warmup_steps=4, reinit_each_round=reinit)
        s._round_start = 100  # round 2 starts at step 100
        assert [s.lr_factor(100), s.lr_factor(103)] == expected, reinit


def test_reinit_under_fsdp_is_refused_before_training():
    from fdd.pipeline import UserError, validate

    validate(compose_cfg(["trainer=fsdp"]))
    with pytest.raises(UserError, match="reinit_each_round"):
        validate(compose_cfg(["trainer=fsdp", "student.reinit_each_round=true"]))


# -- weight decay by name ------------------------------------------------------------------------
def test_weight_decay_groups_are_by_name_not_shape():
    tok = train_tokenizer(CORPUS, 120)
    student = Student(tiny_t5(tok), tok, weight_decay=0.1)
    names = dict(student.model.named_parameters())
    norms = {n for n, p in names.items() if p.ndim < 2}
    assert norms and all("layer_norm" in n for n in norms)
    # what FSDP (use_orig_params) shows the optimizer: 1-D flat shards under wrapped names
    wrapper = torch.nn.Module()
    wrapper._fsdp_wrapped_module = student.model
    for p in student.model.parameters():
        p.data = p.data.reshape(-1)
    student.model = wrapper
    groups = student.configure_optimizers()["optimizer"].param_groups
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    assert groups[0]["weight_decay"] == 0.1 and groups[1]["weight_decay"] == 0.0
    for n, p in names.items():
        assert (id(p) in decayed) == (n not in norms), n


# -- self-consistency vote -----------------------------------------------------------------------
def test_vote_ignores_non_finite_answers():
    assert vote([math.nan, 2.0, 3.0, 2.0]) == 2.0
    assert vote([math.inf, -math.inf, 5.0]) == 5.0
    assert vote([math.nan, math.nan, math.inf]) is None


# -- generation budget and truncated targets -----------------------------------------------------
def test_eval_generates_at_least_the_training_target_length(caplog):
    cfg = compose_cfg(["student=seq2seq", "student.name_or_path=x", "eval=paper"])
    assert cfg.eval.max_new_tokens == 256 < cfg.student.max_target_len == 384
    with caplog.at_level("INFO", logger="fdd"):
        generation_budget(cfg)
    assert cfg.eval.max_new_tokens == 384 and "student.max_target_len=384" in caplog.text
    cfg = compose_cfg(["eval.max_new_tokens=500"])
    generation_budget(cfg)
    assert cfg.eval.max_new_tokens == 500  # a larger budget is left alone


def test_a_truncated_target_has_no_eos(pretrained_dir):
    long, short = "x = 1\n" * 30 + "ans = x", "ans = 1"
    batch = [{"id": "a", "question": "Q one?", "target": long}, {"id": "b", "question": "Q two?", "target": short}]
    model, tok = seq2seq([], name_or_path=str(pretrained_dir))
    out = Student(model, tok, max_target_len=10).collate(batch)
    assert out["stats"]["truncated_target"] == 1
    labels = out["labels"]
    assert labels.shape[1] == 10 and tok.eos_token_id not in labels[0].tolist()  # cut: no EOS
    assert labels[1][labels[1] != -100].tolist()[-1] == tok.eos_token_id      # whole: ends with EOS


def test_a_truncated_causal_target_has_no_eos(tmp_path):
    from tests.test_students import gpt2_like

    model, tok = gpt2_like(CORPUS)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    model, tok = causal([], name_or_path=str(tmp_path))
    student = Student(model, tok, max_source_len=32, max_target_len=10)
    out = student.collate([{"id": "a", "question": "Q?", "target": "x = 1\n" * 30 + "ans = x"},
                           {"id": "b", "question": "Q?", "target": "ans = 1"}])
    answer = out["labels"][0][out["labels"][0] != -100].tolist()
    assert len(answer) == 10 and tok.eos_token_id not in answer
    assert out["labels"][1][out["labels"][1] != -100].tolist()[-1] == tok.eos_token_id


# -- a student that cannot be loaded -------------------------------------------------------------
def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_error_line_names_the_root_cause():
    try:
        try:
            try:
                raise ConnectionRefusedError(111, "Connection refused")
            except ConnectionRefusedError as e:
                raise OSError("cannot load student 'org/model': the hub is not reachable") from e
        except OSError as e:
            raise InstantiationException("Error in call to target 'fdd.student.models.seq2seq':\nOSError(...)") from e
    except InstantiationException as e:
        _, line = describe(e)
    assert line == ("OSError: cannot load student 'org/model': the hub is not reachable "
                    "(cause: ConnectionRefusedError: [Errno 111] Connection refused)")


def test_unreachable_hub_fails_in_seconds(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    t0 = time.monotonic()
    with pytest.raises(OSError, match="cannot load student 'fdd-test/no-such-model'.*not reachable"):
        seq2seq([], name_or_path="fdd-test/no-such-model")
    assert time.monotonic() - t0 < 5  # huggingface_hub alone retries for about a minute per file


def test_missing_local_dir_is_named(tmp_path):
    with pytest.raises(OSError, match="no such directory"):
        seq2seq([], name_or_path=str(tmp_path / "nope"))


def test_cli_prints_one_line_naming_the_student(tmp_path):
    tiny = [o for o in TINY if not o.startswith("student.model.")]
    res = run_cli([*tiny, "student=seq2seq", "student.name_or_path=fdd-test/no-such-model",
                   f"hydra.run.dir={tmp_path}"], env={"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("fdd: error:")]
    assert len(lines) == 1, res.stderr[-2000:]
    assert "Error in call to target" not in lines[0]
    assert "cannot load student 'fdd-test/no-such-model'" in lines[0] and "not reachable" in lines[0], lines[0]
