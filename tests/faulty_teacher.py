"""A stand-in LLM teacher that is often wrong, for tests/fake_openai_server.py.

Like real LLMs writing new problems, it gets the problems right and their programs wrong: a step
dropped, a number copied wrong; some programs hard-code the answer, some similar problems repeat
the parent, some replies indent the fenced program inside a markdown list. Asked to solve (the
annotate prompt) it is right, or wrong for `solve_wrong` of its answers, slipping the same ways.
Every draw is a hash of the request, so replies are deterministic under concurrency and reruns.
In its world every question's answer is the sum of the question's numbers (`true_answer`), so a
test can score any label.
"""

from __future__ import annotations

import hashlib
import re

from tests.fake_openai_server import (
    _ANY_MARKER,
    Responder,
    _numbers,
    _program,
    default_responder,
    target_question,
)


def true_answer(question: str) -> float:
    """The right answer of a question in the fake teachers' world: the sum of its numbers."""
    return float(sum(float(x) for x in _numbers(question)))


def _draw(*key: object) -> float:
    """A uniform draw in [0, 1) fixed by `key` (same reply to the same request, under concurrency)."""
    return int(hashlib.sha256(repr(key).encode()).hexdigest()[:8], 16) / 16 ** 8


def _wrong_program(numbers: list[str], how: float) -> str:
    """A subtly wrong program for these numbers: a step dropped, or a number changed."""
    names = [f"q{i}" for i in range(len(numbers))]
    lines = [f"{n} = {v}" for n, v in zip(names, numbers)]
    if how < 0.5 and len(names) > 1:
        return "\n".join([*lines, f"ans = {' + '.join(names[:-1])}"])  # the last step is dropped
    lines[0] = f"q0 = {float(numbers[0]) + 1 + int(how * 10) % 4:g}"  # a number copied wrong
    return "\n".join([*lines, f"ans = {' + '.join(names)}"])


def faulty_responder(wrong: float = 0.3, literal: float = 0.0, near_copy: float = 0.0, unfit: float = 0.0,
                     indented: float = 0.2, solve_wrong: float = 0.0) -> Responder:
    """A teacher like a real LLM: for a `wrong` share of the new problems it writes, the program is
    subtly wrong (a step dropped, a number changed); a `literal` share hard-codes `ans = N` (the
    right N); a `near_copy` share of similar problems repeats the parent with a cosmetic change; an
    `unfit` share subtracts where it should add, giving a negative count;
    an `indented` share of replies puts each program in a markdown list item with an indented
    fence. Asked to solve (the annotate prompt) it is right, except for a `solve_wrong` share of
    its answers (each choice drawn apart), which slip the same ways."""

    def respond(prompt: str, index: int) -> str:
        m = re.search(r"Make (\d+) new problems? that (?:are|is) (\w+)", prompt)
        if not m:
            q = target_question(prompt)
            if _draw("solve", q, index) < solve_wrong:
                return f"```python\n{_wrong_program(_numbers(q), _draw('solve-how', q, index))}\n```"
            return default_responder(prompt, index)
        parent = target_question(prompt)
        text = default_responder(prompt, index)
        parts = []
        for i, chunk in enumerate(re.split(r"\n\n(?=Problem \d+:)", text)):
            q = re.search(r"Question: (.*)\n", chunk).group(1)
            nums = _numbers(q)
            r = _draw(parent, q, index, i)
            if r < near_copy and m.group(2).lower().startswith("similar"):
                q, nums = f"{_ANY_MARKER.sub('', parent).strip()} Show your work.", _numbers(parent)
                program = _program(nums)
            elif r < near_copy + literal:
                program = f"ans = {true_answer(q):g}"
            elif r < near_copy + literal + unfit:
                program = _program(nums).replace(" + ", " - ")
            elif r < near_copy + literal + unfit + wrong:
                program = _wrong_program(nums, _draw("how", q))
            else:
                program = _program(nums)
            if _draw("indent", q, index) < indented:
                body = "\n".join("   " + line for line in ["```python", *program.split("\n"), "```"])
                parts.append(f"Problem {i + 1}:\n1. Question: {q}\n2. Program:\n{body}")
            else:
                parts.append(f"Problem {i + 1}:\nQuestion: {q}\nProgram:\n```python\n{program}\n```")
        return "\n\n".join(parts)

    return respond



def smollm2_like_responder(prompt: str, index: int) -> str:
    """Replies shaped like SmolLM2-135M-Instruct's under `transformers serve` (seen with fdd's PoT
    prompts on GSM8K: of 8 annotate replies at max_tokens=256, 4 were cut, 4 held no program).
    Asked to solve, one of two shapes, fixed per question: a short answer in the few-shot's style
    that is no program (`A: 48 + 25 = 73`), or prose, a program that copies the numbers and never
    sets `ans`, and more prose that runs on to the token limit. Asked for new problems, the original
    question echoed again and again with such programs. Deterministic (the server samples nothing)."""
    question = target_question(prompt)
    nums = _numbers(question) or ["1"]
    program = "\n".join(f"value_{i} = {v}" for i, v in enumerate(nums[:3]))
    ramble = " ".join(["We need to find the total number of items in the problem."] * 40)
    if re.search(r"Make \d+ new problems?", prompt):
        echo = f"Original problem:\nQuestion: {_ANY_MARKER.sub('', question).strip()}\nProgram:\n```python\n{program}\n```\n\n"
        return echo * 30
    if _draw("shape", question) < 0.5:
        return f"A: {' + '.join(nums[:2])} = {sum(float(x) for x in nums[:2]) + 1:g}\nA: {nums[0]}"
    return f"To solve this problem, we need to add the numbers.\n```python\n{program}\n```\n{ramble}"
