"""New means new (fdd/verify/novelty.py): a new problem that copies a prompt example, a training or pool
problem, or another new problem of its round is rejected under its own reason, for every teacher."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fdd.datasets import synthetic as fam
from fdd.problems import Problem
from fdd.rationales import get_format
from fdd.teachers.openai_compat import OpenAITeacher
from fdd.teachers.symbolic import SymbolicTeacher
from fdd.teachers.templates import load_prompt, prompt_examples
from fdd.verify import verify
from fdd.verify.novelty import Novelty, near_copy, normalise_question, numbers
from tests.conftest import ROOT, TINY, run_pipeline
from tests.fake_openai_server import FakeOpenAIServer, target_question

POT = get_format("pot")
LENA = ("Lena has 3 shelves with 25 books on each shelf. She donates 18 books to a school. "
        "How many books are left on her shelves?")
FARMER_NEW_NUMBERS = ("A farmer fills 8 crates with 12 apples each. He sells 30 apples at the market. "
                      "How many apples does he have left?")
PARENT = Problem(id="p", question="Tom bakes 5 trays of 12 cookies and eats 7 cookies. How many cookies are left?",
                 answer=53.0, rationale="ans = 5 * 12 - 7")


def kid(question: str, program: str, pid: str = "p", i: int = 0) -> Problem:
    return Problem(id=f"{pid}.k{i}", question=question, rationale=program, origin="similar", parent_id=pid,
                   round=1, source="teacher")


def test_one_normaliser_in_the_code():
    """One question normaliser: the punctuation-stripping expression is written once under fdd/."""
    pattern = 'r"[^\\w\\s]"'
    holders = [p.relative_to(ROOT).as_posix() for p in (ROOT / "fdd").rglob("*.py") if pattern in p.read_text()]
    assert holders == ["fdd/verify/novelty.py"]
    assert normalise_question("  How many, apples?\n") == "how many apples"


def test_prompt_examples_are_read_from_every_packaged_prompt():
    examples = prompt_examples(load_prompt("pot", "similar"))
    assert LENA in examples and len(examples) == 3
    assert not any("<" in q or "{" in q for q in examples)  # placeholders are not examples


def test_novelty_reasons():
    known = [(PARENT.question, PARENT.answer), ("Ava has 40 marbles and gives 15 to Ben. How many marbles does "
                                                "Ava have left?", 25.0)]
    nov = Novelty(known, examples=prompt_examples(load_prompt("pot", "similar")))
    assert nov.copied(LENA, 57.0) == "copies_prompt"
    assert nov.copied(FARMER_NEW_NUMBERS, 66.0) == "copies_prompt"  # the example's wording with new numbers
    assert nov.copied(PARENT.question.upper(), 53.0) == "duplicate"
    renamed = "Uma has 40 marbles and gives 15 to Ben. How many marbles does Uma have left?"
    assert nov.copied(renamed, 25.0) == "copies_known"
    # the same numbers and wording but another answer is another problem (a step added without a number)
    assert nov.copied(renamed.replace("left?", "left? How many pairs of marbles is that?"), 12.0) is None
    fresh = "Ava has 41 marbles and gives 16 to Ben. How many marbles does Ava have left?"
    assert nov.copied(fresh, 25.0) is None  # a similar problem: new numbers
    nov.keep(fresh, 25.0)
    assert nov.copied(fresh.replace("Ava", "Zoe"), 25.0) == "copies_new"
    assert near_copy(renamed, known[1][0]) and not near_copy(fresh, known[1][0])


def test_verify_rejects_copies_of_the_training_set_and_of_the_round():
    train = Problem(id="t", question="Sam has 9 boxes with 4 pens in each box. How many pens does Sam have?",
                    answer=36.0)
    cands = [kid("Rosa has 9 boxes with 4 pens in each box. How many pens does Rosa have?", "ans = 9 * 4", i=0),
             kid("Kai buys 7 packs of 6 stamps and loses 5 stamps. How many stamps does Kai have?", "ans = 7*6-5", i=1),
             kid("Pia buys 7 packs of 6 stamps and loses 5 stamps. How many stamps does Pia have?", "ans = 7*6-5", i=2),
             kid(LENA, "ans = 3 * 25 - 18", i=3)]
    checked = verify(cands, POT, [train, PARENT], parents={"p": PARENT},
                     examples=prompt_examples(load_prompt("pot", "similar")))
    assert [c.id for c in checked.kept] == ["p.k1"]
    assert dict(checked.rejected) == {"copies_known": 1, "copies_new": 1, "copies_prompt": 1}


def echo(prompt: str, index: int) -> str:
    """A base model that continues its prompt by repeating it (Gemma 3 270M did): the parser then finds
    the prompt's own examples, and the parent, as if they were new problems."""
    return prompt


