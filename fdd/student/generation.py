"""Generation: the one seam between fdd and whatever writes the student's texts.

`generate(model, tokenizer, questions, ...)` takes questions and returns, per question, its texts and
how each ended: `eos`, `done` (the rationale was finished, fdd/student/stopping.py) or `limit` (cut at
`max_new_tokens`, or at the model's context), and whether its prompt had to be cut. Everything at a
round boundary (the feedback pool and every evaluation set, on every rank), pass-rate sampling and
`fdd.solve` go through it; docs/students.md says how another engine (vLLM) would plug in here.

How it fills the device: the questions are tokenized and sorted by prompt length into one stream,
and a batch takes rows while rows × (its widest prompt + new tokens) stays within a token budget
and the row cap. `batch_size` is the row cap, or `auto`: on a GPU the budget is what free memory
holds of the model's key/value cache (`kv_bytes_per_token`), with no row cap below 4096; elsewhere
`AUTO_ROWS` rows. A batch that runs out of device memory is halved and retried, and later batches
stay at the smaller size: no row is lost or reordered. Greedy results do not depend on how the
stream is cut into batches (padding is masked), so one stream for many sets gives each set's texts.

Context: a causal row generates at most its context minus its prompt (fdd/student/context.py); a
decoder-only batch is generated in chunks that never take a row past its room, and rows leave the
batch when they finish or reach it. `compile=True` (decoder-only): transformers' static cache, which
it compiles with torch.compile on a GPU; one call per batch, capped by the batch's widest prompt.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from fdd.rationales import RationaleFormat
from fdd.student.context import context_length, new_token_room
from fdd.student.stopping import RationaleStop, generate_causal, row_end
from fdd.student.training import pad, prompt_rows

log = logging.getLogger("fdd")

AUTO_ROWS = 64           # batch_size=auto away from a GPU: rows per batch
AUTO_MAX_ROWS = 4096     # batch_size=auto on a GPU: the row cap (the token budget decides)
MEMORY_SHARE = 0.7       # of the free device memory, for the key/value cache and logits


class Generated(NamedTuple):
    text: str
    end: str  # "eos" | "done" (the rationale was finished) | "limit" (cut at max_new_tokens or the context)
    prompt_cut: bool = False  # the prompt was shortened to fit max_source_len or the context


def kv_bytes_per_token(model) -> int:
    """Bytes of key/value cache one token of one row takes (an encoder-decoder's decoder also holds a
    cross-attention cache per source token: counted as if every token needed both)."""
    c = model.config
    text = c.get_text_config() if hasattr(c, "get_text_config") else c
    layers = getattr(text, "num_decoder_layers", None) or getattr(text, "num_hidden_layers", None) or \
        getattr(text, "num_layers", None) or getattr(text, "n_layer", 1)
    heads = getattr(text, "num_attention_heads", None) or getattr(text, "num_heads", None) or getattr(text, "n_head", 1)
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    hidden = getattr(text, "hidden_size", None) or getattr(text, "d_model", None) or getattr(text, "n_embd", 64)
    head_dim = getattr(text, "head_dim", None) or getattr(text, "d_kv", None) or hidden // heads
    size = 2 if _autocast_dtype(model) is not None else next(model.parameters()).element_size()
    return 2 * layers * kv_heads * head_dim * size * (2 if c.is_encoder_decoder else 1)


def _autocast_dtype(model) -> torch.dtype | None:
    """bfloat16 autocast for generation on a GPU that has it (the training precision of trainer=gpu)."""
    device = next(model.parameters()).device
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def token_budget(model, batch_size: int | str) -> tuple[int, float]:
    """(row cap, token budget) for `batch_size`: a number is the row cap with no budget; `auto` sizes the
    budget from free device memory on a GPU, else is AUTO_ROWS rows."""
    if batch_size != "auto":
        rows = int(batch_size)
        if rows < 1:
            raise ValueError(f"eval.batch_size must be >= 1 or auto, got {batch_size!r}")
        return rows, float("inf")
    device = next(model.parameters()).device
    if device.type != "cuda":
        return AUTO_ROWS, float("inf")
    free, _ = torch.cuda.mem_get_info(device)
    free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)  # cached by torch, reusable
    vocab = model.get_output_embeddings().weight.shape[0] if model.get_output_embeddings() is not None else 0
    per_token = kv_bytes_per_token(model) + 8 * vocab // 256  # logits of a row, spread over its tokens
    return AUTO_MAX_ROWS, MEMORY_SHARE * free / per_token


def _batches(order: list[int], lengths: list[int], new: int, samples: int, rows: int, budget: float):
    """Consecutive slices of `order` (sorted by length): at most `rows` questions, and rows × samples ×
    (widest prompt + new) within `budget` (a single question always makes a batch)."""
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and j - i < rows and (j - i + 1) * samples * (lengths[order[j]] + new) <= budget:
            j += 1
        yield order[i:j]
        i = j


def _out_of_memory(e: BaseException) -> bool:
    return isinstance(e, torch.OutOfMemoryError) or (isinstance(e, RuntimeError) and (
        "out of memory" in str(e).lower() or "can't allocate memory" in str(e).lower()))


@torch.no_grad()
def generate(model, tokenizer, questions: Sequence[str], batch_size: int | str = 64, max_new_tokens: int = 160,
             samples: int = 1, max_source_len: int = 256, desc: str = "generate", temperature: float = 0.7,
             fmt: RationaleFormat | None = None, chunk: int = 32, compile: bool = False) -> list[list[Generated]]:
    """For each question, `samples` generated texts (greedy when samples == 1, else sampled at
    `temperature` from the full distribution). With a rationale format `fmt`, a sequence stops as
    soon as its rationale is finished and its text is cut there; without one, only EOS stops it."""
    if not questions:
        return []
    was_training = model.training
    model.eval()
    causal = not model.config.is_encoder_decoder
    context = context_length(model, tokenizer)
    if causal:
        tokenizer.padding_side = "left"
        ids, cut = prompt_rows(tokenizer, questions, getattr(model.config, "fdd_prompt", None), max_source_len,
                               context)
    else:
        limit = min(max_source_len, context or max_source_len)
        ids = tokenizer(list(questions), truncation=True, max_length=limit)["input_ids"]
        cut = [len(f) > len(s) for f, s in zip(tokenizer(list(questions))["input_ids"], ids)]
    kw = {"max_new_tokens": max_new_tokens, "num_beams": 1, "pad_token_id": tokenizer.pad_token_id}
    kw.update({"do_sample": True, "num_return_sequences": samples, "top_k": 0, "temperature": temperature}
              if samples > 1 else {"do_sample": False})
    order = sorted(range(len(questions)), key=lambda i: (len(ids[i]), i))
    lengths = [len(s) for s in ids]
    rows, budget = token_budget(model, batch_size)
    out: list[list[Generated]] = [[] for _ in questions]
    engine = _Engine(model, tokenizer, kw, fmt, chunk, context, causal, compile)
    batches = list(_batches(order, lengths, max_new_tokens, samples, rows, budget))
    with tqdm(total=len(order), desc=desc, leave=False, unit="q", disable=None) as bar:
        for idx in batches:
            for j, (toks, end) in zip(idx, engine.run(idx, ids)):
                text = tokenizer.batch_decode(toks, skip_special_tokens=True)
                out[j] = [Generated(fmt.cut(t) if fmt is not None else t, e, cut[j]) for t, e in zip(text, end)]
            bar.update(len(idx))
    if engine.halved:
        log.warning("%s: out of device memory; batches halved %d time(s), down to %d question(s)", desc,
                    engine.halved, engine.rows)
    if was_training:
        model.train()
    return out


class _Engine:
    """Runs one batch of question indices; halves it (and the size of later batches) when the device
    runs out of memory."""

    def __init__(self, model, tokenizer, kw: dict, fmt: RationaleFormat | None, chunk: int, context: int | None,
                 causal: bool, compile: bool):
        self.model, self.tokenizer, self.kw, self.fmt, self.chunk = model, tokenizer, kw, fmt, chunk
        self.context, self.causal, self.compile = context, causal, compile and causal
        self.device = next(model.parameters()).device
        self.autocast = _autocast_dtype(model)
        self.halved, self.rows = 0, None
        self.samples = kw.get("num_return_sequences", 1)

    def run(self, idx: list[int], ids: list[list[int]]) -> list[tuple[list[list[int]], list[str]]]:
        """Per question of `idx`: its samples' token ids and ends, in the order of `idx`."""
        if self.rows is not None and len(idx) > self.rows:  # an earlier batch ran out of memory
            return [r for s in range(0, len(idx), self.rows) for r in self.run(idx[s:s + self.rows], ids)]
        try:
            with torch.autocast(self.device.type, self.autocast, enabled=self.autocast is not None):
                rows = self._generate([ids[i] for i in idx])
        except Exception as e:
            if not _out_of_memory(e) or len(idx) == 1:
                raise
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            half = (len(idx) + 1) // 2
            self.rows, self.halved = half, self.halved + 1
            return self.run(idx[:half], ids) + self.run(idx[half:], ids)
        k = self.samples
        return [([t for t, _ in rows[j * k:(j + 1) * k]], [e for _, e in rows[j * k:(j + 1) * k]])
                for j in range(len(idx))]

    def _generate(self, prompts: list[list[int]]) -> list[tuple[list[int], str]]:
        tok, limit = self.tokenizer, self.kw["max_new_tokens"]
        if self.causal:
            ids = pad(prompts, tok.pad_token_id, left=True).to(self.device)
            mask = pad([[1] * len(p) for p in prompts], 0, left=True).to(self.device)
            rooms = [new_token_room(len(p), self.context, limit) for p in prompts]
            if self.compile:
                return self._static(ids, mask, min(rooms))
            return generate_causal(self.model, {"input_ids": ids, "attention_mask": mask}, self.kw, tok, self.fmt,
                                   self.chunk, rooms)
        ids = pad(prompts, tok.pad_token_id).to(self.device)
        mask = pad([[1] * len(p) for p in prompts], 0).to(self.device)
        stop = RationaleStop(self.fmt, tok, 0) if self.fmt is not None else None
        kw = {**self.kw, "max_new_tokens": new_token_room(1, self.context, limit)}  # the decoder start takes one
        gen = self.model.generate(input_ids=ids, attention_mask=mask, **kw,
                                  stopping_criteria=[stop] if stop is not None else None).cpu()
        return [_row(gen[i].tolist(), tok.eos_token_id, stop, i, 1) for i in range(len(gen))]

    def _static(self, ids: torch.Tensor, mask: torch.Tensor, room: int) -> list[tuple[list[int], str]]:
        """One call with a static key/value cache (compiled by transformers on a GPU): no rows leave."""
        stop = RationaleStop(self.fmt, self.tokenizer, ids.shape[1]) if self.fmt is not None else None
        gen = self.model.generate(input_ids=ids, attention_mask=mask, **{**self.kw, "max_new_tokens": room},
                                  cache_implementation="static", stopping_criteria=[stop] if stop is not None else None)
        return [_row(gen[i].tolist(), self.tokenizer.eos_token_id, stop, i, ids.shape[1]) for i in range(len(gen))]


def _row(tokens: list[int], eos: int | None, stop: RationaleStop | None, i: int, start: int) -> tuple[list[int], str]:
    """A row of one `generate` call whose new tokens begin at column `start`: its new ids and end."""
    finished = row_end(tokens[start:], eos, stop, i, start)
    return (tokens[start:], "limit") if finished is None else (tokens[start:start + finished[0]], finished[1])
