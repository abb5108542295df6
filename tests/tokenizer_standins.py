"""Tiny local stand-ins for the students' real tokenizers, built with the `tokenizers` library.

Each one follows the pipeline of the real `tokenizer.json` of its family and is saved with the
real `tokenizer_class`, so `AutoTokenizer.from_pretrained(DIR)` goes through the same
transformers class (which, in transformers 5, rebuilds parts of the pipeline itself) as with the
hub checkpoint:

- `t5`: FLAN-T5. SentencePiece Unigram; normalizer `Precompiled` (nmt_nfkc: NFKC, `\\n` `\\t` `\\r`
  become spaces), pre-tokenizer `Sequence[WhitespaceSplit, Metaspace(prepend_scheme=always)]`
  (so runs of spaces and newlines vanish), decoder `Metaspace`, post-processor `$A </s>`, ids
  `<pad>`=0 `</s>`=1 `<unk>`=2, 100 `<extra_id_N>` sentinels; the vocabulary has no `{`, `}`, `<`.
  The precompiled charsmap cannot be shipped, so the normalizer is NFKC + those replacements +
  collapsing runs of spaces (what the charsmap and SentencePiece's whitespace removal do).
- `llama`: Llama/SentencePiece BPE with byte fallback: normalizer `Prepend("▁")` + `Replace(" ", "▁")`,
  no pre-tokenizer, decoder `Replace("▁", " ")`, `ByteFallback`, `Fuse`, `Strip(left=1)`; `<s>` in
  front of every text; newline and braces exist only as byte tokens (`<0x0A>`, ...).
- `gpt2` / `qwen`: byte-level BPE (GPT-2: ByteLevel pre-tokenizer, one `<|endoftext|>`, no pad; Qwen2:
  its split regex + ByteLevel, NFC normalizer, `<|endoftext|>` as pad and EOS).

`save_model(family, dir)` writes a tiny random model of the matching architecture next to the
tokenizer, loadable with `student=seq2seq|causal student.name_or_path=DIR`.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    T5Config,
    T5ForConditionalGeneration,
)

T5_MISSING = "{}<"  # characters FLAN-T5's vocabulary lacks (they encode as <unk>)
FAMILIES = ("t5", "llama", "gpt2", "qwen")
# Which stand-in plays each student preset's hub checkpoint (conf/student/*.yaml).
PRESET_FAMILY = {"flan_t5_small": "t5", "flan_t5_base": "t5", "flan_t5_large": "t5", "seq2seq": "t5",
                 "gpt2": "gpt2", "smollm2_360m": "gpt2", "qwen2_5_0_5b": "qwen", "causal": "llama"}
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
              r"|\s+(?!\S)|\s+")


def default_corpus() -> list[str]:
    """Questions and PoT/CoT rationales of the synthetic family (the texts a student will see)."""
    from fdd.datasets import load
    from fdd.teachers.symbolic import SymbolicTeacher

    probs = load("synthetic", n=300, seed=11, min_steps=1, max_steps=5).problems
    texts = [p.question for p in probs]
    for fmt in ("pot", "cot"):
        texts += [ts[0] for ts in SymbolicTeacher(error_rate=0.0, rationale=fmt).annotate(probs) if ts]
    return texts


def _printable(exclude: str = "") -> list[str]:
    return [c for c in string.printable if not c.isspace() and c not in exclude]


def t5_tokenizer(corpus: Sequence[str], vocab_size: int = 600) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.Replace(Regex(r"[\n\t\r]"), " "), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    clean = [t.translate({ord(c): None for c in T5_MISSING}) for t in corpus]
    tok.train_from_iterator(clean, trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False,
        initial_alphabet=_printable(T5_MISSING)))
    assert not set(T5_MISSING) & set(tok.get_vocab()), "the T5 stand-in must lack { } <"
    tok.add_special_tokens([AddedToken(f"<extra_id_{i}>", special=True, normalized=False) for i in range(99, -1, -1)])
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                                   extra_ids=100, model_max_length=512)


def llama_tokenizer(corpus: Sequence[str], vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """SentencePiece BPE with byte fallback; newlines and braces are left to the byte tokens."""
    trainer_tok = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer_tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    trainer_tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    clean = [t.replace("\n", " ").translate({ord(c): None for c in "{}"}) for t in corpus]
    trainer_tok.train_from_iterator(clean, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False,
        initial_alphabet=["▁", *_printable("{}")]))
    trained = json.loads(trainer_tok.to_str())["model"]
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    pieces = ["<unk>", "<s>", "</s>", *byte_tokens,
              *(p for p, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]) if p not in ("<unk>", "<s>", "</s>"))]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in trained["merges"]]
    tok = Tokenizer(models.BPE(vocab={p: i for i, p in enumerate(pieces)}, merges=merges, unk_token="<unk>",
                               fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<unk>", "<s>", "</s>")])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=2048)


def byte_level_tokenizer(corpus: Sequence[str], qwen: bool, vocab_size: int = 600) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    if qwen:
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if qwen:
        return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                       model_max_length=32768)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   model_max_length=1024)


TOKENIZER_CLASS = {"t5": "T5Tokenizer", "llama": "LlamaTokenizer", "gpt2": "GPT2Tokenizer", "qwen": "Qwen2Tokenizer"}


def build_tokenizer(family: str, corpus: Sequence[str] | None = None, vocab_size: int = 600) -> PreTrainedTokenizerFast:
    corpus = list(corpus) if corpus is not None else default_corpus()
    if family == "t5":
        return t5_tokenizer(corpus, vocab_size)
    if family == "llama":
        return llama_tokenizer(corpus, vocab_size)
    if family in ("gpt2", "qwen"):
        return byte_level_tokenizer(corpus, qwen=family == "qwen", vocab_size=vocab_size)
    raise ValueError(f"unknown family {family!r} ({', '.join(FAMILIES)})")


def save_tokenizer(family: str, tok: PreTrainedTokenizerFast, out: Path) -> None:
    """save_pretrained, then name the real transformers class in tokenizer_config.json, as the hub
    checkpoints do (AutoTokenizer then builds that class from tokenizer.json)."""
    tok.save_pretrained(out)
    cfg_path = Path(out) / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = TOKENIZER_CLASS[family]
    if family == "llama":
        cfg.update(add_bos_token=True, add_eos_token=False, legacy=False)
    cfg_path.write_text(json.dumps(cfg, indent=1))


def build_model(family: str, vocab: int, d_model: int = 32, d_ff: int = 64, layers: int = 1, heads: int = 2,
                d_kv: int = 16, seed: int = 0):
    torch.manual_seed(seed)
    if family == "t5":  # FLAN-T5 (T5 v1.1): gated-gelu, untied lm_head; embeddings padded past the vocab
        return T5ForConditionalGeneration(T5Config(
            vocab_size=vocab + (-vocab) % 64, d_model=d_model, d_ff=d_ff, num_layers=layers,
            num_decoder_layers=layers, num_heads=heads, d_kv=d_kv, feed_forward_proj="gated-gelu",
            tie_word_embeddings=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0))
    if family == "llama":
        return LlamaForCausalLM(LlamaConfig(
            vocab_size=vocab, hidden_size=d_model, intermediate_size=d_ff, num_hidden_layers=layers,
            num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=1024,
            bos_token_id=1, eos_token_id=2, pad_token_id=None))
    if family == "qwen":
        return Qwen2ForCausalLM(Qwen2Config(
            vocab_size=vocab, hidden_size=d_model, intermediate_size=d_ff, num_hidden_layers=layers,
            num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=1024,
            tie_word_embeddings=True, bos_token_id=None, eos_token_id=0, pad_token_id=0))
    return GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=1024, n_embd=d_model, n_layer=layers,
                                      n_head=heads, bos_token_id=0, eos_token_id=0))


def save_model(family: str, out: Path, corpus: Sequence[str] | None = None, vocab_size: int = 600,
               **size) -> Path:
    """A tiny random model of `family` with its stand-in tokenizer in `out` (save_pretrained)."""
    out = Path(out)
    tok = build_tokenizer(family, corpus, vocab_size)
    model = build_model(family, len(tok), **size)
    model.save_pretrained(out)
    save_tokenizer(family, tok, out)
    return out
