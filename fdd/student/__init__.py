"""The student: the small model being taught. Owns where its files are (`files`: hub ids, local dirs,
`pkg:` dirs, GGUF files), how it is built (`models`: scratch T5, pretrained seq2seq and causal LMs),
its tokenizer's lossless-target check and repair (`tokenization`), the growing distillation set it
trains on (`data`), the LightningModule that trains it (`training`), and how it writes rationales
(`stopping`: stop when a rationale is finished, drop finished rows) and is scored on them
(`evaluate`).

May import: the checking layer (fdd.problems, fdd.answers, fdd.rationales, fdd.sandbox), torch,
transformers, tokenizers and lightning. Never the teachers, the round loop, the pipeline or the
report: a trained student is usable on its own (fdd.solve). `files` imports no model library
(fdd/validation.py checks paths with it before torch loads).
"""
