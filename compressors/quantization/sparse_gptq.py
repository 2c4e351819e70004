"""GPTQ that keeps the zeros of a pruned weight matrix (joint sparsification and quantization).

GPTQ (Frantar, Ashkboos, Hoefler & Alistarh, "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers", ICLR 2023, Algorithm 1) quantizes the columns of a layer's
weights ``W`` one at a time. After column ``q`` it moves the columns ``F`` not yet quantized so
that the layer output on the calibration inputs ``X`` changes least (the OBS update, eq. 2-3):

    delta_F = - (w_q - quant(w_q)) / [H_F^-1]_qq * (H_F^-1)_{:, q},     H = 2 X X^T

using the rows of the upper Cholesky factor of ``(H + lambda I)^-1`` (eq. 5, "Cholesky
reformulation"; ``lambda`` = ``percdamp`` times the mean of ``diag(H)``) and blocks of 128
columns whose updates to later columns are applied at once ("lazy batch updates").

A pruned weight must stay zero, so its column's quantized value is 0 rather than the nearest
grid point, and the same update spreads the error over the later columns. This is SparseGPT's
joint sparsification and quantization (Frantar & Alistarh, ICML 2023, Algorithm 1 with its
quantizer; reference ``fasterprune``: ``q[mask] = 0; q = quantize(q)``) with the mask fixed by
the pruning step. Updates of earlier columns may make a pruned weight non-zero; its own column
sets it back to 0 with compensation. The grid always holds 0 (:mod:`.scheme`), so the result
keeps exactly the pruned mask and holds only grid values.

With ``actorder`` ("static"/"weight") columns are processed in order of decreasing
``diag(H)`` and each column keeps the scale of its group of consecutive original columns.

Own code because llmcompressor 0.14.0.1's GPTQ has no sparsity-preserving path: its
``GPTQModifier`` after SparseGPT makes pruned weights non-zero again, so a 2:4 pattern is lost
(tests/test_quant_gptq.py shows it). :func:`compressors.quantization.gptq.keeping_zeros_class`
runs this function in place of llmcompressor's per-layer GPTQ kernel: Hessians, observers
(scale and zero point), the sequential pipeline and the checkpoint format stay llmcompressor's
and compressed-tensors'.
"""

from __future__ import annotations

from copy import copy

import torch
from compressed_tensors.quantization import (
    QuantizationArgs,
    QuantizationStrategy,
    fake_quantize,
)

__all__ = ["column_groups", "quantize_keeping_zeros"]


def column_groups(columns: int, args: QuantizationArgs) -> torch.Tensor:
    """Index of the scale each input column uses: ``j // group_size``, or 0 per channel and
    per tensor."""
    if args.strategy in (QuantizationStrategy.CHANNEL, QuantizationStrategy.TENSOR):
        return torch.zeros(columns, dtype=torch.long)
    if args.strategy != QuantizationStrategy.GROUP:
        raise ValueError(f"keeping zeros supports group, channel and tensor strategies, not {args.strategy}")
    return torch.arange(columns) // args.group_size


def _inverse_cholesky(hessian: torch.Tensor, percdamp: float) -> tuple[torch.Tensor, bool]:
    """Upper Cholesky factor of ``(H + lambda I)^-1``; identity (plain rounding) if ``H`` is
    not positive definite even dampened, as llmcompressor falls back."""
    damped = hessian.clone()
    damped.diagonal().add_(percdamp * torch.mean(torch.diag(hessian)))
    factor, info = torch.linalg.cholesky_ex(damped)
    if int(info) != 0:
        return torch.eye(hessian.shape[0], dtype=hessian.dtype, device=hessian.device), True
    return torch.linalg.cholesky(torch.cholesky_inverse(factor), upper=True), False


def quantize_keeping_zeros(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    scale: torch.Tensor,
    zero_point: torch.Tensor | None,
    args: QuantizationArgs,
    *,
    blocksize: int = 128,
    percdamp: float = 0.01,
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """GPTQ-quantize ``weight`` (rows, columns) with its exact zeros kept zero.

    ``hessian``: (columns, columns) ``2 X X^T / n``; ``scale``/``zero_point``: (rows, groups)
    from the observer (``zero_point`` unused when ``args.symmetric``). Returns the quantized
    weight (dequantized values, ``weight``'s dtype), the GPTQ loss ``sum (w - q)^2 / d^2 / 2``
    and whether the Hessian could not be factorised (plain rounding was used).
    """
    W = weight.detach().to(torch.float32).clone()
    H = hessian.detach().to(torch.float32).clone()
    columns = W.shape[1]
    pruned = W == 0
    dead = torch.diag(H) == 0  # inputs never active: any weight value is free
    H[dead, dead] = 1
    W[:, dead] = 0
    groups = column_groups(columns, args).to(W.device)
    perm = None
    if args.actorder is not None:
        perm = torch.argsort(torch.diag(H), descending=True)
        W, H, pruned, groups = W[:, perm], H[perm][:, perm], pruned[:, perm], groups[perm]
    Hinv, fell_back = _inverse_cholesky(H, percdamp)

    column_args = copy(args)
    column_args.strategy = QuantizationStrategy.CHANNEL  # one column, one scale per row
    scale = scale.to(torch.float32)
    zero_point = None if args.symmetric or zero_point is None else zero_point
    if args.strategy == QuantizationStrategy.TENSOR:  # one value for the matrix: one per row here
        scale = scale.reshape(1, 1).expand(W.shape[0], 1)
        zero_point = None if zero_point is None else zero_point.reshape(1, 1).expand(W.shape[0], 1)
    Q = torch.zeros_like(W)
    loss = torch.zeros((), dtype=torch.float32, device=W.device)
    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        W1, Hinv1 = W[:, i1:i2].clone(), Hinv[i1:i2, i1:i2]
        Err1 = torch.zeros_like(W1)
        for i in range(i2 - i1):
            w, g = W1[:, i], groups[i1 + i]
            q = fake_quantize(
                w.unsqueeze(1), scale[:, g : g + 1],
                None if zero_point is None else zero_point[:, g : g + 1], column_args,
            ).squeeze(1)
            q = torch.where(pruned[:, i1 + i], torch.zeros_like(q), q)
            Q[:, i1 + i] = q
            err = (w - q) / Hinv1[i, i]
            loss += err.square().sum() / 2
            W1[:, i:] -= err.unsqueeze(1) * Hinv1[i, i:].unsqueeze(0)
            Err1[:, i] = err
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    if perm is not None:
        Q = Q[:, torch.argsort(perm)]
    return Q.to(weight.dtype), loss, fell_back
