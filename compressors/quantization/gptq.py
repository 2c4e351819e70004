"""GPTQ: one-shot weight quantization with second-order error feedback.

Frantar, Ashkboos, Hoefler & Alistarh, "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers", ICLR 2023 (arXiv:2210.17323). For a layer with weights
``W`` and calibration inputs ``X`` it looks for the quantized ``W_hat`` minimising the layer's
output error (eq. 1)

    argmin_W_hat || W X - W_hat X ||_2^2

one column at a time: after quantizing column ``q`` it updates the not-yet-quantized columns
``F`` by the optimal-brain-surgeon step (eq. 2-3)

    delta_F = - (w_q - quant(w_q)) / [H_F^-1]_qq * (H_F^-1)_{:, q},      H = 2 X X^T,

with all rows sharing one column order (Sec. 4 step 1), lazy updates in blocks of 128
columns (step 2) and the Cholesky form of ``H^-1`` with 1% dampening (step 3, eq. 5). The
grid of each group comes from its min and max before the updates (:mod:`.scheme`).
``act_order`` processes columns by decreasing ``diag(H)`` (the "act-order" of the reference
code, here "static": groups stay consecutive columns, so the checkpoint format is unchanged).

Run by llmcompressor's ``GPTQModifier`` (through :mod:`compressors.llmcompressor_adapter`),
whose ``gptq_quantize.py`` (0.14.0.1) follows the reference ``fasterquant`` (IST-DASLab/gptq):
same Hessian accumulation, dampening, Cholesky inverse, block size and update, and the
sequential layer-by-layer calibration on the outputs of the already quantized layers. On a
pruned model (``method=<pruning>+gptq``) the per-layer kernel is :mod:`.sparse_gptq`, which
keeps the pruned zeros.
"""

from __future__ import annotations

import torch

from compressors.quantization.scheme import kept_dense, weight_args

__all__ = ["BLOCK_SIZE", "DAMPENING", "quantize"]

BLOCK_SIZE = 128
DAMPENING = 0.01


def quantize(model, linears: dict[str, torch.nn.Linear], recipe, calibration: torch.Tensor, *, device, progress=True) -> dict:
    """GPTQ-quantize ``linears`` of ``model`` in place on ``calibration`` tokens, keeping the
    zeros of a pruned model when ``recipe`` prunes first.

    ``progress`` is not used: llmcompressor always draws its own per-layer bars."""
    from compressors.llmcompressor_adapter import quantize_with_modifier

    return quantize_with_modifier(
        model, "gptq", kept_dense(model, linears), weight_args(recipe), calibration,
        device=torch.device(device), keep_zeros=recipe.prune_method is not None,
        block_size=BLOCK_SIZE, dampening_frac=DAMPENING,
    )
