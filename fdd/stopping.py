"""Stop a generated sequence as soon as its rationale is finished, not at `max_new_tokens`.

`model.generate` stops a sequence at EOS; a student early in training rarely writes one, so it goes
on to the token limit (a second program, a new "Question:", prose), and since a batch runs until
its last sequence is done, one such sequence holds every other in its batch. `RationaleStop` is a
transformers `StoppingCriteria`: after each step it asks the rationale format (fdd/rationales.py,
`end` and `hopeless`) about the sequences whose newest token could finish a rationale (one holding
a newline, a colon, ...: a table over the vocabulary, built once per tokenizer), and about every
sequence each `every` steps, and marks the finished ones done; `generate` then pads them while the
rest go on.
"""

from __future__ import annotations

import weakref

import torch
from transformers import PreTrainedTokenizerBase, StoppingCriteria

from fdd.rationales import RationaleFormat

_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def trigger_table(tokenizer: PreTrainedTokenizerBase, chars: str) -> torch.Tensor:
    """A bool per token id: whether the token's text holds one of `chars`."""
    key = (chars, len(tokenizer))
    cached = _TABLES.get(tokenizer)
    if cached is not None and cached[0] == key:
        return cached[1]
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=True)
    table = torch.tensor([any(c in t for c in chars) for t in texts], dtype=torch.bool)
    _TABLES[tokenizer] = (key, table)
    return table


class RationaleStop(StoppingCriteria):
    """Marks a sequence done once `fmt.end` or `fmt.hopeless` says its rationale is over.

    `start` is the column where generated tokens begin (the prompt width for a left-padded causal
    batch, 0 for an encoder-decoder's decoder ids). `stopped[i]` records which rows it ended."""

    def __init__(self, fmt: RationaleFormat, tokenizer: PreTrainedTokenizerBase, start: int = 0, every: int = 16):
        self.fmt, self.tokenizer, self.start, self.every = fmt, tokenizer, start, every
        self.table = trigger_table(tokenizer, fmt.triggers)
        self.stopped: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        if self.stopped is None:
            self.stopped = torch.zeros(input_ids.shape[0], dtype=torch.bool)
        if (input_ids.shape[1] - self.start) % self.every == 0:  # every row now and then: a line of prose
            check = ~self.stopped                                 # holds no trigger token for a long while
        else:
            last = input_ids[:, -1].cpu()
            check = self.table[last.clamp(0, len(self.table) - 1)] & ~self.stopped
        for i in check.nonzero().flatten().tolist():
            text = self.tokenizer.decode(input_ids[i, self.start:], skip_special_tokens=True)
            if self.fmt.end(text) is not None or self.fmt.hopeless(text):
                self.stopped[i] = True
        return self.stopped.to(input_ids.device)
