"""Export a run's data for the Hugging Face ecosystem: `python -m fdd.export RUN_DIR --dataset OUT`.

Writes a `datasets.DatasetDict` with `save_to_disk` (load it with `datasets.load_from_disk(OUT)`):
`train` (the final distillation set, rounds/round_<last>/train.jsonl), `seed` (round 0's training
set) and `added_round_<k>` (the verified new problems written after round k), each record a Problem
(DESIGN §4) with its provenance (`teacher`, `verification`; `tags` as JSON), and a dataset card
(README.md, fdd/report/cards.py) that names every field. `--push-to-hub REPO` also uploads both
(needs hub access and a token: `huggingface-cli login`; not exercised by the tests, which run
offline). The run need not be complete: the rounds committed so far are exported.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class ExportError(Exception):
    """Bad input: one line on stderr, exit 2."""


def run_config(run_dir: Path) -> dict:
    """The run's config (.hydra/config.yaml), resolved where it can be (Hydra's own interpolations
    such as ${hydra:...} cannot be outside a run: those stay as written)."""
    from omegaconf import OmegaConf

    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        return {}
    cfg = OmegaConf.load(path)
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # noqa: BLE001 - an unresolvable interpolation: keep the text
        return OmegaConf.to_container(cfg, resolve=False)


def records(path: Path, teacher: str, checks: dict[str, str]) -> list[dict]:
    from fdd.problems import read_problems

    out = []
    for p in read_problems(path):
        rec = p.to_dict()
        out.append({"id": rec["id"], "question": rec["question"], "answer": rec.get("answer"),
                    "rationale": rec.get("rationale") or "", "origin": rec.get("origin") or "seed",
                    "parent_id": rec.get("parent_id") or "", "round": int(rec.get("round") or 0),
                    "source": rec.get("source") or "", "tags": json.dumps(rec.get("tags") or {}, sort_keys=True),
                    "teacher": teacher, "verification": checks["seed" if (rec.get("origin") or "seed") == "seed" else "new"]})
    return out


def export_dataset(run_dir: Path, out: Path, push_to_hub: str | None = None) -> dict[str, int]:
    """Write the DatasetDict and its card; returns the records per split."""
    from datasets import Dataset, DatasetDict, Features, Value

    from fdd.report.cards import dataset_card, teacher_name, verification

    rounds = sorted((int(d.name.rsplit("_", 1)[1]), d) for d in (run_dir / "rounds").glob("round_*") if d.is_dir())
    trained = [(k, d) for k, d in rounds if (d / "train.jsonl").is_file()]
    if not trained:
        raise ExportError(f"{run_dir} holds no rounds/round_<k>/train.jsonl: not an fdd run directory (or nothing "
                          "was committed yet)")
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    config = run_config(run_dir)
    teacher, checks = teacher_name(config), verification(config)
    splits = {"train": records(trained[-1][1] / "train.jsonl", teacher, checks),
              "seed": records(trained[0][1] / "train.jsonl", teacher, checks)}
    for k, d in rounds:
        if (d / "added.jsonl").is_file():
            splits[f"added_round_{k}"] = records(d / "added.jsonl", teacher, checks)
    features = Features({"id": Value("string"), "question": Value("string"), "answer": Value("float64"),
                         "rationale": Value("string"), "origin": Value("string"), "parent_id": Value("string"),
                         "round": Value("int32"), "source": Value("string"), "tags": Value("string"),
                         "teacher": Value("string"), "verification": Value("string")})
    data = DatasetDict({name: Dataset.from_list(rows, features=features) for name, rows in splits.items()})
    counts = {name: len(rows) for name, rows in splits.items()}
    card = dataset_card(summary, config, counts)
    data.save_to_disk(str(out))
    (out / "README.md").write_text(card, encoding="utf-8")
    if push_to_hub:
        from huggingface_hub import DatasetCard

        data.push_to_hub(push_to_hub)
        DatasetCard(card).push_to_hub(push_to_hub)
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fdd.export", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", help="a run directory (hydra.run.dir of an fdd run)")
    ap.add_argument("--dataset", required=True, metavar="OUT", help="where to save the DatasetDict and its card")
    ap.add_argument("--push-to-hub", metavar="REPO", help="also upload to this hub dataset repo (needs a token)")
    args = ap.parse_args(argv)
    run_dir, out = Path(args.run_dir), Path(args.dataset)
    try:
        if not run_dir.is_dir():
            raise ExportError(f"run dir {run_dir} does not exist")
        if out.exists() and any(out.iterdir()):
            raise ExportError(f"{out} exists and is not empty: choose a new --dataset directory")
        counts = export_dataset(run_dir, out, args.push_to_hub)
    except ExportError as e:
        print(f"fdd.export: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"fdd.export: error: {e.strerror or e} ({e.filename or ''})", file=sys.stderr)
        return 1
    print(f"fdd.export: wrote {', '.join(f'{k} ({n})' for k, n in counts.items())} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
