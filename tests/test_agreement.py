"""Independent agreement (teacher.verify=resolve, fdd/teachers/agreement.py) against the local
chat server: votes, labels, the cost of verification and its cache."""

from __future__ import annotations

import re

import pytest

from fdd.rationales import get_format
from fdd.teachers.agreement import resolver_for, vote
from fdd.verify import verify
from tests.fake_openai_server import FakeOpenAIServer, target_question
from tests.test_openai_teacher import make, problems


def test_vote_needs_a_strict_majority_of_all_votes():
    assert vote(42.0, [42.0], 1) == (42.0, 0)
    assert vote(43.0, [42.0], 1) == (None, None)
    assert vote(43.0, [42.0, 42.0, 42.0], 3) == (42.0, 1)
    assert vote(42.0, [42.0, None, None], 3) == (None, None)  # 2 of 4 is no majority
    assert vote(42.0, [42.0, 42.0, 7.0], 3) == (42.0, 0)


# --- independent agreement (teacher.verify=resolve) -------------------------------------------
def _sc_responder(prompt: str, index: int) -> str:
    """New problems: 'steady' ones get consistent solutions, 'wobbly' ones do not, and 'outvoted'
    ones come with a wrong program that the solutions outvote."""
    if "Make" not in prompt:  # a solve (annotate) request
        q = target_question(prompt)
        if "wobbly" in q:
            return f"```python\nans = 100 + {index}\n```"
        have, more = re.findall(r"\d+", q)[:2]
        return f"```python\ncows = {have}\nans = cows + {more}\n```"
    return ("Problem 1:\nQuestion: The steady farmer has 40 cows and buys 2 more. How many cows?\n"
            "Program:\n```python\nans = 40 + 2\n```\n\n"
            "Problem 2:\nQuestion: The wobbly farmer has 50 cows and buys 3 more. How many cows?\n"
            "Program:\n```python\nans = 50 + 3\n```\n\n"
            "Problem 3:\nQuestion: The outvoted farmer has 60 cows and buys 4 more. How many cows?\n"
            "Program:\n```python\nans = 60 + 5\n```")


@pytest.mark.parametrize("k", [1, 3])
def test_resolve_votes_and_labels(tmp_path, k):
    with FakeOpenAIServer(responder=_sc_responder) as s:
        t = make(s, tmp_path, verify_samples=k)
        assert t.verify == "resolve"  # the default for LLM teachers
        (fam,) = t.harder(problems(1), 3, 0)
        assert len(fam) == 3 and all(c.answer is None for c in fam)  # generation alone labels nothing
        fmt = get_format("pot")
        checked = verify(fam, fmt, [], resolver=resolver_for(t, fmt, 0))
        u = t.usage()
        assert u.requests == 1 + 3 and s.counts["chat"] == 4  # one request (n=k) per new problem
        names = [c.question.split()[1] for c in checked.kept]
        if k == 1:  # the solution must agree with the program
            assert names == ["steady"] and dict(checked.rejected) == {"disagree": 2}
        else:  # a majority of the program's and 3 solutions' answers (3 of 4)
            assert names == ["steady", "outvoted"] and dict(checked.rejected) == {"disagree": 1}
            assert checked.kept[1].rationale == "cows = 60\nans = cows + 4"  # the program lost: replaced
        assert [c.answer for c in checked.kept] == [42.0, 64.0][:len(checked.kept)]
        again = make(s, tmp_path, verify_samples=k)  # a resumed run: all from the cache
        (fam2,) = again.harder(problems(1), 3, 0)
        verify(fam2, fmt, [], resolver=resolver_for(again, fmt, 0))
        assert again.usage().requests == 0 and again.usage().cached == 4 and s.counts["chat"] == 4


def test_verify_none_keeps_the_bare_behaviour(tmp_path):
    with FakeOpenAIServer(responder=_sc_responder) as s:
        t = make(s, tmp_path, verify="none")
        (fam,) = t.harder(problems(1), 3, 0)
        fmt = get_format("pot")
        assert resolver_for(t, fmt, 0) is None
        checked = verify(fam, fmt, [], resolver=resolver_for(t, fmt, 0))
        assert [c.answer for c in checked.kept] == [42.0, 53.0, 65.0] and s.counts["chat"] == 1


def test_resolve_counts_unanswered_as_unverified(tmp_path):
    with FakeOpenAIServer(responder=lambda p, i: "no code here" if "Make" not in p else _sc_responder(p, i)) as s:
        t = make(s, tmp_path)
        (fam,) = t.harder(problems(1), 3, 0)
        fmt = get_format("pot")
        checked = verify(fam, fmt, [], resolver=resolver_for(t, fmt, 0))
        assert checked.kept == [] and dict(checked.rejected) == {"unverified": 3}


