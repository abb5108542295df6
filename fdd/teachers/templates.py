"""Prompt templates: plain text files, one per rationale format and task.

`fdd/teachers/prompts/<fmt>/<task>.txt` (tasks: annotate, harder, similar, and with
`feedback.show_attempt=true` harder_attempt, similar_attempt); a user overrides one file or all
with `teacher.prompts_dir` (DIR/<fmt>/<task>.txt or DIR/<task>.txt). Placeholders are `{question}`
and `{n}`, and in the attempt prompts `{attempt}` (the student's output) and `{step}` (where it
went wrong, `describe_attempt`), filled by plain replacement so braces in few-shot code need no
escaping.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PROMPTS_DIR = Path(__file__).with_name("prompts")
TASKS = ("annotate", "harder", "similar", "harder_attempt", "similar_attempt")


def load_prompt(fmt: str, task: str, prompts_dir: str | os.PathLike | None = None) -> str:
    """The template for `task` in rationale format `fmt`: `<prompts_dir>/<fmt>/<task>.txt`, else
    `<prompts_dir>/<task>.txt`, else the packaged one (so a user may override a single file)."""
    candidates = [] if prompts_dir is None else [Path(prompts_dir) / fmt / f"{task}.txt",
                                                 Path(prompts_dir) / f"{task}.txt"]
    candidates.append(PROMPTS_DIR / fmt / f"{task}.txt")
    for path in candidates:
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            if "{question}" not in text:
                raise ValueError(f"prompt {path} has no {{question}} placeholder")
            return text
    raise FileNotFoundError(f"no {task} prompt for rationale format {fmt!r} (looked in {', '.join(map(str, candidates))})")


def render_prompt(template: str, **values: object) -> str:
    """Fill `{name}` placeholders by plain replacement, so braces in few-shot code need no escaping."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template.strip() + "\n"


def describe_attempt(attempt) -> str:
    """The `{step}` sentence of an attempt prompt: where the student's solution went wrong
    (fdd.teachers.base.Attempt, fdd/rounds/diagnosis.py)."""
    if attempt.correct:
        return "The student's solution is right."
    if attempt.position and attempt.line:
        return (f"Where it went wrong: a correct solution computes `{attempt.line}` (step {attempt.position} of "
                f"{attempt.steps}, {attempt.kind}), and the student's solution never computes that value.")
    return {"syntax": "The student's program is not valid Python.",
            "runtime": "The student's program stops with an error before it gives an answer."}.get(
        attempt.failure or "", "The student's solution gives a wrong answer.")


_EXAMPLE = re.compile(r"^[ \t]*Question[ \t]*:[ \t]*(.+(?:\n(?![ \t]*(?:[A-Z][\w ]{0,20}:|```|$)).+)*)", re.M)


def prompt_examples(template: str) -> list[str]:
    """The example questions a prompt shows (lines after `Question:`), not its placeholders
    (`{question}`, `<the new problem>`): a new problem must not copy them (fdd/verify/novelty.py)."""
    out = []
    for m in _EXAMPLE.finditer(template):
        text = " ".join(m.group(1).split())
        if text and "{" not in text and not (text.startswith("<") and text.endswith(">")):
            out.append(text)
    return out
