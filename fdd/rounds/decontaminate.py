"""Keep evaluation questions out of training data: exact, normalised and n-gram overlap tests.

`Decontaminator(eval_questions).check(q)` says why `q` is contaminated, or None when it is clean:

- "exact": `q` (whitespace-trimmed) is an evaluation question;
- "normalized": equal after normalisation: Unicode NFKC, lower case, thousands separators,
  currency signs and apostrophes dropped (`$1,000` = `1000`, `Janet's` = `Janets`), every other
  punctuation run and whitespace collapsed to one space; numbers are kept, so changing a number
  makes a different question here;
- "ngram": at least `threshold` of `q`'s word n-grams (of the normalised text) occur somewhere in
  the evaluation set. This catches re-punctuated, re-worded-at-the-edges and lightly edited copies
  (one edited word removes at most `ngram` of a question's n-grams). A question shorter than
  `ngram` words has no n-grams and is judged by the first two tests only. `ngram=0` disables it.

The evaluation n-grams are kept as a set of hashes (Python's tuple hash: in-memory, per process),
so a candidate costs its own n-grams, not the size of the evaluation set
(bench/bench_decontaminate.py: about 190x a scan of every evaluation question at 10k x 5k).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_THOUSANDS = re.compile(r"(?<=\d)[,\u00a0\u202f](?=\d{3}\b)")
_NON_WORD = re.compile(r"[^\w.]+|(?<!\d)\.|\.(?!\d)")  # keep decimal points inside numbers
_CURRENCY = re.compile(r"[$€£¥₹¢]")


def normalize(text: str) -> str:
    """Lower case, NFKC, no thousands separators or currency, punctuation and spaces collapsed."""
    s = unicodedata.normalize("NFKC", text).lower()
    s = _THOUSANDS.sub("", s)
    s = _CURRENCY.sub(" ", s).replace("'", "").replace("’", "")  # Janet's = Janets
    s = _NON_WORD.sub(" ", s.replace("_", " "))
    return " ".join(s.split())


class Decontaminator:
    """An index of evaluation questions; `check` says whether a candidate question leaks one."""

    def __init__(self, questions: Iterable[str], ngram: int = 13, threshold: float = 0.5) -> None:
        if ngram < 0:
            raise ValueError(f"ngram must be >= 0 (0 disables the n-gram test), got {ngram}")
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.ngram = ngram
        self.threshold = threshold
        self._exact: set[str] = set()
        self._normalized: set[str] = set()
        self._grams: set[int] = set()
        self.size = 0
        for q in questions:
            self.add(q)

    def add(self, question: str) -> None:
        """Index one more evaluation question."""
        self.size += 1
        self._exact.add(question.strip())
        norm = normalize(question)
        self._normalized.add(norm)
        if self.ngram:
            self._grams.update(self._hashes(norm.split()))

    def _hashes(self, words: list[str]) -> Iterable[int]:
        n = self.ngram
        return (hash(tuple(words[i : i + n])) for i in range(len(words) - n + 1))

    def overlap(self, question: str) -> float:
        """Fraction of the question's word n-grams found in the evaluation index (0 if it has none)."""
        if not self.ngram:
            return 0.0
        words = normalize(question).split()
        total = len(words) - self.ngram + 1
        if total <= 0:
            return 0.0
        return sum(h in self._grams for h in self._hashes(words)) / total

    def check(self, question: str) -> str | None:
        """None if clean, else the reason: "exact", "normalized" or "ngram"."""
        if question.strip() in self._exact:
            return "exact"
        if normalize(question) in self._normalized:
            return "normalized"
        if self.ngram and self.overlap(question) >= self.threshold:
            return "ngram"
        return None

    def check_all(self, questions: Iterable[str]) -> list[str | None]:
        return [self.check(q) for q in questions]

    def __len__(self) -> int:
        return self.size
