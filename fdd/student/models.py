"""The factories that build a student's `(model, tokenizer)`, selected by `student.model._target_`
and called as `instantiate(cfg.student.model, corpus=..., tokenizer=...)`:
- `scratch_t5`: a small T5 built from a config, with a byte-level BPE tokenizer trained on the
  round-0 distillation set (digits split one by one, so numbers are copied digit by digit).
- `seq2seq`: a pretrained encoder-decoder (FLAN-T5, ...) from a hub id or a local directory.
- `causal`: a pretrained decoder-only LM (Qwen2.5, SmolLM2, GPT-2, Llama, ...), also from a GGUF
  file (`gguf_file`, dequantized to float weights; fdd/student/files.py says where files are). It reads the prompt
  `PROMPT` and continues with the rationale and EOS. The template travels in the model config
  (`fdd_prompt`), so a saved student rebuilds its own prompt (fdd.student.evaluate, fdd.solve). Plain text
  rather than a chat template: base models and tiny test models alike read it, and the final
  newline starts the program on a line of its own, as the teacher's rationales do.
`tokenizer` is the run's saved copy on resume. The LightningModule that trains any of them is in
fdd/student/training.py.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

from fdd.student import files as model_files

log = logging.getLogger("fdd")

SPECIALS = ["<pad>", "</s>", "<unk>"]
PROMPT = "Question: {question}\nAnswer:\n"  # causal students; stored as model.config.fdd_prompt


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


HUB_PROBE_TIMEOUT_S = 5.0


def _hub_unreachable() -> str | None:
    """Why the Hugging Face hub cannot be reached, or None. One request with a short timeout:
    huggingface_hub retries a refused connection five times with backoff, per file, so a run
    without hub access would otherwise take a minute or more to fail."""
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    try:
        get_session().head(constants.ENDPOINT, timeout=HUB_PROBE_TIMEOUT_S)
    except Exception as e:  # noqa: BLE001 - refused, DNS, timeout, proxy: all mean "not reachable"
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return f"the hub at {constants.ENDPOINT} is not reachable ({type(e).__name__}: {detail})"
    return None


def _from_pretrained(auto, name_or_path: str, dtype: str | None = None, gguf_file: str | None = None):
    """`auto.from_pretrained` with a one-line error naming the student (a typo, no hub access).
    A local dir (or `pkg:NAME`, fdd/student/files.py) loads directly; a hub id loads from the local HF
    cache if it is there (no network), else from the hub after a quick reachability check. Weights
    load in `dtype` ("float32" for training: transformers 5 would keep a bf16 checkpoint in bf16, and
    mixed precision wants fp32 master weights; "auto": the checkpoint's own dtype). `gguf_file`: the
    weights (and tokenizer) come from that GGUF file, dequantized to float (`_dequantized`); a local
    file's float copy is kept and read by `_from_gguf_cache`."""
    name_or_path = model_files.folder(name_or_path, gguf_file)
    if not name_or_path:
        raise ValueError("set student.name_or_path to a hub id or a local directory")
    try:
        name_or_path = model_files.resolve(name_or_path)
    except FileNotFoundError as e:
        raise OSError(str(e)) from None
    kw = {} if dtype is None else {"dtype": dtype if dtype == "auto" else getattr(torch, dtype)}
    if gguf_file and (path := model_files.gguf_path(name_or_path, gguf_file)) is not None and path.is_file():
        part = "tokenizer" if auto is AutoTokenizer else f"{auto.__name__}-{dtype}"
        if (cache := model_files.gguf_cache(path, part)) is not None:
            return _from_gguf_cache(auto, cache, kw, lambda: _load(auto, name_or_path, kw, gguf_file))
    return _load(auto, name_or_path, kw, gguf_file)


def _load(auto, name_or_path: str, kw: dict, gguf_file: str | None):
    """`_from_pretrained`'s load of a resolved `name_or_path`, with `from_pretrained` arguments `kw`."""
    kw = dict(kw)
    if gguf_file:
        kw["gguf_file"] = str(Path(gguf_file).expanduser())
        if auto is not AutoTokenizer:
            kw["quantization_config"] = _gguf_dequantize(kw["gguf_file"])
    local = Path(name_or_path).expanduser()
    if not local.is_dir():
        if name_or_path.startswith(("/", "./", "../", "~")) or name_or_path.count("/") > 1:
            raise OSError(f"cannot load student {name_or_path!r}: no such directory")
        try:
            return _dequantized(auto.from_pretrained(name_or_path, local_files_only=True, **kw))
        except (OSError, ValueError):
            pass  # not in the cache: try the hub
        if why := _hub_unreachable():
            raise OSError(f"cannot load student {name_or_path!r}: not a local directory nor in the Hugging Face "
                          f"cache, and {why}")
    try:
        return _dequantized(auto.from_pretrained(str(local) if local.is_dir() else name_or_path, **kw))
    except OSError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise OSError(f"cannot load student {name_or_path!r} (not a local dir, or the hub is not reachable): "
                      f"{first}") from e


def _from_gguf_cache(auto, cache: Path, kw: dict, convert):
    """`auto` loaded from the float copy in `cache`, made by `convert()` (a load from the GGUF file)
    and saved there the first time. A copy that cannot be written (read-only home, full disk) is
    skipped with a warning: the run goes on with what `convert` loaded. A process killed while
    writing leaves a hidden `.PART.*` folder beside the copies, never a copy that looks complete."""
    if (cache / model_files.DONE).exists():
        return auto.from_pretrained(str(cache), **kw)
    obj = convert()
    tmp = None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{cache.name}.", dir=cache.parent))
        obj.save_pretrained(tmp)
        (tmp / model_files.DONE).touch()
        os.replace(tmp, cache)  # another process may have kept its copy first: then this one goes
        tmp = None
        log.info("student: kept the GGUF file's float %s in %s for later loads (%s=off: keep none)",
                 "tokenizer" if auto is AutoTokenizer else "weights", cache, model_files.GGUF_CACHE)
    except Exception as e:  # noqa: BLE001 - the copy only saves time: no failure of it stops the run
        if not (cache / model_files.DONE).exists():
            log.warning("student: could not keep the GGUF file's float copy in %s (%s)", cache, e)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return obj


def _gguf_dequantize(gguf_file: str):
    """Ask transformers to unpack every GGUF tensor at load time: with its GGUF kernels installed it
    would otherwise keep them packed, which can neither train nor be saved."""
    try:
        from transformers import GgufConfig
    except ImportError:  # older transformers 5.x: GGUF always loads dequantized
        return None
    return GgufConfig(gguf_file=gguf_file, dequantize=True)


def _dequantized(obj):
    """A model loaded from GGUF as an ordinary float model: no quantizer left (transformers refuses
    to save a model that still has one: "quantized with gguf and is not serializable")."""
    if not isinstance(obj, PreTrainedModel):
        return obj
    quantizer = getattr(obj, "hf_quantizer", None)
    if quantizer is not None and getattr(quantizer.quantization_config, "quant_method", None) == "gguf":
        quantizer.remove_quantization_config(obj)
    if packed := sorted({str(p.dtype) for p in obj.parameters() if not p.dtype.is_floating_point}):
        raise ValueError(f"the GGUF student kept packed weights ({', '.join(packed)}): it cannot be trained")
    return obj


def seq2seq(corpus: Sequence[str], tokenizer: PreTrainedTokenizerBase | None = None, name_or_path: str = "",
            dtype: str = "float32", gguf_file: str | None = None, **_) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A pretrained encoder-decoder (FLAN-T5, ...); `corpus` is unused: the tokenizer comes with it.
    `tokenizer` is the run's saved copy on resume."""
    tokenizer = tokenizer or _from_pretrained(AutoTokenizer, name_or_path, gguf_file=gguf_file)
    model = _from_pretrained(AutoModelForSeq2SeqLM, name_or_path, dtype, gguf_file)
    if not model.config.is_encoder_decoder:
        raise ValueError(f"{name_or_path!r} is a decoder-only model: use student=causal")
    if tokenizer.eos_token_id is None or tokenizer.pad_token_id is None:
        raise ValueError(f"the tokenizer of {name_or_path!r} needs an EOS and a pad token")
    return model, tokenizer


def causal(corpus: Sequence[str], tokenizer: PreTrainedTokenizerBase | None = None, name_or_path: str = "",
           prompt: str = PROMPT, dtype: str = "float32", gguf_file: str | None = None,
           **_) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A pretrained decoder-only LM (from a checkpoint dir, a hub id, or a GGUF file). Adds a pad
    token if the tokenizer has none (GPT-2, SmolLM2 base) and grows the embeddings to fit; records
    `prompt` and EOS/pad in the model's (generation) config."""
    if "{question}" not in prompt:
        raise ValueError(f"student.model.prompt must contain {{question}}, got {prompt!r}")
    tokenizer = tokenizer or _from_pretrained(AutoTokenizer, name_or_path, gguf_file=gguf_file)
    model = _from_pretrained(AutoModelForCausalLM, name_or_path, dtype, gguf_file)
    if model.config.is_encoder_decoder:
        raise ValueError(f"{name_or_path!r} is an encoder-decoder model: use student=seq2seq")
    if tokenizer.eos_token_id is None:
        raise ValueError(f"the tokenizer of {name_or_path!r} has no EOS token, so generation could not stop")
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": "<pad>"})
        log.info("student %s: the tokenizer has no pad token; added <pad> (id %d) and resized the embeddings",
                 name_or_path, tokenizer.pad_token_id)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:  # also on resume: saved tokenizer has <pad>
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)  # <pad> is never attended nor predicted
    for cfg in (model.config, model.generation_config):
        cfg.pad_token_id, cfg.eos_token_id = tokenizer.pad_token_id, tokenizer.eos_token_id
    model.config.fdd_prompt = prompt
    return model, tokenizer
