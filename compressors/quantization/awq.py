"""AWQ: activation-aware weight quantization.

Lin, Tang, Tang, Yang, Chen, Wang, Xiao, Dang, Gan & Han, "AWQ: Activation-aware Weight
Quantization for On-Device LLM Compression and Acceleration", MLSys 2024 (arXiv:2306.00978).
A few input channels carry large activations and matter most; scaling such a channel's
weights up by ``s_j`` (and its input down by ``1/s_j``, folded into the preceding norm or
linear layer) shrinks its relative rounding error. Per group of layers sharing an input, AWQ
searches the scale (eq. 4-5)

    s = s_X^alpha,   alpha* = argmin_alpha || Q(W diag(s)) (diag(s)^-1 X) - W X ||

over a grid of ``alpha`` in [0, 1), where ``s_X`` is the mean activation magnitude per input
channel; we keep llmcompressor's default "duo scaling" ``s = s_X^alpha / s_W^(1-alpha)``
(``s_W``: mean weight magnitude per channel, as AutoAWQ does). It then rounds to nearest
onto an asymmetric 4-bit grid with groups of 128 (the paper's setting, our default). Scaling
maps a zero weight to zero, so ``<pruning>+awq`` keeps the pruned mask.

Run by llmcompressor's ``AWQModifier`` (``llmcompressor.modifiers.transform.awq``: the scale
search) followed by its ``QuantizationModifier`` (the rounding), through
:func:`compressors.llmcompressor_adapter.run_oneshot`. It needs a CUDA GPU: llmcompressor 0.14.0.1 pins
AWQ's cached activations to page-locked memory (``IntermediatesCache.pin_memory`` in
``llmcompressor/pipelines/cache.py``), which fails on the CPU with "Cannot access accelerator
device when none is available"; :func:`check_device` says so before any work.
"""

from __future__ import annotations

import torch

from compressors.quantization.scheme import kept_dense, weight_args

__all__ = ["check_device", "quantize"]


def check_device(device: str | torch.device) -> None:
    """ValueError unless ``device`` is a CUDA device (llmcompressor's AWQ needs one)."""
    if torch.device(device).type != "cuda":
        raise ValueError(
            f"method=awq needs a CUDA GPU, not {torch.device(device)}: llmcompressor 0.14.0.1 pins "
            "AWQ's cached activations to page-locked memory, which fails without an accelerator; "
            "run it on a machine with a CUDA device (compress_device=cuda), or use gptq / rtn on the CPU"
        )


def quantize(model, linears: dict[str, torch.nn.Linear], recipe, calibration: torch.Tensor, *, device, progress=True) -> dict:
    """AWQ-quantize ``linears`` of ``model`` in place on ``calibration`` tokens (CUDA only).

    ``progress``: a bar over the decoder layers (:func:`~compressors.llmcompressor_adapter.run_oneshot`)."""
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from llmcompressor.modifiers.transform.awq import AWQModifier

    from compressors.llmcompressor_adapter import run_quantization, weight_quantization

    check_device(device)
    options = {"duo_scaling": True}
    quantizer = weight_quantization(weight_args(recipe), kept_dense(model, linears))
    modifiers = [AWQModifier(**options), QuantizationModifier(**quantizer)]
    # the QuantizationModifier fake-quantizes in forward only: freeze writes the grid values
    return run_quantization(model, modifiers, quantizer, calibration, torch.device(device), freeze=True, options=options,
                            progress=progress)
