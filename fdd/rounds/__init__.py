"""The round loop: what happens at a round boundary. Owns the RoundRunner callback (`runner`), the
student's verdicts on the feedback pool (`verdicts`: greedy or pass rate), the arms' plans and the
verification of the teacher's new problems (`feedback`), the decontamination index
(`decontaminate`), and the diagnosis of where the student goes wrong (`diagnosis`: per tag, and the
first wrong step of a failed program).

May import: the checking layer (fdd.problems, fdd.answers, fdd.rationales, fdd.sandbox), the
student (fdd.student: generation and the distillation set), the teachers' protocol and helpers
(fdd.teachers.base, .agreement, .checks) and the run store (fdd.store). Never the pipeline, the
entry points or the report. `feedback` and `verdicts` import no model library: the config is
checked with them before torch loads (fdd/validation.py).
"""
