"""Two CPU processes (DDP over gloo) through the real CLI: ranks > 0 only train, rank 0 alone
evaluates, augments and commits, and every rank trains on each round's enlarged set."""

from __future__ import annotations

import json

from fdd.problems import read_problems
from tests.conftest import TINY, run_cli


def test_ddp_two_processes_train_on_every_rounds_set(tmp_path):
    run_dir, trace = tmp_path / "run", tmp_path / "trace"
    res = run_cli(["trainer=ddp", "trainer.devices=2", *TINY, "rounds=2", f"hydra.run.dir={run_dir}"],
                  env={"FDD_TRACE_IDS": str(trace)}, timeout=240)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete" and [r["round"] for r in summary["rounds"]] == [0, 1, 2]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in out  # a second process really joined
    for k in range(3):
        # the boundary ran once (rank 0): one round line each, though both ranks share the console
        assert out.count(f"round {k}: train ") == 1, k
        train = {p.id for p in read_problems(run_dir / "rounds" / f"round_{k}" / "train.jsonl")}
        shards = [set(json.loads((trace / f"round{k}_rank{r}.json").read_text())) for r in (0, 1)]
        assert all(shard and shard < train for shard in shards), k  # each rank trains on a share ...
        assert shards[0] | shards[1] == train, k                    # ... and together on all of it
        assert summary["rounds"][k]["training"]["examples"] == len(train)
    assert len(train) > summary["rounds"][0]["train_size"]  # the set grew, and rank 1 trained on it
    assert (run_dir / "student" / "config.json").exists()
