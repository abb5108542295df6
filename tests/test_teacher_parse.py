"""The response parser (fdd/teachers/parse.py) on the shapes real LLM replies take, and the cot /
eot answer readers."""

from __future__ import annotations

import random
import re

import pytest

from fdd.rationales import eot_program, get_format
from fdd.teachers.parse import (
    extract_code,
    extract_cot,
    extract_eot,
    extract_pot,
    extract_rationale,
    parse_problems,
)
from tests.test_openai_teacher import run

# --- parsing -------------------------------------------------------------------------------------
POT_VARIANTS = [
    "```python\na = 3\nans = a + 4\n```",
    "Sure! Here is the program:\n```py\na = 3\nans = a + 4\n```\nThe answer is 7.",
    "```\na = 3\nans = a + 4\n```",
    "We compute it.\na = 3\nans = a + 4\nSo the answer is 7.",
    "```python\ndef solution():\n    a = 3\n    return a + 4\n```",
    "```python\na = 3\nans = a + 4",  # unterminated fence
]


@pytest.mark.parametrize("text", POT_VARIANTS)
def test_extract_pot_variants(text):
    assert run([extract_pot(text)]) == [7.0]


@pytest.mark.parametrize("text", ["", "I cannot solve this.", "```python\nthis is not python(\n```",
                                  "The answer is 7.", "\x00\x01", "```\n```", "(" * 5000])
def test_extract_pot_rejects_garbage(text):
    assert extract_pot(text) is None


def test_parse_several_problems_in_many_styles():
    numbered = ("Here are two.\n\n1. Ann has 5 apples and buys 3 more. How many now?\n```python\nans = 5 + 3\n```\n"
                "2. Bob has 10 pens and loses 4 of them. How many are left?\n```python\nans = 10 - 4\n```")
    headed = ("**Problem 1:**\n**Question:** Ann has 5 apples and buys 3 more. How many now?\n**Program:**\n"
              "```python\nans = 5 + 3\n```\n\n### Problem 2\nQuestion: Bob has 10 pens and loses 4 of them. "
              "How many are left?\nProgram:\n```python\nans = 10 - 4\n```\nHope this helps!")
    labels = ("Question: Ann has 5 apples and buys 3 more. How many now?\nProgram:\nans = 5 + 3\n\n"
              "Question: Bob has 10 pens and loses 4 of them. How many are left?\nProgram:\nans = 10 - 4\n")
    for text in (numbered, headed, labels):
        pairs = parse_problems(text, "pot")
        assert [q.split()[0] for q, _ in pairs] == ["Ann", "Bob"], text
        assert run([r for _, r in pairs]) == [8.0, 6.0]
    odd = ("### Problem 1 (harder)\nQuestion: Ann has 5 apples and buys 3 more. How many now?\n\n```python\n"
           "ans = 5 + 3\n```\n### Problem 2 (harder) Question: Bob has 10 pens and loses 4 of them. How many are "
           "left?\n```python\nans = 10 - 4\n```")
    assert [q for q, _ in parse_problems(odd, "pot")] == ["Ann has 5 apples and buys 3 more. How many now?",
                                                         "Bob has 10 pens and loses 4 of them. How many are left?"]
    assert parse_problems("No problems here, sorry.", "pot") == []
    assert parse_problems("Problem 1:\nQuestion: Too short\nProgram:\n```python\nans = 1\n```", "pot") == []
    # a numbered list inside a code block is not a problem header
    one = parse_problems("Question: Ann has 5 apples and buys 3 more. How many now?\n```python\n"
                         "# 1. start\na = 5\n# 2. buy\nans = a + 3\n```", "pot")
    assert len(one) == 1 and run([one[0][1]]) == [8.0]


