"""How well training uses the device: tokens per second and model FLOPs utilisation (MFU).

MFU = training FLOPs / (seconds × devices × peak FLOPs), training FLOPs ≈ 6 × parameters × tokens
(forward 2, backward 4 per parameter and token). Parameters exclude the input embeddings (a lookup,
no multiply; a tied output head is counted once, as the head). An encoder-decoder is counted
honestly: a source token passes the encoder only and a target token the decoder (and head) only,
so its FLOPs are 6 × (encoder × source tokens + decoder × target tokens), about half of what 6 × all
parameters × all tokens would claim. The peak is the GPU's dense bf16 tensor throughput, looked up
by its name, or `peak_tflops` when given.
"""

from __future__ import annotations

import torch

# dense bf16 (fp16 on V100 / T4) tensor-core peaks in TFLOP/s, matched against the device name
PEAK_TFLOPS = (("H200", 989.4), ("H100 PCIe", 756.0), ("H100", 989.4), ("A100", 312.0), ("L40S", 362.1),
               ("L40", 181.0), ("L4", 121.0), ("A10G", 70.0), ("A10", 125.0), ("RTX 4090", 165.2),
               ("RTX 3090", 71.0), ("V100", 125.0), ("T4", 65.0))


def _params(module: torch.nn.Module | None, skip: set[int]) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters() if id(p) not in skip)


def training_flops(model, source_tokens: int, target_tokens: int) -> float:
    """FLOPs of training on these tokens (see the module docstring)."""
    embeddings = {id(p) for p in model.get_input_embeddings().parameters()}
    head = model.get_output_embeddings()
    head_params = _params(head, set()) if head is not None else 0
    if model.config.is_encoder_decoder:
        encoder = _params(model.get_encoder(), embeddings)
        decoder = _params(model.get_decoder(), embeddings) + head_params
        return 6.0 * (encoder * source_tokens + decoder * target_tokens)
    body = sum(p.numel() for p in model.parameters() if id(p) not in embeddings)
    tied = head is not None and any(id(p) in embeddings for p in head.parameters())
    return 6.0 * (body + (head_params if tied else 0)) * (source_tokens + target_tokens)


def peak_flops(device: torch.device, peak_tflops: float | None = None) -> float | None:
    """The device's peak FLOP/s: `peak_tflops` if given, else by GPU name; None when unknown (CPU)."""
    if peak_tflops:
        return float(peak_tflops) * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tf * 1e12 for key, tf in PEAK_TFLOPS if key in name), None)


def throughput(model, report: dict, seconds: float, device: torch.device, world: int = 1,
               peak_tflops: float | None = None) -> dict:
    """{"seconds", "tokens_per_s"[, "mfu"]} for a round's training report (fdd/student/training.py)."""
    out = {"seconds": round(seconds, 2),
           "tokens_per_s": round(report.get("tokens", 0) / seconds, 1) if seconds > 0 else 0.0}
    peak = peak_flops(device, peak_tflops)
    if peak and seconds > 0:
        flops = training_flops(model, report.get("source_tokens", 0), report.get("target_tokens", 0))
        out["mfu"] = round(flops / (seconds * peak * max(1, world)), 4)
    return out
