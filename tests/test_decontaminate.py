"""fdd.rounds.decontaminate: planted evaluation questions are caught, clean ones pass, and it is fast."""

from __future__ import annotations

import random

import pytest

from fdd.rounds.decontaminate import Decontaminator, normalize

QUESTION = ("Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
            "for her friends every day with four. She sells the remainder at the farmers' market daily for "
            "$2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?")
OTHERS = ["A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total does it take?",
          "Josh decides to try flipping a house. He buys a house for $80,000 and then puts in $50,000 in repairs."]


def _index(ngram: int = 13) -> Decontaminator:
    return Decontaminator([QUESTION, *OTHERS], ngram=ngram, threshold=0.5)


def test_exact_copy() -> None:
    assert _index().check(QUESTION) == "exact"
    assert _index().check("  " + QUESTION + "\n") == "exact"


def test_repunctuated_copy() -> None:
    edited = QUESTION.upper().replace(".", " ;").replace("'", "").replace("$2", "$ 2").replace("  ", " ")
    assert _index().check(edited) == "normalized"
    assert _index().check(OTHERS[1].replace("80,000", "80000")) == "normalized"  # separators dropped


def test_lightly_edited_copy() -> None:
    edited = QUESTION.replace("16 eggs", "18 eggs").replace("How much in dollars", "How many dollars")
    assert _index().check(edited) == "ngram"
    assert _index().overlap(edited) >= 0.5


def test_clean_questions_pass() -> None:
    d = _index()
    assert d.check("Tom has 3 red cars and 4 blue cars. How many cars does Tom have?") is None
    assert len(d) == 3
    short = Decontaminator(["Sam has 5 apples. How many apples does he have?"])
    assert short.check("Sam has 6 apples. How many apples does he have?") is None  # no 13-grams; new number
    assert short.check("Sam has 5 apples, how many apples does he have") == "normalized"


def test_ngram_zero_disables_the_ngram_test() -> None:
    edited = QUESTION.replace("16 eggs", "18 eggs")
    assert _index(ngram=0).check(edited) is None
    assert _index(ngram=0).check(QUESTION) == "exact"


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Decontaminator([], ngram=-1)
    with pytest.raises(ValueError):
        Decontaminator([], threshold=0)


def test_normalize_keeps_numbers() -> None:
    assert normalize("He paid $1,000.50 for 3.5 kg... of apples!") == "he paid 1000.50 for 3.5 kg of apples"
    assert normalize("5 apples") != normalize("6 apples")


def test_10k_by_5k_finds_exactly_the_planted_copies() -> None:
    """At the scale of a run (10k candidates, 5k evaluation questions): no false positives, and a planted
    copy and a lightly edited one are caught. Its speed is measured in bench/bench_decontaminate.py."""
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(3000)]
    evals = [" ".join(rng.choices(vocab, k=45)) for _ in range(5000)]
    cands = [" ".join(rng.choices(vocab, k=45)) for _ in range(10000)]
    edited = evals[7].split()
    edited[20] = "changed"
    d = Decontaminator(evals)
    verdicts = d.check_all([*cands, evals[123], " ".join(edited)])
    assert verdicts[-2:] == ["exact", "ngram"] and verdicts.count(None) == len(cands)


def test_real_benchmarks(shared_data) -> None:
    """GSM8K test questions planted in the training set are all caught; SVAMP vs ASDiv overlap is visible."""
    from fdd.datasets import load

    test = [p.question for p in load("gsm8k", split="test", data_dir=shared_data).problems]
    train = [p.question for p in load("gsm8k", split="train", data_dir=shared_data).problems]
    d = Decontaminator(test)
    assert d.check(test[7]) == "exact"
    assert d.check(test[7].replace(",", " ,").replace(".", "!")) == "normalized"
    flagged = [q for q in train if d.check(q)]
    assert len(flagged) < 10  # GSM8K train and test are (nearly) disjoint
