"""Lossless targets: hold the student's tokenizer against its training targets, and repair it.

A student learns the token ids its tokenizer makes of each target, and its outputs are read back
through the same tokenizer. If `decode(encode(target))` is not the target, the student learns a
different text: FLAN-T5's SentencePiece pipeline turns newlines into spaces and drops runs of
spaces (normalizer + `WhitespaceSplit` pre-tokenizer), and its vocabulary has no `{`, `}` or `<`,
so every PoT program it learns is one line and a syntax error.

`check` encodes every target exactly as `Student.collate` does (it calls it), decodes the labels as
`fdd.student.evaluate.generate` decodes a generation (`batch_decode(skip_special_tokens=True)`), and
compares the *answers* of the two texts (PoT/EoT executed in the sandbox, CoT extracted). A target
whose answer changes is lossy. Only texts that changed are run, and a round-0 target's own answer
is its problem's (it was kept because it executes to it), so the original runs only for a problem
without an answer.

`repair` makes the tokenizer exact without touching what it does to ordinary text, and the result
is an ordinary `tokenizer.json` (saved with the student, so `fdd.solve` and plain transformers
decode runnable programs):

1. a pre-tokenizer that drops whitespace before a Metaspace step (`WhitespaceSplit`) is removed:
   Metaspace alone turns each space into `▁`, so single-spaced text tokenizes as before and runs of
   spaces (indentation) survive; Metaspace's `prepend_scheme` `always` becomes `first`, so a
   segment after an added token gets no `▁` (with `always`, `\\n` followed by `x` would decode as
   `\\n x`, and Python reads that space as an indent);
2. every character of the texts or of printable ASCII (what later rounds' targets may hold) that
   does not round-trip on its own (`\\n`, `\\t`, `{`, `}`, `<`, ...) and, if runs of spaces still collapse, each run length seen, becomes an added token with
   `normalized=False` (matched on the raw text, before the normalizer can change it);
3. `clean_up_tokenization_spaces` is switched off (it would turn `x .5` into `x.5`).

The model's embeddings grow to the new vocabulary and each new row (input and output embedding)
starts at the mean of the existing rows: a neutral start that does not favour any existing token.
Which rows were added is recorded in `fdd_lossless.json` next to the run's tokenizer, so a resumed
run rebuilds the same model before loading its checkpoint.
"""

from __future__ import annotations

import json
import logging
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fdd.answers import answers_match
from fdd.problems import Problem
from fdd.rationales import Answer, RationaleFormat

log = logging.getLogger("fdd")

RECORD = "fdd_lossless.json"  # in the run's tokenizer/ dir: what repair added (read on resume)
_WHITESPACE_DROPPING = ("WhitespaceSplit", "Whitespace")


class LossyTokenizer(ValueError):
    """The student's tokenizer, even repaired, changes too many targets (reported in one line)."""


@dataclass
class RoundTrip:
    n: int
    changed: int  # decoded text differs from the target
    lossy: list[tuple[str, str, str]] = field(default_factory=list)  # (id, target, decoded): answer changed

    def as_dict(self) -> dict:
        return {"targets": self.n, "changed": self.changed, "lossy": len(self.lossy)}


# -- the check ---------------------------------------------------------------------------------
def decode_targets(student, targets: Sequence[str], batch_size: int = 256) -> list[str]:
    """Each target encoded by `student.collate` (without its length limit: truncation is reported
    by training itself) and decoded as fdd.student.evaluate decodes a generation."""
    tok, limit = student.tokenizer, student.max_target_len
    student.max_target_len = 10 ** 9
    try:
        out: list[str] = []
        for start in range(0, len(targets), batch_size):
            chunk = targets[start:start + batch_size]
            labels = student.collate([{"id": str(i), "question": "", "target": t} for i, t in enumerate(chunk)])["labels"]
            out += tok.batch_decode([[i for i in row.tolist() if i != -100] for row in labels],
                                    skip_special_tokens=True)
        return out
    finally:
        student.max_target_len = limit


def _same(a, b) -> bool:
    if a.value is None or b.value is None:
        return a.value is None and b.value is None
    return answers_match(b.value, a.value)


