"""The round loop: what happens at a round boundary. Owns the RoundRunner callback (`runner`), the
student's verdicts on the feedback pool (`verdicts`: greedy or pass rate), the arms' plans
(`feedback`), the decontamination index (`decontaminate`), and the diagnosis of where the student
goes wrong (`diagnosis`: per tag, the feedback chain by tag, and the first wrong step of a failed
program). Verifying what the teacher writes is fdd/verify/.

May import: the checking layer (fdd.problems, fdd.answers, fdd.rationales, fdd.sandbox), the
student (fdd.student: generation and the distillation set), the teachers' protocol and helpers
(fdd.teachers.base, .agreement), verification (fdd.verify), the run store (fdd.store) and
fdd.stages (the stage a run is in). Never the pipeline, the entry points or the report. `feedback`
and `verdicts` import no model library: the config is checked with them before torch loads
(fdd/validation.py).
"""
