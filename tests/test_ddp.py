"""Two CPU processes (DDP over gloo) through the real CLI: every rank trains on each round's enlarged
set and generates its share of each round boundary; rank 0 alone augments and commits."""

from __future__ import annotations

import json

from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from fdd.pipeline import generation_budget, load_sets
from fdd.problems import read_problems
from fdd.rationales import get_format
from fdd.student import evaluate
from tests.conftest import TINY, compose_cfg, run_cli


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
    check_sharded_boundaries(run_dir, trace, summary)


def check_sharded_boundaries(run_dir, trace, summary) -> None:
    """Each rank generated about half of every boundary, the gathered verdicts are in the problems'
    order, and they equal what one process generates with the same weights."""
    cfg = compose_cfg([*TINY, "rounds=2"])
    generation_budget(cfg)
    sets = load_sets(cfg)
    seeds = read_problems(run_dir / "rounds" / "round_0" / "train.jsonl")
    eval_n = sum(len(p) for p in sets.values())
    for k, r in enumerate(summary["rounds"]):
        gen = r["generation"]
        expected = eval_n + (len(seeds) if k < 2 else 0)  # feedback.pool=seed; the last round only evaluates
        assert gen["problems"] == sum(gen["per_rank"]) == expected, (k, gen)
        assert len(gen["per_rank"]) == 2 and abs(gen["per_rank"][0] - gen["per_rank"][1]) <= len(sets) + 1, gen
        if k < 2:
            feedback = [json.loads(line) for line in (run_dir / "rounds" / f"round_{k}" / "feedback.jsonl").open()]
            assert [f["id"] for f in feedback] == [p.id for p in seeds]  # gathered in the pool's order
    # the final student holds the last round's weights: one process must reach the same verdicts
    model = AutoModelForSeq2SeqLM.from_pretrained(run_dir / "student")
    tok = AutoTokenizer.from_pretrained(run_dir / "student")
    gathered = json.loads((trace / "round2_eval.json").read_text())
    for name, probs in sets.items():
        alone = evaluate.solve(model, tok, probs, get_format(cfg.rationale), batch_size=cfg.eval.batch_size,
                               max_new_tokens=cfg.eval.max_new_tokens, max_source_len=cfg.student.max_source_len)
        assert [(v.id, v.output, v.answer, v.correct) for v in alone] == \
            [(v["id"], v["output"], v["answer"], v["correct"]) for v in gathered[name]], name
        gathered_acc = {k: v for k, v in summary["rounds"][2]["eval"][name].items() if k != "by_tag"}
        assert gathered_acc == evaluate.accuracy(alone)
