"""Stop a generated sequence as soon as its rationale is finished, not at `max_new_tokens`.

`model.generate` stops a sequence at EOS; a student early in training rarely writes one, so it goes
on to the token limit (a second program, a new "Question:", prose), and since a batch runs until
its last sequence is done, one such sequence holds every other in its batch. `RationaleStop` is a
transformers `StoppingCriteria`: after each step it asks the rationale format (fdd/rationales.py,
`end` and `hopeless`) about the sequences whose newest token could finish a rationale (one holding
a newline, a colon, ...: a table over the vocabulary, built once per tokenizer), and about every
sequence each `every` steps, and marks the finished ones done; `generate` then pads them while the
rest go on.

A row that never finishes would still hold its batch: `generate` computes every row until the last
one stops. `generate_causal` therefore generates a decoder-only batch in chunks, and between
chunks drops the finished rows, from the ids and from the key/value cache (`Cache.reorder_cache`,
the beam-search API): the rows still writing go on alone, from the cache, with no recomputation.
"""

from __future__ import annotations

import weakref
from importlib import import_module

import torch
from transformers import BatchEncoding, PreTrainedTokenizerBase, StoppingCriteria

from fdd.rationales import RationaleFormat

_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# transformers renamed generate's `past_key_values` to `cache` during 5.x: use the name it knows
_CACHE = "cache" if "cache" in getattr(import_module("transformers.generation.utils"), "ALL_CACHE_NAMES", ()) \
    else "past_key_values"


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
        self.at: dict[int, int] = {}  # row -> sequence length when it was marked

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
                self.at[i] = input_ids.shape[1]
        return self.stopped.to(input_ids.device)


def row_end(tokens: list[int], eos: int | None, stop: RationaleStop | None, row: int,
            start: int) -> tuple[int, str] | None:
    """(tokens written, how the row ended) for one row of a finished `generate` call whose new
    tokens are `tokens` (the sequence began at column `start`), or None if it is still writing.
    EOS or the stop, whichever came first: after either, `generate` pads the row (with a pad token
    that may be the EOS, as SmolLM2's is)."""
    at = stop.at.get(row) if stop is not None else None
    stopped = None if at is None else at - start
    written = tokens.index(eos) + 1 if eos is not None and eos in tokens else None
    if written is not None and (stopped is None or written <= stopped):
        return written, "eos"
    if stopped is not None:
        return stopped, "done"
    return None


def generate_causal(model, enc: BatchEncoding | dict, kw: dict, tokenizer: PreTrainedTokenizerBase,
                    fmt: RationaleFormat | None, chunk: int = 32,
                    rooms: list[int] | None = None) -> list[tuple[list[int], str]]:
    """Generate for a left-padded causal batch (`kw`: generate's arguments, `max_new_tokens` included),
    `chunk` tokens at a time, dropping finished rows between chunks. `rooms`: per prompt, the new
    tokens it may have (its context left, fdd/student/context.py; default max_new_tokens): no chunk
    takes a row past its room, and a row that reaches it leaves the batch as cut at the limit.
    Returns, per row (samples of a question next to each other), its generated ids and how it
    ended: `eos`, `done` (`fmt` said the rationale is finished) or `limit`."""
    ids, mask = enc["input_ids"], enc["attention_mask"]
    width = ids.shape[1]
    samples = kw.get("num_return_sequences", 1)
    room = [r for r in (rooms or [kw["max_new_tokens"]] * ids.shape[0]) for _ in range(samples)]
    out: list[list[int]] = [[] for _ in range(ids.shape[0] * samples)]
    ends = ["limit"] * len(out)
    alive, cache, first, done = [r for r in range(len(out)) if room[r] > 0], None, True, 0
    if len(alive) < len(out):  # a row with no room at all writes nothing (fdd/student/context.py leaves one)
        keep = torch.tensor(sorted({r // samples for r in alive}), dtype=torch.long, device=ids.device)
        if not len(keep):
            return list(zip(out, ends))
        ids, mask = ids.index_select(0, keep), mask.index_select(0, keep)
    while alive:
        n = min(chunk, min(room[r] for r in alive) - done)
        stop = RationaleStop(fmt, tokenizer, width) if fmt is not None else None
        step = {**kw, "max_new_tokens": n, "return_dict_in_generate": True}
        if not first:
            step["num_return_sequences"] = 1  # the rows are already one per sample
        res = model.generate(input_ids=ids, attention_mask=mask, stopping_criteria=[stop] if stop is not None else None,
                             **{_CACHE: cache}, **step)
        new = res.sequences[:, ids.shape[1]:].cpu()
        if first and samples > 1:
            mask = mask.repeat_interleave(samples, dim=0)
        first = False
        keep = []
        for j, row in enumerate(alive):
            toks = new[j].tolist()
            finished = row_end(toks, tokenizer.eos_token_id, stop, j, ids.shape[1])
            if finished is not None:
                out[row] += toks[:finished[0]]
                ends[row] = finished[1]
            else:
                out[row] += toks
                if room[row] > done + new.shape[1]:
                    keep.append(j)
        done += new.shape[1]
        if not keep or new.shape[1] < n:
            break
        index = torch.tensor(keep, device=res.sequences.device)
        cache = getattr(res, _CACHE, None)  # None if the model keeps no cache: the next chunk re-reads the rows
        if cache is not None:
            cache.reorder_cache(index)
        ids = res.sequences.index_select(0, index)
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], new.shape[1])], dim=1).index_select(0, index)
        alive = [alive[j] for j in keep]
    return list(zip(out, ends))
