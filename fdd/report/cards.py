"""Cards the Hugging Face hub reads: the exported student's model card (`student/README.md`, written
at the end of every run) and the dataset card of `python -m fdd.export` (fdd/export.py).

Both are rendered from what a run wrote, summary.json and the resolved config, so they can be
rebuilt for any finished run. The YAML front matter uses the hub's metadata keys (`library_name`,
`base_model`, `datasets`, `tags`, `pipeline_tag`, `task_categories`, ...); `base_model` and
`datasets` name hub repositories, so they are set only where the run used one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fdd.report.summaries import accuracies, eval_names, fmt_int, md_table, mean, pct, rounds_of

# training sets with a hub home (fdd/datasets/ loads them from the hub when no local file is given)
HUB_DATASETS = {"gsm8k": "openai/gsm8k", "svamp": "ChilleD/SVAMP", "asdiv": "EleutherAI/asdiv",
                "multiarith": "ChilleD/MultiArith"}
FIELDS = {  # the Problem record (DESIGN §4) and what fdd.export adds, for the dataset card
    "id": "unique id; a teacher's new problem is `<parent id>.<round><origin letter><k>`",
    "question": "the word problem",
    "answer": "the numeric answer: the gold label for seed problems, the verified (agreed) answer for new ones",
    "rationale": "the solution the student is trained to write (a Python program for PoT, text for CoT, "
                 "equations for EoT)",
    "origin": "`seed` (from the training set), `harder` (a harder variation of a problem the student "
              "solved) or `similar` (a new problem like one it failed)",
    "parent_id": "the problem a new one was written from (empty for seed problems)",
    "round": "the first round whose training set holds the problem (0 for seed problems)",
    "source": "where it came from: the dataset's name, or `teacher`",
    "tags": "diagnosis labels as JSON (kind, steps, step_kinds, type), never trained on; may be empty",
    "teacher": "the teacher that wrote the rationale (and the problem, for new ones)",
    "verification": "how the record was checked before it was kept",
}


def _front_matter(meta: Mapping[str, Any]) -> str:
    """YAML front matter; values are JSON, which YAML reads as they are."""
    lines = ["---"]
    for key, value in meta.items():
        if value in (None, [], ""):
            continue
        if isinstance(value, list):
            lines += [f"{key}:"] + [f"- {json.dumps(v)}" for v in value]
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "\n".join([*lines, "---", ""])


def teacher_name(config: Mapping) -> str:
    t = config.get("teacher") or {}
    target = str(t.get("_target_", "")).rsplit(".", 1)[-1]
    if not target:
        return "unknown (the run's config was not found)"
    return {"SymbolicTeacher": "symbolic (fdd's embedded procedural teacher)", "GoldTeacher": "gold (the dataset's own "
            "worked solutions)"}.get(target, f"{t.get('model', target)} (OpenAI-compatible API)")


def verification(config: Mapping) -> dict[str, str]:
    """How a seed problem and a new problem were checked, in words (fdd/rounds/feedback.py)."""
    t = config.get("teacher") or {}
    new = "its rationale runs to a finite number; not a duplicate; no overlap with an evaluation set; static checks " \
          f"({', '.join(t.get('checks', ['literal', 'answer_fit', 'near_copy']))})"
    if t.get("verify") == "resolve":
        new += f"; re-solved by the teacher ({t.get('verify_samples', 1)} fresh solution(s)), kept on a strict majority"
    return {"seed": "the teacher's rationale reproduces the gold answer; no overlap with an evaluation set",
            "new": new}


def _base_model(config: Mapping) -> str | None:
    name = str((config.get("student") or {}).get("name_or_path") or "")
    hub = name.count("/") == 1 and not name.startswith(("/", ".", "~", "pkg:"))
    return name if hub else None


def _usage(summary: Mapping) -> dict[str, float]:
    total: dict[str, float] = {}
    for block in [(summary.get("seed") or {}).get("teacher") or {}, *(r.get("teacher") or {} for r in rounds_of(summary))]:
        for key in ("requests", "cached", "prompt_tokens", "completion_tokens", "cost_usd"):
            total[key] = total.get(key, 0) + (block.get(key) or 0)
        for key in ("requests", "prompt_tokens", "completion_tokens", "cost_usd"):
            total[key] += ((block.get("verify") or {}).get(key) or 0)
    return total


def model_card(summary: Mapping, config: Mapping) -> str:
    """student/README.md: what the student is, how it was made, how well it does, how to use it."""
    student, dataset = config.get("student") or {}, config.get("dataset") or {}
    rationale, fb = config.get("rationale", "pot"), config.get("feedback") or {}
    causal = "causal" in str((student.get("model") or {}).get("_target_", ""))
    names = eval_names(summary)
    hub_data = HUB_DATASETS.get(str(dataset.get("name")))
    meta = {"library_name": "transformers", "base_model": _base_model(config),
            "pipeline_tag": "text-generation" if causal else "text2text-generation",
            "datasets": [hub_data] if hub_data else [], "language": ["en"],
            "tags": ["fdd", "feedback-driven-distillation", "math-word-problems",
                     {"pot": "program-of-thought", "cot": "chain-of-thought", "eot": "equation-of-thought"}.get(rationale, rationale)]}
    rows = []
    for r in rounds_of(summary):
        accs = accuracies(r.get("eval"))
        rows.append([str(r.get("round")), fmt_int(r.get("train_size")), fmt_int(r.get("added")),
                     *(pct(accs.get(n)) for n in names), pct(mean(accs.values()))])
    final = accuracies((summary.get("final") or {}).get("eval"))
    use = _usage(summary)
    model = student.get("name_or_path") or (student.get("model") or {}).get("_target_", "").rsplit(".", 1)[-1]
    settings = {k: config.get(k) for k in ("rounds", "steps_per_round", "epochs_per_round", "batch_size", "seed",
                                           "rationale") if k in config}
    settings |= {"feedback": {k: fb.get(k) for k in ("name", "pool", "harder_per_easy", "similar_per_hard", "verdict",
                                                      "show_attempt") if k in fb},
                 "dataset": {k: v for k, v in dataset.items() if k != "path"}, "student": model,
                 "teacher": teacher_name(config)}
    out = [_front_matter(meta),
           f"# fdd student: {model}, distilled with Feedback-Driven Distillation", "",
           f"{'A decoder-only' if causal else 'An encoder-decoder'} student trained to solve math word problems by "
           f"writing {'Python programs whose `ans` is the answer (Program-of-Thought)' if rationale == 'pot' else rationale.upper() + ' rationales'}. "
           f"Its teacher, {teacher_name(config)}, wrote the rationales of the training problems and, after every "
           f"round, new problems steered by the student's own verdicts (feedback arm `{fb.get('name', 'fdd')}`: harder "
           "variations of problems it solved, similar problems for the ones it failed). Made with fdd.", "",
           "## Accuracy by round", "",
           "Accuracy in % on each evaluation set after each round's training (round 0: the teacher's "
           "rationales of the training set only); `mean` is the unweighted mean over sets.", "",
           md_table(["round", "train size", "added", *names, "mean"], rows), "",
           f"Final: {', '.join(f'{n} {pct(a)} %' for n, a in final.items())}"
           f"{f' (mean {pct(mean(final.values()))} %)' if final else ''}.", "",
           "## Teacher and its cost", "",
           f"{teacher_name(config)}: {fmt_int(use.get('requests'))} requests sent, {fmt_int(use.get('cached'))} "
           f"answered from the cache, {fmt_int(use.get('prompt_tokens'))} prompt and "
           f"{fmt_int(use.get('completion_tokens'))} completion tokens, ${use.get('cost_usd', 0):.2f} at the "
           "configured prices (verification requests included).", "",
           "## How it was made", "",
           "The fdd settings of the run (the full resolved config is in the run directory's `.hydra/`):", "",
           "```json", json.dumps(settings, indent=2, default=str), "```", "",
           "## How to use it", "",
           "With fdd, which executes the generated program in its sandbox and prints the answer:", "",
           "```bash", "python -m fdd.solve --student PATH_TO_THIS_DIR \"Ava has 3 apples. She buys 4 more. How many "
           "apples does she have now?\"", "```", "",
           "With plain transformers (the prompt template is in `config.json` as `fdd_prompt` for decoder-only "
           "students; run the program it writes only in a sandbox):", "",
           "```python",
           "from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer",
           "tok = AutoTokenizer.from_pretrained(PATH)",
           f"model = {'AutoModelForCausalLM' if causal else 'AutoModelForSeq2SeqLM'}.from_pretrained(PATH)",
           ("prompt = model.config.fdd_prompt.format(question=QUESTION)" if causal else "prompt = QUESTION"),
           "out = model.generate(**tok(prompt, return_tensors=\"pt\"), max_new_tokens=model.config.fdd_max_new_tokens)",
           ("print(tok.decode(out[0][len(tok(prompt)['input_ids']):], skip_special_tokens=True))" if causal
            else "print(tok.decode(out[0], skip_special_tokens=True))"),
           "```", "",
           "## Limitations", "",
           "Answers are only as right as the programs the student writes; a program must be executed to give "
           "one, and untrusted code should run in a sandbox (`fdd.sandbox`). The accuracies above are on the "
           "run's own evaluation sets and may not carry over to other problem styles.", ""]
    return "\n".join(out)


def dataset_card(summary: Mapping, config: Mapping, splits: Mapping[str, int]) -> str:
    """The README.md of `fdd.export --dataset`: provenance of every record and every field."""
    dataset = config.get("dataset") or {}
    hub_data = HUB_DATASETS.get(str(dataset.get("name")))
    total = sum(splits.values())
    size = "n<1K" if total < 1000 else "1K<n<10K" if total < 10_000 else "10K<n<100K" if total < 100_000 else "n>100K"
    meta = {"pretty_name": f"fdd distillation set ({dataset.get('name', 'unknown')})", "language": ["en"],
            "task_categories": ["text-generation", "question-answering"], "size_categories": [size],
            "tags": ["fdd", "feedback-driven-distillation", "math-word-problems", "synthetic"],
            "source_datasets": [hub_data] if hub_data else []}
    checks = verification(config)
    split_rows = [[name, _split_text(name), fmt_int(n)] for name, n in splits.items()]
    field_rows = [[f"`{name}`", text] for name, text in FIELDS.items()]
    out = [_front_matter(meta),
           "# fdd distillation set", "",
           f"The problems a Feedback-Driven Distillation run trained its student on: the training problems of "
           f"`{dataset.get('name', '?')}` with the teacher's rationales, and the new problems the teacher, "
           f"{teacher_name(config)}, wrote after each round, steered by the student's verdicts (feedback arm "
           f"`{(config.get('feedback') or {}).get('name', 'fdd')}`). Exported with `python -m fdd.export`.", "",
           "## Splits", "", md_table(["split", "what", "records"], split_rows, right_from=2), "",
           "## Fields", "", md_table(["field", "meaning"], field_rows, right_from=99), "",
           "## Provenance and verification", "",
           f"- **Seed problems** (`origin` = `seed`): {checks['seed']}.",
           f"- **New problems** (`origin` = `harder` or `similar`): {checks['new']}.",
           f"- Teacher: {teacher_name(config)}; rounds: {len(rounds_of(summary))}; run seed: {config.get('seed')}.", "",
           "## Loading", "", "```python", "from datasets import load_from_disk", "ds = load_from_disk(PATH)",
           "print(ds)", "```", ""]
    return "\n".join(out)


def _split_text(name: str) -> str:
    if name == "train":
        return "the final distillation set: what the last round trained on"
    if name.startswith("added_round_"):
        return f"the verified new problems written after round {name.rsplit('_', 1)[1]}"
    return "the training problems annotated at round 0" if name == "seed" else ""
