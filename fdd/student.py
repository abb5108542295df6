"""The student: a LightningModule around a Hugging Face model, and the factories that build one.

Factories (selected by `student.model._target_`) return `(model, tokenizer)`:
- `scratch_t5`: a small T5 built from a config, with a byte-level BPE tokenizer trained on the
  round-0 distillation set (digits split one by one, so numbers are copied digit by digit).
The LightningModule is the same for every factory; it trains question → rationale.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import lightning.pytorch as pl
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedModel, PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

SPECIALS = ["<pad>", "</s>", "<unk>"]


def train_tokenizer(corpus: Sequence[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE with single-digit pre-splitting; appends </s> to every sequence."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=1024)


def scratch_t5(corpus: Sequence[str], tokenizer: PreTrainedTokenizerFast | None = None, vocab_size: int = 800, d_model: int = 128, d_ff: int = 512,
               num_layers: int = 2, num_decoder_layers: int = 2, num_heads: int = 4, d_kv: int = 32,
               dropout_rate: float = 0.0, seed: int = 0, **_) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    tokenizer = tokenizer or train_tokenizer(corpus, vocab_size)
    config = T5Config(vocab_size=len(tokenizer), d_model=d_model, d_ff=d_ff, num_layers=num_layers,
                      num_decoder_layers=num_decoder_layers, num_heads=num_heads, d_kv=d_kv,
                      dropout_rate=dropout_rate, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                      feed_forward_proj="gated-gelu", tie_word_embeddings=True)
    torch.manual_seed(seed)
    return T5ForConditionalGeneration(config), tokenizer


class Student(pl.LightningModule):
    """Trains question → rationale; generation is in fdd.evaluate.

    `seen_ids[round]` records the problem ids that reached `training_step` in each round, so tests
    can prove that training really sees each round's data (Lightning reloading is not trusted).
    """

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, lr: float = 1e-3,
                 weight_decay: float = 0.0, warmup_steps: int = 50, reinit_each_round: bool = False,
                 max_source_len: int = 256, max_target_len: int = 256):
        super().__init__()
        self.model, self.tokenizer = model, tokenizer
        self.lr, self.weight_decay, self.warmup_steps = lr, weight_decay, warmup_steps
        self.reinit_each_round = reinit_each_round
        self.max_source_len, self.max_target_len = max_source_len, max_target_len
        self.current_round = 0
        self.seen_ids: dict[int, set[str]] = defaultdict(set)
        self.truncated = 0

    # -- data ------------------------------------------------------------------------------
    def collate(self, batch: list[dict]) -> dict:
        tok = self.tokenizer
        src = tok([b["question"] for b in batch], padding=True, truncation=True,
                  max_length=self.max_source_len, return_tensors="pt")
        tgt = tok([b["target"] for b in batch], padding=True, truncation=True,
                  max_length=self.max_target_len, return_tensors="pt")
        labels = tgt["input_ids"].masked_fill(tgt["attention_mask"] == 0, -100)
        return {"input_ids": src["input_ids"], "attention_mask": src["attention_mask"], "labels": labels,
                "ids": [b["id"] for b in batch]}

    # -- training --------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        self.seen_ids[self.current_round].update(batch["ids"])
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         labels=batch["labels"])
        self.log("train/loss", out.loss, prog_bar=True, batch_size=len(batch["ids"]))
        return out.loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        warm = max(1, self.warmup_steps)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / warm))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def reinitialise(self) -> None:
        """Fresh weights and optimizer state (student.reinit_each_round=true)."""
        self.model.apply(self.model._init_weights)
        for opt in self.trainer.optimizers:
            opt.state.clear()