def copier(prompt: str, index: int) -> str:
    """A small instruct model that hands back the prompt's examples (Qwen2.5-Coder-0.5B did: one
    verbatim, one with new numbers), next to one genuinely new problem about the parent."""
    new = f"{target_question(prompt).split('.')[0]} and 9 more. How many are there in all?"
    new_numbers = re.findall(r"\d+", target_question(prompt))
    program = " + ".join([*new_numbers, "9"]) or "9"
    return (f"Problem 1:\nQuestion: {LENA}\nProgram:\n```python\nans = 3 * 25 - 18\n```\n\n"
            f"Problem 2:\nQuestion: {FARMER_NEW_NUMBERS}\nProgram:\n```python\nans = 8 * 12 - 30\n```\n\n"
            f"Problem 3:\nQuestion: {new}\nProgram:\n```python\nans = {program}\n```\n")


def _similar_through_server(responder, tmp_path: Path, n: int = 3):
    with FakeOpenAIServer(responder=responder) as s:
        teacher = OpenAITeacher(model="fake-model", base_url=s.url, api_key="k", run_dir=str(tmp_path), timeout=5,
                                max_retries=0, verify="none")
        kids = [k for ks in teacher.similar([PARENT], n, round=0) for k in ks]
        checked = verify(kids, POT, [PARENT], parents={"p": PARENT}, examples=teacher.examples())
        teacher.close()
    return kids, checked


def test_an_echoing_teacher_adds_nothing(tmp_path):
    kids, checked = _similar_through_server(echo, tmp_path)
    assert kids, "the parser found the prompt's examples in the echo (the case this guards against)"
    assert checked.kept == []
    assert checked.rejected["copies_prompt"] >= 2


def test_a_copying_teacher_keeps_only_its_new_problem(tmp_path):
    kids, checked = _similar_through_server(copier, tmp_path)
    assert len(kids) == 3
    assert [k.question for k in checked.kept] == [kids[2].question]
    assert checked.rejected["copies_prompt"] == 2


class CopyingTeacher(SymbolicTeacher):
    """The symbolic teacher, plus per parent two copies: another pool problem under a new name (same
    numbers, same answer) and the parent's own first new problem under a new name."""

    def similar(self, problems, n, round, attempts=None):
        out = super().similar(problems, n, round, attempts)
        for i, (p, kids) in enumerate(zip(problems, out)):
            other = problems[(i + 1) % len(problems)]
            extra = []
            for j, source in enumerate((other, kids[0]) if kids else (other,)):
                spec = fam.parse_question(source.question)
                name = next(x for x in fam.spec.NAMES if x not in source.question)
                extra.append(Problem(id=f"{p.id}.copy{round}.{j}", question=source.question.replace(spec.name, name),
                                     rationale=fam.render_program(spec), origin="similar", parent_id=p.id,
                                     round=round + 1, source="teacher"))
            kids += extra
        return out


def test_every_teacher_is_held_to_it_through_the_round_loop(tmp_path):
    """Through the real pipeline with the symbolic teacher: the copies are rejected under their reasons,
    and no kept new problem repeats a training problem."""
    summary, _ = run_pipeline(tmp_path, [*TINY, "teacher._target_=tests.test_novelty.CopyingTeacher",
                                         "teacher.error_rate=0", "feedback=hard_only"])
    rejected = summary["rounds"][0]["rejected_by"]
    assert rejected.get("copies_known", 0) + rejected.get("duplicate", 0) >= 1
    assert rejected.get("copies_new", 0) + rejected.get("duplicate", 0) >= 1
    train = [json.loads(line) for line in (tmp_path / "rounds/round_0/train.jsonl").read_text().splitlines()]
    added = [json.loads(line) for line in (tmp_path / "rounds/round_0/added.jsonl").read_text().splitlines()]
    assert added
    known = Novelty([(t["question"], t["answer"]) for t in train])
    assert not [a["question"] for a in added if known.copied(a["question"], a["answer"])]


def test_gsm8k_copies_only_its_one_renamed_duplicate(shared_data):
    """The measure on real questions: among GSM8K's training questions only a true renamed duplicate is
    a copy, and no test question copies a training question or a prompt example."""
    from fdd.datasets import load
    from fdd.teachers.templates import TASKS

    train = load("gsm8k", split="train", data_dir=shared_data).problems
    test = load("gsm8k", split="test", data_dir=shared_data).problems
    examples = [q for fmt in ("pot", "cot", "eot") for task in TASKS for q in prompt_examples(load_prompt(fmt, task))]
    novelty = Novelty([(p.question, p.answer) for p in train], examples)
    assert not [p.id for p in test if novelty.copied(p.question, p.answer)]
    buckets: dict = {}  # each question against the others with its numbers (the index's own buckets)
    for p in train:
        buckets.setdefault(numbers(p.question), []).append(p)
    flagged = sorted({a.id for ps in buckets.values() for a in ps for b in ps
                      if a is not b and near_copy(a.question, b.question) and a.answer == b.answer})
    assert flagged == ["gsm8k-train-02483", "gsm8k-train-06691"]  # Josie / Amanda: the same problem
