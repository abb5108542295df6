"""Use a trained student: `python -m fdd.solve --student DIR "question" ...` or `--file problems.jsonl`.

DIR is a run's `student/` directory (or any save_pretrained model + tokenizer): it loads with plain
transformers, and its config carries what fdd added (`fdd_prompt`: a causal student's prompt
template; `fdd_rationale`: the rationale format, pot by default; `fdd_max_new_tokens`: the run's evaluation
budget, the default of `--max-new-tokens`; `fdd_max_source_len`, the default of `--max-source-len`;
`fdd_answer_rule`: whether generation stops at the answer statement, fdd/pipeline.py `stop_rules`). Questions on the command line print
each rationale followed by `answer: X`; `--file` (jsonl with a `question` and optionally an `id` per
line, e.g. a run's train.jsonl; `-` reads stdin) prints one JSON object per problem:
{"id", "question", "rationale", "answer", "error"}. The answer is the rationale's executed result
(PoT programs run in fdd's sandbox).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_MAX_NEW_TOKENS = 384  # the pretrained presets' evaluation budget


class SolveError(Exception):
    """Bad input: one line on stderr, exit 2."""


def load_student(path: str | Path, device: str | None = None):
    """(model, tokenizer, rationale format name) of a saved student, on `device` (default: cuda if any)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise SolveError(f"student dir {path} does not exist")
    if not (path / "config.json").exists():
        raise SolveError(f"{path} holds no config.json: not a saved student (a run's student/ dir)")
    config = AutoConfig.from_pretrained(path)
    auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = auto.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise SolveError(f"cannot load the student in {path}: {str(e).strip().splitlines()[0]}") from None
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tokenizer, getattr(config, "fdd_rationale", None) or "pot"


def read_questions(file: str) -> list[dict]:
    """[{"id", "question"}] from a jsonl file (ids default to the line number)."""
    if file == "-":
        lines = sys.stdin.read().splitlines()
    else:
        try:
            lines = Path(file).read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise SolveError(f"cannot read {file}: {e.strerror or e}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise SolveError(f"{file}:{n}: not JSON ({e.msg})") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("question"), str):
            raise SolveError(f"{file}:{n}: expected an object with a \"question\" string")
        out.append({"id": str(rec.get("id", n)), "question": rec["question"]})
    return out


def solve(model, tokenizer, questions: list[str], rationale: str = "pot", batch_size: int = 32,
          max_new_tokens: int = 256, max_source_len: int = 256) -> list[tuple[str, float | None, str | None]]:
    """(rationale, executed answer, error) per question: greedy generation that stops when the
    rationale is finished, by the rules the run used (`fdd_answer_rule`), fitted to the student's
    context, then the format's answers."""
    from fdd.rationales import get_format
    from fdd.student.generation import generate

    fmt = get_format(rationale)
    if getattr(model.config, "fdd_answer_rule", True) is False:
        fmt = fmt.without_answer_rule()
    texts = [g[0].text for g in generate(model, tokenizer, questions, batch_size=batch_size, fmt=fmt,
                                         max_new_tokens=max_new_tokens, max_source_len=max_source_len, desc="solve")]
    answers = fmt.answers(texts)
    return [(t, a.value, a.error) for t, a in zip(texts, answers)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fdd.solve", description=__doc__.split("\n\n")[0])
    ap.add_argument("questions", nargs="*", help="questions to solve")
    ap.add_argument("--student", required=True, help="a saved student dir (a run's student/)")
    ap.add_argument("--file", help="jsonl of problems (a `question` per line); - reads stdin")
    ap.add_argument("--rationale", help="rationale format (default: the student's, else pot)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, help="generation budget (default: the run's evaluation "
                    f"budget saved with the student, else {DEFAULT_MAX_NEW_TOKENS})")
    ap.add_argument("--max-source-len", type=int, help="question tokens kept (default: the run's "
                    "student.max_source_len saved with the student, else 256)")
    ap.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    args = ap.parse_args(argv)
    try:
        if not args.questions and not args.file:
            raise SolveError("give questions as arguments or --file problems.jsonl")
        problems = [{"id": str(i), "question": q} for i, q in enumerate(args.questions, 1)]
        if args.file:
            problems += read_questions(args.file)
        model, tokenizer, rationale = load_student(args.student, args.device)
        from fdd.rationales import FORMATS

        rationale = args.rationale or rationale
        if rationale not in FORMATS:
            raise SolveError(f"--rationale must be one of {', '.join(FORMATS)}, got {rationale!r}")
        budget = args.max_new_tokens or getattr(model.config, "fdd_max_new_tokens", None) or DEFAULT_MAX_NEW_TOKENS
        source = args.max_source_len or getattr(model.config, "fdd_max_source_len", None) or 256
        results = solve(model, tokenizer, [p["question"] for p in problems], rationale, args.batch_size,
                        budget, source)
    except SolveError as e:
        print(f"fdd.solve: error: {e}", file=sys.stderr)
        return 2
    for p, (text, answer, error) in zip(problems, results):
        if args.file:
            print(json.dumps({**p, "rationale": text, "answer": answer, "error": error}, ensure_ascii=False))
        else:
            shown = f"{answer:g}" if answer is not None else f"none ({error})"
            print(f"{text}\nanswer: {shown}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
