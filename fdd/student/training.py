"""The student: a LightningModule around a Hugging Face model (built by fdd/student/models.py).

The module is the same for every factory (`model.config.is_encoder_decoder` picks the collation);
it trains question → rationale. A causal student reads its prompt template and continues with the
rationale and EOS; only the rationale and EOS are in the loss, and generation (fdd.student.evaluate) stops
at EOS.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import lightning.pytorch as pl
import torch
from transformers import (
    BatchEncoding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from fdd.student.context import context_length, fit_prompt
from fdd.student.models import PROMPT

log = logging.getLogger("fdd")

OPTIMIZERS = ("adamw", "adafactor")
SCHEDULERS = ("constant", "linear")


# -- causal prompts ----------------------------------------------------------------------------
def _leading_specials(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The special tokens the tokenizer puts before a text (a BOS for Llama-style tokenizers, none for
    GPT-2 or Qwen). Trailing ones (an EOS) are dropped: they would end the prompt before the answer."""
    full = tokenizer("1")["input_ids"]
    bare = tokenizer("1", add_special_tokens=False)["input_ids"]
    return full[:full.index(bare[0])] if bare and bare[0] in full else []


def prompt_rows(tokenizer: PreTrainedTokenizerBase, questions: Sequence[str], template: str | None,
                max_len: int, context: int | None = None) -> tuple[list[list[int]], list[bool]]:
    """Token ids of causal prompts, shared by training and generation so both see the same tokens;
    an over-long question (beyond `max_len`) is cut at its end, never the answer cue after it, and a
    prompt that alone does not fit the model's `context` keeps its end (fdd/student/context.py).
    Returns (ids, whether each was cut either way)."""
    head, _, tail = (template or "{question}").partition("{question}")
    lead = _leading_specials(tokenizer)
    tail_ids = tokenizer(tail, add_special_tokens=False)["input_ids"] if tail else []
    room = max(1, max_len - len(lead) - len(tail_ids))
    bodies = tokenizer([head + q for q in questions], add_special_tokens=False)["input_ids"]
    out, cut = [], []
    for b in bodies:
        ids, squeezed = fit_prompt(lead + b[:room] + tail_ids, context, len(lead))
        out.append(ids)
        cut.append(len(b) > room or squeezed)
    return out, cut


def prompt_ids(tokenizer: PreTrainedTokenizerBase, questions: Sequence[str], template: str | None,
               max_len: int, context: int | None = None) -> tuple[list[list[int]], int]:
    """`prompt_rows` with the number of prompts cut."""
    ids, cut = prompt_rows(tokenizer, questions, template, max_len, context)
    return ids, sum(cut)


