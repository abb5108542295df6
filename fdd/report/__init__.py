"""The report: what runs wrote, read back for people. Owns one run's round table, report.md and
accuracy plot (`single`, written at the end of every run), the aggregation of many runs into a
paper table by arm (`aggregate`, `tag_tables`), the paired comparison of two arms with its power and
routing (`compare`), the summary.json readers they share (`summaries`), and the
`python -m fdd.report` command (`cli`).

May import: the standard library, matplotlib, and fdd's run records (summary.json, the jsonl files
of a run directory, read as files). It imports no model library (torch, transformers, lightning)
and no other part of fdd: a report can be made on any machine that has the runs.
"""
