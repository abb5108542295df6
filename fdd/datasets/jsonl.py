"""Any JSON / JSONL file of word problems, with a field mapping: `dataset=jsonl dataset.path=F`.

Options: `question_field` (default `question`), `answer_field` (default `answer`), `body_field`
(prepended to the question with a space, as SVAMP's Body + " " + Question), `id_field`,
`rationale_field`, `source` (default: the file name without extension). Fields may be dotted
paths into nested objects (`meta.answer`). The answer may be a number or a string: `1,000`,
`$5.50`, `3/4`, or a worked solution ending in `#### 72` / "The answer is 72".
Ids: the `id_field` value where present, else `<source>-<split>-00012`.
"""

from __future__ import annotations

from pathlib import Path

from fdd.answers import extract_final_answer, parse_number
from fdd.datasets import Loaded, register
from fdd.datasets.files import check_options, read_json_records
from fdd.problems import Problem

_MISSING = object()


def _get(record: dict, field: str) -> object:
    value: object = record
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _answer(value: object) -> float | None:
    if isinstance(value, bool) or value is None or value is _MISSING:
        return None
    if isinstance(value, int | float):
        return parse_number(value)
    if isinstance(value, list) and value:
        return _answer(value[0])
    text = str(value)
    v = parse_number(text)
    if v is None and ("####" in text or "answer" in text.lower() or "\\boxed" in text):
        v = extract_final_answer(text)
    return v


@register("jsonl")
def load(split: str = "train", path: str | None = None, data_dir: str | None = None,
         question_field: str = "question", answer_field: str = "answer", body_field: str | None = None,
         id_field: str | None = None, rationale_field: str | None = None, source: str | None = None,
         **options) -> Loaded:
    """Problems from the JSON array / JSONL file at `path` (`data_dir` is not consulted)."""
    check_options("jsonl", options)
    if path is None:
        raise ValueError("jsonl: path= is required (the file to read)")
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"jsonl: no file at {file}")
    source = source or file.stem
    problems, failed = [], []
    for i, r in enumerate(read_json_records("jsonl", file)):
        native = _get(r, id_field) if id_field and isinstance(r, dict) else _MISSING
        pid = str(native) if native not in (_MISSING, None, "") else f"{source}-{split}-{i:05d}"
        if not isinstance(r, dict):
            failed.append({"id": pid, "reason": f"record is a JSON {type(r).__name__}, not an object"})
            continue
        question = _get(r, question_field)
        if not isinstance(question, str) or not question.strip():
            failed.append({"id": pid, "reason": f"missing question field {question_field!r}"})
            continue
        question = question.strip()
        if body_field:
            body = _get(r, body_field)
            if isinstance(body, str) and body.strip():
                question = f"{body.strip()} {question}"
        raw = _get(r, answer_field)
        if raw is _MISSING:
            failed.append({"id": pid, "reason": f"missing answer field {answer_field!r}"})
            continue
        answer = _answer(raw)
        if answer is None:
            failed.append({"id": pid, "reason": f"answer is not a number: {str(raw)[:60]!r}"})
            continue
        rationale = _get(r, rationale_field) if rationale_field else _MISSING
        problems.append(Problem(id=pid, question=question, answer=answer, source=source,
                                rationale=rationale if isinstance(rationale, str) else None))
    return Loaded(source, problems, failed)
