"""The student's context window: how many positions it has, and how prompts and generations fit in it.

A model with learned or rotary positions has a fixed number of them (GPT-2 1,024, small distilled
models 512 or less); running past it is an index error deep inside the model. A relative-position
model (T5) has no such limit. Generation is therefore capped per row at the context minus the
prompt's length (counted with the rows cut at `max_new_tokens`), training sequences are cut to fit
(counted as truncated), and a prompt that alone does not fit keeps its end (the question and the
answer cue) and half the context, so the rationale has room (counted as a cut prompt). Round 0 stops
when more than `max_overflow` of the training examples would not fit (fdd/pipeline.py).
"""

from __future__ import annotations

from collections.abc import Sequence

_POSITION_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length")
_NO_LIMIT = 1_000_000  # tokenizers without a limit say 1e30


def context_length(model, tokenizer=None) -> int | None:
    """Positions the model can attend over (prompt and generation together), or None when it has no
    fixed limit: the config's position count, else (unless it uses relative positions, as T5
    does) the tokenizer's `model_max_length` when that is a real limit."""
    config = model.config
    for key in _POSITION_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    if getattr(config, "relative_attention_num_buckets", None) is not None:
        return None
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 0 < limit < _NO_LIMIT else None


def fit_prompt(ids: Sequence[int], context: int | None, lead: int = 0) -> tuple[list[int], bool]:
    """`ids` unchanged if they leave room for at least one new token; else cut from the left to half the
    context, keeping the first `lead` ids (a BOS). Returns (ids, whether it was cut)."""
    ids = list(ids)
    if context is None or len(ids) < context:
        return ids, False
    keep = max(1, context // 2 - lead)
    return ids[:lead] + ids[-keep:], True


def new_token_room(prompt_len: int, context: int | None, limit: int) -> int:
    """New tokens a row may generate: `limit`, capped by what the context leaves after the prompt."""
    return limit if context is None else max(0, min(limit, context - prompt_len))