def check(student, problems: Sequence[Problem], fmt: RationaleFormat) -> RoundTrip:
    """Which targets of `problems` come back from the student's tokenizer with another answer."""
    targets = [fmt.render(p) for p in problems]
    decoded = decode_targets(student, targets)
    diff = [i for i, (t, d) in enumerate(zip(targets, decoded)) if t != d]
    result = RoundTrip(len(targets), len(diff))
    if diff:  # only changed texts need running
        after = fmt.answers([decoded[i] for i in diff])
        # a round-0 target is kept only if its answer is its problem's (verified): compare with
        # that, and run the original only for a problem without an answer
        unknown = [i for i in diff if problems[i].answer is None]
        ran = dict(zip(unknown, fmt.answers([targets[i] for i in unknown]))) if unknown else {}
        result.lossy = [(problems[i].id, targets[i], decoded[i]) for i, b in zip(diff, after)
                        if not _same(ran[i] if i in ran else Answer(problems[i].answer), b)]
    return result


# -- the repair --------------------------------------------------------------------------------
def _roundtrips(tokenizer, text: str) -> bool:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer.decode(ids, skip_special_tokens=True) == text


def _keep_whitespace(node: dict | None, changes: list[str], where: str) -> dict | None:
    """The pipeline step `node` (a tokenizer.json pre-tokenizer or decoder) with Metaspace kept
    reversible: whitespace-dropping splits before it removed, prepend_scheme always -> first."""
    if not node:
        return node
    if node.get("type") == "Sequence":
        key = "pretokenizers" if "pretokenizers" in node else "decoders"
        steps = node[key]
        if any(s.get("type") == "Metaspace" for s in steps):
            kept = [s for s in steps if s.get("type") not in _WHITESPACE_DROPPING]
            if len(kept) < len(steps):
                changes.append(f"{where}: removed {', '.join(s['type'] for s in steps if s not in kept)}")
            steps = kept
        node = {**node, key: [_keep_whitespace(s, changes, where) for s in steps]}
        return node[key][0] if len(node[key]) == 1 else node
    if node.get("type") == "Metaspace":
        scheme = node.get("prepend_scheme") or ("always" if node.get("add_prefix_space", True) else "never")
        if scheme == "always":
            changes.append(f"{where}: Metaspace prepend_scheme always -> first")
            node = {**node, "prepend_scheme": "first"}
            node.pop("add_prefix_space", None)
    return node


def repair(tokenizer, texts: Sequence[str]):
    """A copy of `tokenizer` that reproduces `texts` (see the module docstring), with what changed:
    (tokenizer, {"pipeline": [...], "added": [...]}); None for a tokenizer without a Rust backend."""
    from tokenizers import AddedToken, Tokenizer
    from transformers import PreTrainedTokenizerFast

    if not getattr(tokenizer, "is_fast", False):
        return None
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    changes: list[str] = []
    spec["pre_tokenizer"] = _keep_whitespace(spec.get("pre_tokenizer"), changes, "pre_tokenizer")
    spec["decoder"] = _keep_whitespace(spec.get("decoder"), changes, "decoder")
    specials = {k: getattr(tokenizer, k) for k in ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token",
                                                   "cls_token", "mask_token") if getattr(tokenizer, k, None)}
    fixed = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), **specials,
                                    model_max_length=tokenizer.model_max_length, padding_side=tokenizer.padding_side,
                                    truncation_side=tokenizer.truncation_side, clean_up_tokenization_spaces=False)
    joined = "".join(texts)
    # the texts' characters and all of printable ASCII (later rounds' targets may hold any of it)
    chars = (set(joined) | set(string.printable)) - set(" \r\x0b\x0c")
    added = [c for c in sorted(chars) if not _roundtrips(fixed, f"a{c}a")]
    runs = sorted({len(r) for r in re.findall(r" {2,}", joined)})
    if any(not _roundtrips(fixed, "a" + " " * k + "a") for k in runs):
        added += [" " * k for k in runs]
    if added:
        fixed.add_tokens([AddedToken(t, normalized=False, special=False, lstrip=False, rstrip=False,
                                     single_word=False) for t in added])
    return fixed, {"pipeline": changes, "added": added}


