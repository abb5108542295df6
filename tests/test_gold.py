"""teacher=gold: GSM8K worked solutions become PoT programs that reproduce the gold answer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra.utils import instantiate

from fdd.datasets.gsm8k import final_answer
from fdd.datasets.gsm8k_gold import build_programs, convert, to_cot, to_eot
from fdd.problems import Problem
from fdd.rationales import get_format
from fdd.sandbox import execute
from fdd.teachers.base import Teacher
from fdd.teachers.gold import GoldTeacher
from fdd.verify import checks
from tests.conftest import ROOT, compose_cfg

NATALIA_Q = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
             "How many clips did Natalia sell altogether in April and May?")
NATALIA_A = ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
             "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72")


def _problem(solution: str, question: str = "A question?") -> Problem:
    return Problem(id="p", question=question, answer=final_answer(solution), rationale=solution, source="gsm8k")


def _run(program: str) -> float | None:
    return execute([program])[0].answer


def test_natalia() -> None:
    program = build_programs(NATALIA_Q, NATALIA_A, 72.0).program
    assert program == "clips_may = 48 / 2\nans = 48 + clips_may\n"
    assert _run(program) == 72.0


QUIRKS = {
    "text computation without annotation":
        "He needs 60 - 20 = <<60-20=40>>40 bags more.\nHe makes 10 bags per day, so he needs 40 / 10 = 4 days.\n#### 4",
    "percent, answered as a percentage":
        "There are 20 * 40% = <<20*40*.01=8>>8 girls.\nThe share of girls is 8 girls / 25 total people = 32%\n#### 32",
    "x for multiplication, thousands separators, currency":
        "He pays 2 x $1,200 = $2,400 for the bikes.\nWith the $600 helmet: $2,400 + $600 = $3,000\n#### 3,000",
    "word operators":
        "They need $26 more because 200 minus 174 equals 26.\n#### 26",
    "annotation result reused under a typo":
        "Revenue is 240 + 80 = <<240+80=320>>320.\nShe gave away 10 x 2 = <<10*2=20>>20.\nSo she has $32 - $20 = $300 left.\n#### 300",
    "algebra in prose":
        "Let x be Frankie's wins. Carla won 2*x.\nSo x + 2*x = 30 games.\n3*x = 30, x = 10.\nCarla won 2x=20 games.\n#### 20",
    "unit conversion without an operator":
        "Eight servings = 8 * 3.5 = <<8*3.5=28>>28 cups\n28 cups = 14 pints\n#### 14",
    "rounded percentage":
        "15 trucks / 90 vehicles * 100% = 16.66...%, which rounds up to 17%.\n#### 17",
    "round up in prose":
        "She will need to work $2060/$15 per hour = 137.33 hours.\nShe will need to work 138 hours\n#### 138",
    "negative numbers":
        "Start = +<<2=2>>2 degrees\nDrop 8 degrees = 2 - 8 = -6 degrees\nIncrease 3 = -6 + 3 = -3 degrees\n#### -3",
    "mixed numbers and fractions":
        "The second present needs 3 / 4 * 2 = 1 1/2 square feet.\nIn all 2 + 1 1/2 + 3 1/2 = 7 square feet.\n#### 7",
    "space as thousands separator":
        "In 5 years, 467 000 - 450 000 = 17 000 people came.\nEach year: 17 000/5 = 3 400.\n#### 3400",
}


@pytest.mark.parametrize("solution", list(QUIRKS.values()), ids=list(QUIRKS))
def test_quirks(solution: str) -> None:
    (result,) = convert([_problem(solution)])
    assert result.ok, (result.reason, result.program)
    assert "ans" in result.program and _run(result.program) == pytest.approx(final_answer(solution))


def test_data_flow_is_kept() -> None:
    program = build_programs("?", QUIRKS["text computation without annotation"], 4.0).program
    assert re.search(r"^ans = \w+ / 10$", program, re.M), program  # 40 is the earlier result, not a literal


def test_failures_have_reasons() -> None:
    results = convert([_problem("It took three days, so the answer is 3.\n#### 3"),
                       _problem("There are 5*20 = <<5*20=100>>100 tanks.\nIn all 100+20 = <<100+20=120>>120.\n#### 140"),
                       Problem(id="x", question="q", answer=None, rationale="no marker")])
    assert [r.ok for r in results] == [False, False, False]
    assert "no computation" in results[0].reason and "140" in results[1].reason
    assert "####" in results[2].reason


def test_gsm8k_reproduction(gsm8k_gold) -> None:
    """>= 99.4 % of GSM8K train + test reproduce gold with a program that computes it; every exception
    is documented."""
    problems, results = gsm8k_gold
    assert len(problems) == 8792
    ok = sum(r.ok for r in results)
    assert ok / len(problems) >= 0.994, f"{ok}/{len(problems)}"  # measured: 8 744 (99.45 %)
    assert not [r.id for r in results if r.ok and checks.is_literal(r.program)]
    failed = [r for r in results if not r.ok]
    assert all(r.reason for r in failed)
    doc = (ROOT / "docs" / "gsm8k_gold.md").read_text()
    missing = [r.id for r in failed if r.id not in doc]
    assert not missing, f"exceptions not listed in docs/gsm8k_gold.md: {missing}"
    for r in results[:50]:
        assert r.program.count("ans =") >= 1


def test_teacher_protocol() -> None:
    teacher = GoldTeacher(rationale="pot", seed=0, run_dir="/tmp/unused")
    assert isinstance(teacher, Teacher)
    problems = [_problem(NATALIA_A, NATALIA_Q), Problem(id="no-solution", question="q", answer=1.0)]
    candidates = teacher.annotate(problems)
    assert candidates[0] == ["clips_may = 48 / 2\nans = 48 + clips_may\n"] and candidates[1] == []
    assert teacher.harder(problems, n=2, round=0) == [[], []] and teacher.similar(problems, 3, 1) == [[], []]
    assert teacher.usage().requests == 2 and teacher.usage().unparsed == 1
    with pytest.raises(ValueError):
        GoldTeacher(rationale="latex")


def test_other_rationale_formats() -> None:
    problem = _problem(NATALIA_A, NATALIA_Q)
    cot = GoldTeacher(rationale="cot").annotate([problem])[0][0]
    assert cot == to_cot(NATALIA_A) and "<<" not in cot and cot.endswith("The answer is 72.")
    assert get_format("cot").answers([cot])[0].value == 72.0
    eot = GoldTeacher(rationale="eot").annotate([problem])[0][0]
    assert get_format("eot").answers([eot])[0].value == 72.0
    algebra = build_programs("?", QUIRKS["algebra in prose"], 20.0).program
    assert "def " in algebra and get_format("eot").answers([to_eot(algebra)])[0].value == pytest.approx(20.0)


def test_config_instantiates() -> None:
    cfg = compose_cfg(["teacher=gold", "dataset=gsm8k", "eval=paper"])
    teacher = instantiate(cfg.teacher, rationale="pot", seed=0, run_dir="/tmp/unused")
    assert isinstance(teacher, GoldTeacher)
    assert cfg.dataset.name == "gsm8k" and set(cfg.eval.sets) == {"gsm8k", "asdiv", "svamp", "multiarith"}
    assert Path(ROOT / "conf" / "teacher" / "gold.yaml").is_file()


def test_literal_annotation_reads_the_computation_written_before_it() -> None:
    """`1.5 / .25 = <<6=6>>6`: the annotation states only the result, the prose holds the computation."""
    q = "Peter has $2 and leaves with $.50. Soda costs $.25 an ounce. How many ounces did he buy?"
    sol = "He spent 2 - .5 = <<2-.5=1.5>>1.5 dollars.\nHe bought 1.5 / .25 = <<6=6>>6 ounces.\n#### 6"
    program = build_programs(q, sol, 6.0).program
    assert program is not None and not checks.is_literal(program)
    assert execute([program])[0].answer == 6.0
    assert "/ 0.25" in program and "2 - 0.5" in program


def test_literal_annotation_of_a_solved_unknown_is_that_unknown() -> None:
    q = "Together they ran 36 miles. Josh ran half of Selena's distance. How many miles did Selena run?"
    sol = "J + 2J = 36\n3J = <<36=36>>36 miles\nJ = <<12=12>>12\n2J = <<24=24>>24 miles\n#### 24"
    program = build_programs(q, sol, 24.0).program
    assert program is not None and "def equation(J)" in program and program.rstrip().endswith("ans = 2 * J")
    assert execute([program])[0].answer == 24.0


def test_an_answer_only_stated_is_an_exception_not_a_literal_program() -> None:
    q = "The entree costs $5 more than the dessert; both cost $23. How much is the entree?"
    sol = "D+(D+5)=23\n2D+5=23\nD=<<9=9>>9\nThe entree costs $<<14=14>>14.\n#### 14"
    plan = build_programs(q, sol, 14.0)
    assert plan.program is None and "not the result of any computation" in plan.reason
