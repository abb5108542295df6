"""Whether a new problem is new: one question normaliser, the near-copy measure, and an index of
everything a new problem must not copy.

A teacher asked for new problems may hand back old ones: a small LLM copies its prompt's few-shot
examples (verbatim, or with new numbers), a base model echoes the whole prompt so the parser
finds the examples in it, and any teacher may restate a problem already in the training set or
write the same problem twice in one round. Each of these passes execution and agreement (the
example's program is right), so only a look at the text catches it.

The near-copy measure (`near_copy`): the same normalised text, or the same numbers and at least
`NEAR_COPY_OVERLAP` of the other question's word 3-grams, names masked. A similar problem changes the numbers
and a harder variation adds some, so neither is a near copy of what it started from; a copy with
a renamed person or an appended sentence is. `Novelty` applies it to every question a new problem
must not repeat, by where the question came from (each its own rejection reason):

- `copies_prompt`: an example in the prompts that produced it. Numbers are not required to match
  here: a reply that keeps an example's wording with new numbers (seen from a 0.5B model) is the
  example, not a problem about the parent, and no problem about another topic shares half an
  example's 3-grams by chance.
- `duplicate`: exactly (once normalised) a known question or one kept earlier this round.
- `copies_known`: a near copy, with the same answer, of a training or pool problem.
- `copies_new`: a near copy, with the same answer, of a new problem kept earlier in the round.
A near copy with another answer is a different problem (a harder variation that adds a step
without a new number: "How many minutes is that?"), as the parent check (`near_copy` in checks.py)
also allows. Lookups cost a bucket, not a scan: known questions are indexed by their numbers.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

NEAR_COPY_OVERLAP = 0.5
NUMBER = re.compile(r"(?<![\w.])(?:\d[\d,]*(?:\.\d+)?|\.\d+)")
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+\b")


def normalise_question(text: str) -> str:
    """Lower case, punctuation to spaces, runs of whitespace to one: the form questions are compared in."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def names(question: str) -> set[str]:
    """Words the question capitalises inside a sentence (people, places), lower-cased: a copy that
    renames its person keeps everything else, so names are masked before 3-grams are compared."""
    out = set()
    for m in _CAPITALISED.finditer(question):
        before = question[:m.start()].rstrip()
        if before and before[-1] not in ".!?:;\"\n":
            out.add(m.group(0).lower())
    return out


def trigrams(question: str) -> frozenset[tuple[str, ...]]:
    """The word 3-grams of a question, normalised, with its names masked."""
    masked = names(question)
    words = ["_" if w in masked else w for w in normalise_question(question).split()]
    return frozenset(tuple(words[i:i + 3]) for i in range(max(0, len(words) - 2)))


def numbers(question: str) -> tuple[str, ...]:
    """The numbers a question writes, as a sorted multiset (its index key)."""
    return tuple(sorted(NUMBER.findall(question)))


def covers(new: frozenset, old: frozenset) -> bool:
    """Whether `new` holds at least NEAR_COPY_OVERLAP of `old`'s 3-grams."""
    return bool(old) and len(old & new) >= NEAR_COPY_OVERLAP * len(old)


def near_copy(question: str, other: str) -> bool:
    """`other` again: the same normalised text, or the same numbers and most of `other`'s 3-grams."""
    if normalise_question(question) == normalise_question(other):
        return True
    if Counter(NUMBER.findall(question)) != Counter(NUMBER.findall(other)):
        return False
    return covers(trigrams(question), trigrams(other))


def _same(a: float | None, b: float | None) -> bool:
    return a is None or b is None or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


class Novelty:
    """The questions new problems must not copy: prompt examples, known problems (training set and
    pool), and new problems kept so far this round (`keep` adds one)."""

    def __init__(self, known: Iterable[tuple[str, float | None]] = (), examples: Iterable[str] = ()):
        self._exact: dict[str, str] = {}
        self._buckets: dict[tuple[str, ...], list[tuple[frozenset, float | None, str]]] = {}
        self._examples = []
        for q in examples:
            key = normalise_question(q)
            if key:
                self._examples.append((key, trigrams(q)))
        for q, answer in known:
            self._add(q, answer, "known")

    def _add(self, question: str, answer: float | None, source: str) -> None:
        key = normalise_question(question)
        self._exact.setdefault(key, source)
        self._buckets.setdefault(numbers(question), []).append((trigrams(question), answer, source))

    def keep(self, question: str, answer: float | None) -> None:
        """A new problem was kept: later ones of the round must not copy it."""
        self._add(question, answer, "new")

    def copied(self, question: str, answer: float | None) -> str | None:
        """The rejection reason if `question` (whose program gives `answer`) copies something, else None."""
        key, grams = normalise_question(question), trigrams(question)
        if any(key == k or covers(grams, g) for k, g in self._examples):
            return "copies_prompt"
        if key in self._exact:
            return "duplicate"
        for old, old_answer, source in self._buckets.get(numbers(question), ()):
            if covers(grams, old) and _same(answer, old_answer):
                return f"copies_{source}"
        return None
