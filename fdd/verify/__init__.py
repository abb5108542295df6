"""Verification: what a teacher writes must pass before it is trained on. Owns round-0 annotation
(`annotations`: the first rationale that reproduces the gold answer), the verification of new
problems (`new_problems`), their static checks (`checks`) and whether they are new at all
(`novelty`: one question normaliser and the near-copy measure, against the prompts' examples, the
training set and pool, and the round's other new problems).

May import: the checking layer (fdd.problems, fdd.answers, fdd.rationales, fdd.sandbox) and itself;
no model library, no teacher, student or round loop (teachers and the round loop import it).
Independent agreement, which asks the teacher again, is fdd/teachers/agreement.py.
"""

from fdd.verify.annotations import annotate
from fdd.verify.new_problems import Verified, verify

__all__ = ["Verified", "annotate", "verify"]
