"""fdd.answers: the one set of rules for reading gold labels and model outputs."""

from __future__ import annotations

import math

import pytest

from fdd.answers import answers_match, equivalent, extract_final_answer, parse_number


@pytest.mark.parametrize("text, value", [
    ("42", 42.0), ("3.0", 3.0), ("42.", 42.0), ("-2", -2.0), ("−2", -2.0), ("+5", 5.0), (".5", 0.5),
    ("1,000", 1000.0), ("12,345.67", 12345.67), ("1,000,000", 1e6),
    ("$5.50", 5.5), ("$-5", -5.0), ("-$5", -5.0), ("€3", 3.0), ("USD 5", 5.0), ("5 dollars", 5.0),
    ("50%", 50.0), ("12.5 %", 12.5), ("50 percent", 50.0),
    ("3/4", 0.75), ("-3/4", -0.75), ("1 1/2", 1.5), ("½", 0.5), ("2½", 2.5), ("-(1/3)", -1 / 3),
    ("\\frac{3}{4}", 0.75), ("\\dfrac{1}{2}", 0.5), ("-\\frac{1}{2}", -0.5), ("1\\frac{1}{2}", 1.5),
    ("\\boxed{42}", 42.0), ("$\\frac{1}{12}$", 1 / 12), ("\\$9{,}500", 9500.0), ("\\text{13}", 13.0),
    ("**73**", 73.0), ("7 apples", 7.0), ("12 cm^2", 12.0), ("90°", 90.0), ("x = 5", 5.0), ("ans: 7", 7.0),
    ("1e-3", 0.001), ("2.5 x 10^3", 2500.0), ("approximately 10", 10.0), ("(5)", 5.0),
    ("five", 5.0), ("twenty-five", 25.0), ("a hundred", 100.0), ("three thousand", 3000.0),
    ("a dozen eggs", 12.0), ("half", 0.5), ("five apples", 5.0),
])
def test_parse_number(text: str, value: float) -> None:
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text", [
    "", "abc", "None", "1,5", "1,2,3", "3:30", "3:4", "5 and 6", "7 apples and 3 oranges", "1 000", "3/0",
    "Mrs. Hilt", "2, 3",
])
def test_parse_number_refuses_ambiguous_text(text: str) -> None:
    assert parse_number(text) is None


def test_parse_number_numbers_pass_through() -> None:
    assert parse_number(7) == 7.0 and parse_number(2.5) == 2.5
    assert parse_number(None) is None and parse_number(float("nan")) is None and parse_number(True) is None


@pytest.mark.parametrize("text, value", [
    ("The answer is 42.", 42.0),
    ("so the answer is $1,000.", 1000.0),
    ("Natalia sold 48+24 = 72 clips.\n#### 72", 72.0),
    ("#### 1,600", 1600.0),
    ("The total is 72 clips, altogether.", 72.0),          # a comma after the number is not a number
    ("The answer is 72, in total, so the farmer earns it.", 72.0),
    ("Thus \\boxed{8,000} dollars", 8000.0),                 # separators inside \boxed
    ("\\boxed{$9{,}500}", 9500.0),
    ("Final Answer: **73**", 73.0),
    ("It dropped 5 degrees, so the answer is -3 degrees.", -3.0),
    ("10-3=7", 7.0),                                          # a minus between numbers is not a sign
    ("He has 5 apples. Then 3 more. Total is 8", 8.0),        # last-number fallback
    ("the answer is 1/2", 0.5),
    ("She pays 2 x $3.50 = $7.00.", 7.0),
    ("He answered 24 questions and got 20 right", 20.0),      # "answered" is not "answer is"
])
def test_extract_final_answer(text: str, value: float) -> None:
    assert extract_final_answer(text) == pytest.approx(value)


def test_extract_final_answer_nothing() -> None:
    assert extract_final_answer("") is None and extract_final_answer("no numbers here") is None
    assert extract_final_answer(None) is None


@pytest.mark.parametrize("pred, gold", [
    ("1,000", 1000), (3.0, "3"), ("3.0", 3), ("$5.50", 5.5), (0.1 + 0.2, 0.3), (71.99999999999999, 72),
    (33.333, 100 / 3), ("50%", 50), ("3/4", 0.75), ("-2", -2.0), ("2*sqrt(2)", "sqrt(8)"),
    ("\\frac{\\pi}{2}", "pi/2"), ("x+1", "1+x"),
])
def test_answers_match(pred: object, gold: object) -> None:
    assert answers_match(pred, gold)


@pytest.mark.parametrize("pred, gold", [
    (1000, 1001), (9999, 10000), (1_000_000, 1_000_099),  # distinct integers never match
    (33.3, 100 / 3), (None, 1), (1, None), ("abc", 1), (float("nan"), 1), (float("inf"), math.inf),
    ("-2", 2), ("9^9^9^9", "1"), ("__import__('os').system('true')", "0"),
])
def test_answers_do_not_match(pred: object, gold: object) -> None:
    assert not answers_match(pred, gold)


def test_equivalent_refuses_unsafe_or_huge_input() -> None:
    assert not equivalent("__import__('os')", "1")
    assert not equivalent("2**10000000", "1")
    assert equivalent("1/3", "2/6")
