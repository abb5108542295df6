"""Round-boundary generation runs on the training device, also when a round is finished on resume
(fdd.pipeline.resume_round), which happens before any Trainer exists. The CPU suite can only check
the plumbing: which device the trainer config names, and that the resumed boundary generates there."""

from __future__ import annotations

import pytest
import torch

from fdd import pipeline
from fdd.pipeline import UserError, training_device
from fdd.student import evaluate
from fdd.student.training import Student
from tests.conftest import TINY, compose_cfg, crash_at


def trainer_cfg(*overrides: str):
    return compose_cfg(list(overrides)).trainer


def test_training_device_follows_the_trainer_config(monkeypatch):
    assert training_device(trainer_cfg()) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert training_device(trainer_cfg("trainer=gpu")) == torch.device("cuda", 0)
    assert training_device(trainer_cfg("trainer=gpu", "trainer.devices=[2,3]")) == torch.device("cuda", 2)
    assert training_device(trainer_cfg("trainer=gpu", "trainer.devices='1,3'")) == torch.device("cuda", 1)
    assert training_device(trainer_cfg("trainer=ddp", "trainer.accelerator=gpu", "trainer.devices=4")) == \
        torch.device("cuda", 0)
    assert training_device(trainer_cfg()) == torch.device("cpu")  # trainer=cpu stays there
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="no CUDA device"):
        training_device(trainer_cfg("trainer=gpu"))


@pytest.mark.slow  # two short runs (~40 s of CPU)
def test_resumed_boundary_generates_on_the_training_device(tmp_path, monkeypatch):
    overrides = [*TINY, "rounds=0", "eval.limit=2", f"resume={tmp_path}", f"paths.output_dir={tmp_path}"]
    # round 0 trained and checkpointed, not committed
    crash_at("evaluate:0", lambda: pipeline.run(compose_cfg(overrides)), tmp_path, monkeypatch)

    asked, moved, used = [], [], []
    target = torch.device("cpu")  # what a CPU machine can offer; the call chain is what is checked
    monkeypatch.setattr(pipeline, "training_device", lambda cfg: asked.append(cfg.accelerator) or target)
    to = Student.to
    monkeypatch.setattr(Student, "to", lambda self, *a, **kw: moved.append(a) or to(self, *a, **kw))
    solve = evaluate.solve
    monkeypatch.setattr(evaluate, "solve", lambda model, *a, **kw:
                        used.append(next(model.parameters()).device) or solve(model, *a, **kw))
    pipeline.run(compose_cfg(overrides))
    assert asked == ["cpu"] and moved == [(target,)]
    assert used and set(used) == {target}