def pad(seqs: Sequence[Sequence[int]], value: int, left: bool = False) -> torch.Tensor:
    """A (rows, longest) LongTensor of `seqs`, filled with `value` on the right (or left)."""
    width = max((len(s) for s in seqs), default=0)
    out = torch.full((len(seqs), width), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            (out[i, width - len(s):] if left else out[i, :len(s)]).copy_(torch.tensor(s, dtype=torch.long))
    return out


def causal_batch(tokenizer: PreTrainedTokenizerBase, questions: Sequence[str], template: str | None,
                 max_len: int, context: int | None = None) -> BatchEncoding:
    """Left-padded prompts for `generate`: every row's continuation then starts at the same column."""
    ids, _ = prompt_ids(tokenizer, questions, template, max_len, context)
    mask = pad([[1] * len(s) for s in ids], 0, left=True)
    return BatchEncoding({"input_ids": pad(ids, tokenizer.pad_token_id, left=True), "attention_mask": mask})


def _clip(seqs: list[list[int]], max_len: int, eos: int | None, keep_eos: bool = True) -> tuple[list[list[int]], int]:
    """Cut sequences to max_len. Sources keep a final EOS, as the tokenizer's own truncation does;
    targets (`keep_eos=False`) lose it: an EOS after a cut program would teach the student to stop
    mid-program, whereas the bare prefix only teaches how programs begin."""
    out, n = [], 0
    for s in seqs:
        if len(s) > max_len:
            n += 1
            s = s[:max_len - 1] + s[-1:] if keep_eos and eos is not None and s[-1] == eos else s[:max_len]
        out.append(s)
    return out, n


class Student(pl.LightningModule):
    """Trains question → rationale; generation is in fdd.student.evaluate.

    `seen_ids[round]` records the problem ids that reached `training_step` in each round on this
    process, so tests can prove that training really sees each round's data (Lightning reloading
    is not trusted); `finish_round` gathers them and the padding/truncation counts over ranks.

    Learning rate: `scheduler=constant` warms up over the first `warmup_steps` steps of the run (of
    every round with `reinit_each_round`) and then holds (the t5_tiny default). `scheduler=linear` restarts every round: warm-up, then linear
    decay to `min_lr_ratio`·lr at the round's last step. A round's length is known only when it
    starts (the set grows with the student's feedback), so the schedule is per round, not per run.
    """

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, lr: float = 1e-3,
                 weight_decay: float = 0.0, warmup_steps: int = 50, reinit_each_round: bool = False,
                 max_source_len: int = 256, max_target_len: int = 256, optimizer: str = "adamw",
                 scheduler: str = "constant", min_lr_ratio: float = 0.0, gradient_checkpointing: bool = False,
                 batch_tokens: int | None = None):
        super().__init__()
        if batch_tokens is not None and int(batch_tokens) < 1:
            raise ValueError(f"student.batch_tokens must be null or >= 1, got {batch_tokens}")
        # token-budget micro-batches (see `micro_batches`): the optimizer step and gradient clipping are done
        # here, over a whole `batch_size` batch; `clip_val` is the trainer's gradient_clip_val (fdd/pipeline.py)
        self.batch_tokens, self.clip_val = (int(batch_tokens) if batch_tokens else None), None
        self.automatic_optimization = self.batch_tokens is None
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"student.optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
        if scheduler not in SCHEDULERS:
            raise ValueError(f"student.scheduler must be one of {', '.join(SCHEDULERS)}, got {scheduler!r}")
        self.model, self.tokenizer = model, tokenizer
        # from_pretrained hands back a model in eval mode and Lightning keeps submodules' modes, so a
        # pretrained student would otherwise fine-tune with dropout off
        model.train()
        self.lr, self.weight_decay, self.warmup_steps = lr, weight_decay, warmup_steps
        self.optimizer_name, self.scheduler_name, self.min_lr_ratio = optimizer, scheduler, min_lr_ratio
        self.reinit_each_round = reinit_each_round
        # weight decay by parameter name, read here from the unwrapped model: under FSDP the optimizer
        # sees flat 1-D shards, whose ndim says nothing about what they are
        self.no_decay = frozenset(n for n, p in model.named_parameters() if p.ndim < 2)
        # reinit_each_round on a pretrained student restores these (a CPU copy); transformers 5 flags
        # loaded weights as initialised, so its init functions would leave the trained ones in place
        self._initial = ({k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                         if reinit_each_round and getattr(model, "name_or_path", "") else None)
        self.max_source_len, self.max_target_len = max_source_len, max_target_len
        self.context = context_length(model, tokenizer)  # None: no fixed limit (T5)
        self.causal = not model.config.is_encoder_decoder
        self.prompt = getattr(model.config, "fdd_prompt", None) or (PROMPT if self.causal else None)
        if gradient_checkpointing:
            if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x renamed it
                model.activation_checkpointing_enable({"use_reentrant": False})
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.current_round = 0
        self.epochs_per_round = 1  # set by fdd.pipeline.fit; sizes the per-round schedule
        self.seen_ids: dict[int, set[str]] = defaultdict(set)
        self.stats: dict[int, Counter] = defaultdict(Counter)  # per round: tokens, padded, truncation, steps
        self.reports: dict[int, dict] = {}
        self._round_start, self._round_steps, self._scheduled_round = 0, 1, -1
        self._unsharded: PreTrainedModel | None = None  # trainer=fsdp: see load_unsharded

    # -- data ------------------------------------------------------------------------------
    def collate(self, batch: list[dict]) -> dict:
        """Token ids, attention mask and labels (-100: not in the loss), plus `stats`: plain ints
        (not moved to the device) counting real tokens, padded positions and truncated sequences."""
        if self.causal:
            return self._collate_causal(batch)
        tok, eos, ctx = self.tokenizer, self.tokenizer.eos_token_id, self.context or 1 << 30
        src, n_src = _clip(tok([b["question"] for b in batch])["input_ids"], min(self.max_source_len, ctx), eos)
        tgt, n_tgt = _clip(tok([b["target"] for b in batch])["input_ids"], min(self.max_target_len, ctx - 1), eos,
                           keep_eos=False)  # ctx - 1: the decoder start token takes a position
        input_ids, labels = pad(src, tok.pad_token_id), pad(tgt, -100)
        mask = pad([[1] * len(s) for s in src], 0)
        source, target = sum(map(len, src)), sum(map(len, tgt))
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels, "ids": [b["id"] for b in batch],
                "stats": {"tokens": source + target, "padded": input_ids.numel() + labels.numel(),
                          "source_tokens": source, "target_tokens": target,
                          "truncated_source": n_src, "truncated_target": n_tgt}}

    def _collate_causal(self, batch: list[dict]) -> dict:
        """prompt + rationale + EOS, right-padded; the prompt and the padding are masked out of the loss."""
        tok, eos = self.tokenizer, self.tokenizer.eos_token_id
        prompts, n_src = prompt_ids(tok, [b["question"] for b in batch], self.prompt, self.max_source_len, self.context)
        answers = tok([b["target"] for b in batch], add_special_tokens=False)["input_ids"]
        rooms = [max(1, min(self.max_target_len, (self.context or 1 << 30) - len(p))) for p in prompts]
        n_tgt = sum(len(a) + 1 > r for a, r in zip(answers, rooms))
        answers = [a + [eos] if len(a) + 1 <= r else a[:r] for a, r in zip(answers, rooms)]  # cut: no EOS (see _clip)
        seqs = [p + a for p, a in zip(prompts, answers)]
        input_ids = pad(seqs, tok.pad_token_id)
        labels = pad([[-100] * len(p) + a for p, a in zip(prompts, answers)], -100)
        mask = pad([[1] * len(s) for s in seqs], 0)
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels, "ids": [b["id"] for b in batch],
                "stats": {"tokens": sum(map(len, seqs)), "padded": input_ids.numel(),
                          "source_tokens": sum(map(len, prompts)), "target_tokens": sum(map(len, answers)),
                          "truncated_source": n_src, "truncated_target": n_tgt}}

    def needs(self, items: Sequence[dict]) -> list[int]:
        """Positions each item (question, target) takes in training, after the max_source_len and
        max_target_len caps and before any cut to the context: what round 0 holds against the context."""
        tok = self.tokenizer
        targets = tok([b["target"] for b in items], add_special_tokens=False)["input_ids"]
        if self.causal:
            prompts, _ = prompt_ids(tok, [b["question"] for b in items], self.prompt, self.max_source_len)
            return [len(p) + min(len(t) + 1, self.max_target_len) for p, t in zip(prompts, targets)]
        sources = tok([b["question"] for b in items])["input_ids"]
        return [max(min(len(s), self.max_source_len), min(len(t) + 2, self.max_target_len))
                for s, t in zip(sources, targets)]  # + EOS and the decoder start token

    # -- training --------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        self.seen_ids[self.current_round].update(batch["ids"])
        self.stats[self.current_round].update(batch.get("stats", {}))
        if self.batch_tokens is not None:
            return self._accumulated_step(batch)
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         labels=batch["labels"])
        self.log("train/loss", out.loss, prog_bar=True, batch_size=len(batch["ids"]))
        return out.loss

    def micro_batches(self, batch: dict) -> list[dict]:
        """The rows of `batch` in consecutive slices of at most `batch_tokens` padded tokens each (a row
        alone may exceed it), padding columns dropped: memory follows tokens, not rows, and the
        optimizer still steps once per `batch_size` examples."""
        mask, labels = batch["attention_mask"], batch["labels"]
        source = mask.sum(1).tolist()  # planned on the host once: no device sync per row
        target = [0] * len(source) if self.causal else (labels != -100).sum(1).tolist()
        out, start, rows = [], 0, len(source)
        while start < rows:
            end, widest = start + 1, source[start] + target[start]
            while end < rows and (end + 1 - start) * max(widest, source[end] + target[end]) <= self.batch_tokens:
                widest = max(widest, source[end] + target[end])
                end += 1
            part, cols = slice(start, end), max(source[start:end])
            micro = {"input_ids": batch["input_ids"][part, :cols], "attention_mask": mask[part, :cols],
                     "labels": labels[part, :cols] if self.causal else labels[part, :max(target[start:end])]}
            out.append({k: v.contiguous() for k, v in micro.items()})
            start = end
        return out

    def accumulate(self, batch: dict) -> torch.Tensor:
        """Backward over the micro-batches of `batch`, each mean loss weighted by its share of the target
        tokens, so the gradients add up to the whole batch's; returns the batch's loss."""
        backward = self.manual_backward if self._trainer is not None else torch.Tensor.backward
        micros = self.micro_batches(batch)
        counts = torch.stack([(m["labels"] != -100).sum() for m in micros]).tolist()  # one host sync
        total = sum(counts)
        loss = torch.zeros((), device=batch["labels"].device)
        for micro, count in zip(micros, counts):
            share = count / max(1, total)
            out = self.model(**micro)
            backward(out.loss * share)
            loss += out.loss.detach() * share
        return loss

    def _accumulated_step(self, batch: dict) -> torch.Tensor:
        """One optimizer step over `batch`, its gradient accumulated over token-budget micro-batches;
        each micro-batch's mean loss weighted by its share of the batch's target tokens, so the step
        equals one over the whole batch."""
        opt = self.optimizers()
        loss = self.accumulate(batch)
        if self.clip_val:
            self.clip_gradients(opt, gradient_clip_val=self.clip_val, gradient_clip_algorithm="norm")
        opt.step()
        opt.zero_grad(set_to_none=True)
        if (sched := self.lr_schedulers()) is not None:
            sched.step()
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        return loss

    def configure_optimizers(self):
        decay, rest = [], []  # rest: biases and norms, by name (see __init__)
        for name, p in self.model.named_parameters():
            if p.requires_grad:
                name = name.replace("_fsdp_wrapped_module.", "").replace("_checkpoint_wrapped_module.", "")
                (rest if name in self.no_decay else decay).append(p)
        groups = [{"params": decay, "weight_decay": self.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        if self.optimizer_name == "adafactor":  # the usual T5 recipe: fixed lr, no parameter scaling
            from transformers.optimization import Adafactor

            opt = Adafactor(groups, lr=self.lr, scale_parameter=False, relative_step=False, warmup_init=False)
        else:  # fused: one kernel for all parameters on a GPU (several times fewer launches per step)
            fused = all(p.is_cuda and p.dtype.is_floating_point for g in groups for p in g["params"])
            opt = torch.optim.AdamW(groups, lr=self.lr, **({"fused": True} if fused else {}))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, self.lr_factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def lr_factor(self, step: int) -> float:
        """Multiplier of `lr` at optimizer step `step` (see the class docstring)."""
        if self.scheduler_name == "constant":  # one warm-up per run, or per round when reinitialised
            s = step - self._round_start if self.reinit_each_round else step
            return min(1.0, (s + 1) / max(1, self.warmup_steps))
        s, n = step - self._round_start, max(1, self._round_steps)
        warm = max(1, min(self.warmup_steps, n // 2))
        if s < warm:
            return (s + 1) / warm
        return max(self.min_lr_ratio, 1.0 - (1.0 - self.min_lr_ratio) * (s - warm) / max(1, n - warm))

    def on_train_epoch_start(self) -> None:
        """At a round's first epoch (the RoundRunner has set `current_round`): size the round's schedule
        from its (new) dataloader and re-apply the lr, which was computed under the previous round."""
        if self.current_round == self._scheduled_round:
            return
        self._scheduled_round = self.current_round
        trainer = self.trainer
        per_epoch = math.ceil(trainer.num_training_batches / max(1, trainer.accumulate_grad_batches))
        self._round_start, self._round_steps = trainer.global_step, max(1, per_epoch * self.epochs_per_round)
        for config in trainer.lr_scheduler_configs:
            sched = config.scheduler
            if isinstance(sched, torch.optim.lr_scheduler.LambdaLR):
                lrs = [base * self.lr_factor(sched.last_epoch) for base in sched.base_lrs]
                for group, lr in zip(sched.optimizer.param_groups, lrs):
                    group["lr"] = lr
                sched._last_lr = lrs

    def finish_round(self, k: int) -> dict:
        """Round k's training report, gathered over ranks (every rank must call it: a collective under
        DDP): examples trained, optimizer steps, padding fraction, truncated sources/targets. Logs one
        line, a warning if anything was truncated, and the numbers as train/* metrics."""
        stats = self.stats[k]
        local = {"ids": sorted(self.seen_ids.get(k, ())), **stats}
        if trace := os.environ.get("FDD_TRACE_IDS"):  # tests: which ids each rank trained on
            path = Path(trace) / f"round{k}_rank{self.global_rank}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(local["ids"]))
        parts = [local]
        if torch.distributed.is_available() and torch.distributed.is_initialized() and self.trainer.world_size > 1:
            parts = [None] * self.trainer.world_size
            torch.distributed.all_gather_object(parts, local)
        total = Counter()
        for p in parts:
            total.update({key: v for key, v in p.items() if key != "ids"})
        report = {"examples": len(set().union(*(p["ids"] for p in parts))),
                  "padding_fraction": round(1 - total["tokens"] / total["padded"], 4) if total["padded"] else 0.0,
                  "truncated_source": total["truncated_source"], "truncated_target": total["truncated_target"],
                  "tokens": total["tokens"], "source_tokens": total["source_tokens"],
                  "target_tokens": total["target_tokens"]}
        self.reports[k] = report
        if self.trainer.is_global_zero:
            log.info("round %d training: %d examples on %d rank(s), padding %.1f%%, truncated %d sources / %d targets",
                     k, report["examples"], len(parts), 100 * report["padding_fraction"],
                     report["truncated_source"], report["truncated_target"])
            if report["truncated_source"] or report["truncated_target"]:
                log.warning("round %d: truncated %d questions to student.max_source_len=%d and %d rationales to "
                            "student.max_target_len=%d tokens; raise them if this is more than a few", k,
                            report["truncated_source"], self.max_source_len, report["truncated_target"],
                            self.max_target_len)
        # the same numbers on every rank; sync_dist only keeps Lightning's DDP check quiet
        self.log_dict({f"train/{key}": float(v) for key, v in report.items()}, sync_dist=len(parts) > 1)
        return report

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Keep the round reports with the weights: a boundary redone on resume reports the same."""
        checkpoint["fdd_training_reports"] = dict(self.reports)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.reports.update(checkpoint.get("fdd_training_reports", {}))

    # -- sharded training (trainer=fsdp) -----------------------------------------------------
    def sharded(self) -> bool:
        from lightning.pytorch.strategies import FSDPStrategy

        return self._trainer is not None and isinstance(self.trainer.strategy, FSDPStrategy)

    def load_unsharded(self, checkpoint: str | Path) -> None:
        """Under FSDP (every rank, after the round's checkpoint): build a full copy of the model from
        that checkpoint, which holds one full state dict (state_dict_type: full). The trained model's
        own parameters are sharded over the ranks, and each rank generates its share of the round
        boundary with the copy. A no-op otherwise."""
        if not self.sharded():
            return
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
        full = type(self.model)(self.model.config)
        full.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
        self._unsharded = full.to(self.device).eval()

    def generation_model(self) -> PreTrainedModel:
        """The model to generate with at a round boundary and to export: `self.model`, or under FSDP
        the full copy made by `load_unsharded`."""
        return self._unsharded if self._unsharded is not None else self.model

    def reinitialise(self) -> None:
        """A fresh start for the round (student.reinit_each_round=true): a pretrained student gets its
        pretrained weights back, a scratch one new random weights (the caller seeds torch); the
        optimizer state is cleared and the lr warms up again (`lr_factor`)."""
        if self._initial is not None:
            self.model.load_state_dict(self._initial)
        else:
            for p in self.model.parameters():  # transformers 5 skips tensors flagged as initialised
                if hasattr(p, "_is_hf_initialized"):
                    del p._is_hf_initialized
            self.model.apply(self.model._init_weights)
        for opt in (self.trainer.optimizers if self._trainer is not None else ()):
            opt.state.clear()