def test_parse_cot_and_eot_problems():
    cot = ("Problem 1:\nQuestion: Ann has 5 apples and buys 3 more. How many now?\nSolution: 5 + 3 = 8. "
           "The answer is 8.\n\nProblem 2:\nQuestion: Bob has 10 pens and loses 4 of them. How many are left?\n"
           "Solution: 10 - 4 = 6.\nAnswer: 6")
    pairs = parse_problems(cot, "cot")
    assert [q.split()[0] for q, _ in pairs] == ["Ann", "Bob"] and run([r for _, r in pairs], "cot") == [8.0, 6.0]
    eot = ("Problem 1:\nQuestion: Tom is 4 years older than Ann. Together they are 30. How old is Tom?\n"
           "Equations:\n```\ntom = ann + 4\ntom + ann = 30\nans = tom\n```")
    (pair,) = parse_problems(eot, "eot")
    assert run([pair[1]], "eot") == [17.0]


def test_cot_answers():
    texts = ["3 + 4 = 7. The answer is 7.", "So she pays $1,250. The answer is $1,250.", "The answer is 3/4.",
             "First 5. The answer is 5. Wait, no: the answer is -2.5.", "GSM8K style\n#### 72", "no final answer"]
    assert run(texts, "cot") == [7.0, 1250.0, 0.75, -2.5, 72.0, None]
    assert get_format("cot").answers(["nothing"])[0].error == "no_answer"
    assert extract_cot("He has 3 + 4 = 7 apples. The answer is 7. I hope this helps!") == \
        "He has 3 + 4 = 7 apples. The answer is 7."
    assert extract_cot("Total: 5 + 2 = 7\n#### 7").endswith("The answer is 7.")
    assert extract_cot("I don't know.") is None


def test_eot_answers_and_safety():
    texts = [
        "```\nx = 12 + 5\ny * 2 = x\nans = y\n```",            # implicit unknown on the left
        "1. tom = ann + 4\n2. tom + ann = 30\n3. ans = tom",  # numbered lines
        "price = 2.5 * 4  # dollars\ntotal = price + 1\n",    # no ans line: the last left side
        "x * x = 49\nans = x",                                # nonlinear: the non-negative root
        "a + b = 10\na - b = 2\nans = a * b",
        "x = __import__('os').system('echo hi')\nans = x",    # not arithmetic: no equations
        "x = 1\nx = 2\nans = x",                              # inconsistent: no answer
        "Let me think about it in words only.",
    ]
    assert run(texts, "eot") == [8.5, 17.0, 11.0, 7.0, 24.0, None, None, None]
    assert extract_eot(texts[2]).endswith("ans = total")
    program = eot_program("open = 3\nans = open * 2")
    assert "open" not in program and "Symbol('s1')" in program  # user names never reach the program
    assert run([program]) == [6.0]


def test_indented_fence_in_a_markdown_list_parses():
    reply = ("Sure! Here is how to solve it:\n\n1. Count the apples:\n   ```python\n   apples = 3\n"
             "   more = 4\n   ans = apples + more\n   ```\n2. The answer is 7.\n")
    assert extract_pot(reply) == "apples = 3\nmore = 4\nans = apples + more"
    several = ("Problem 1:\n1. Question: Tom has 3 apples and buys 4 more. How many apples now?\n2. Program:\n"
               "   ```python\n   a = 3\n   ans = a + 4\n   ```\n\nProblem 2:\n- Question: Ann has 5 pens and "
               "gets 2 more. How many pens?\n- Program:\n    ```python\n    p = 5\n    ans = p + 2\n    ```")
    assert parse_problems(several, "pot") == [
        ("Tom has 3 apples and buys 4 more. How many apples now?", "a = 3\nans = a + 4"),
        ("Ann has 5 pens and gets 2 more. How many pens?", "p = 5\nans = p + 2")]


def test_extract_code_prefers_valid_fences():
    text = "```text\nnot code\n```\n```python\nans = 1\n```"
    assert extract_code(text) == "ans = 1"
    assert re.search(r"ans = 1", extract_code("ans = 1\nThat is all.") or "")


def test_parsers_never_raise_on_noise():
    rng = random.Random(0)
    pieces = ["```", "```python", "Problem 1:", "2.", "Question:", "Program:", "ans =", "= =", "(", "\n", "  ",
              "The answer is", "#### 5", "x = 1", "def f(:", "\x00", "**", "Solution:", "1)", "é", "?" * 3]
    for _ in range(300):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        for fmt in ("pot", "cot", "eot"):
            parse_problems(text, fmt)
            extract_rationale(text, fmt)