def grow_embeddings(model, size: int, new_ids: Sequence[int], base: int) -> None:
    """Embeddings for `size` tokens; rows `new_ids` (input and output) set to the mean of rows < base."""
    if size > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(size, mean_resizing=False)
    if not new_ids:
        return
    ids = torch.tensor(list(new_ids), dtype=torch.long)
    tables = {id(m.weight): m.weight for m in (model.get_input_embeddings(), model.get_output_embeddings())
              if m is not None}
    with torch.no_grad():
        for w in tables.values():
            w[ids] = w[:base].mean(0).to(w.dtype)


# -- round 0 and resume ------------------------------------------------------------------------
def _short(text: str, n: int = 70) -> str:
    return repr(text if len(text) <= n else text[:n] + "…")


def ensure_lossless(student, problems: Sequence[Problem], fmt: RationaleFormat, name: str,
                    max_lossy: float = 0.01) -> dict:
    """Check the round-0 targets; repair the student's tokenizer (and embeddings) if any is lossy;
    raise LossyTokenizer if more than `max_lossy` of them still are. Returns the report for
    summary.json (`tokenizer`) including `record`, what `restore` needs on resume."""
    first = check(student, problems, fmt)
    report = {"student": name, **first.as_dict(), "repaired": False, "lossy_after_repair": len(first.lossy)}
    last = first
    if first.lossy:
        log.warning("student %s: %d of %d round-0 targets lose their answer through its tokenizer (first: %s "
                    "comes back as %s); repairing the tokenizer", name, len(first.lossy), first.n,
                    _short(first.lossy[0][1]), _short(first.lossy[0][2]))
        repaired = repair(student.tokenizer, [fmt.render(p) for p in problems] + [p.question for p in problems])
        if repaired is not None:
            tokenizer, info = repaired
            base = len(student.tokenizer)
            new_ids = tokenizer.convert_tokens_to_ids(info["added"])
            grow_embeddings(student.model, len(tokenizer), new_ids, base)
            student.tokenizer = tokenizer
            last = check(student, problems, fmt)
            report.update(repaired=True, lossy_after_repair=len(last.lossy), changed_after_repair=last.changed,
                          pipeline=info["pipeline"], added_tokens=info["added"],
                          record={"base_size": base, "added": info["added"], "ids": list(new_ids)})
            log.info("student %s: tokenizer repaired (%s; %d added tokens: %s): %d of %d targets still lossy",
                     name, "; ".join(info["pipeline"]) or "pipeline unchanged", len(new_ids),
                     " ".join(repr(t) for t in info["added"]), len(last.lossy), last.n)
    else:
        log.info("student %s: all %d round-0 targets round-trip through its tokenizer (%d change text, not answer)",
                 name, first.n, first.changed)
    if last.lossy and len(last.lossy) > max_lossy * last.n:
        pid, target, decoded = last.lossy[0]
        raise LossyTokenizer(
            f"student {name}: its tokenizer changes the answer of {len(last.lossy)} of {last.n} targets "
            f"({len(last.lossy) / last.n:.1%} > max_lossy_targets={max_lossy:g}{', even repaired' if report['repaired'] else ''}); "
            f"first: {pid}: {_short(target)} comes back as {_short(decoded)}")
    return report


def restore(model, tokenizer, tokenizer_dir: Path) -> None:
    """On resume: grow a freshly loaded model's embeddings as `ensure_lossless` did in round 0."""
    path = Path(tokenizer_dir) / RECORD
    if path.exists():
        rec = json.loads(path.read_text())
        grow_embeddings(model, len(tokenizer), rec["ids"], rec["base_size"])


class WithRecord:
    """save_pretrained of a tokenizer plus the repair record, so both land in one atomic save_dir."""

    def __init__(self, tokenizer, record: dict | None):
        self.tokenizer, self.record = tokenizer, record

    def save_pretrained(self, path) -> None:
        self.tokenizer.save_pretrained(path)
        if self.record:
            (Path(path) / RECORD).write_text(json.dumps(self.record, indent=1))
