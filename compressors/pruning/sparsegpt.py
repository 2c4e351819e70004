"""SparseGPT: one-shot pruning with optimal-brain-surgeon weight updates.

Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be Accurately Pruned in
One-Shot", ICML 2023 (arXiv:2301.00774). For a layer with weights ``W`` and calibration
inputs ``X`` it minimises the reconstruction error ``||W X - W' X||_2^2`` over sparse ``W'``.
With the Hessian ``H = 2 X X^T + lambda I`` (``lambda`` = 1% of its mean diagonal), the
columns are processed left to right in blocks of ``B = 128``:

* mask selection (adaptive, per block): the OBS saliency of weight ``w_ij``,

      eps_ij = w_ij^2 / [H^-1]_jj^2

  (``H^-1`` taken as the upper Cholesky factor of the inverse, the paper's Algorithm 1) is
  compared over the whole block of 128 input columns, all rows together, and the lowest
  ``s`` fraction is pruned; N:M picks the N lowest of every M consecutive inputs of a row;
* weight update: pruning column j shifts the not-yet-processed columns by
  ``-(w_j - w'_j) / [H^-1]_jj * [H^-1]_{j, j:}`` (OBS), so the remaining weights compensate.

The comparison group is therefore the column block (``scope="block"``), not the row.

Run by llmcompressor's ``SparseGPTModifier`` (through :mod:`compressors.llmcompressor_adapter`),
whose ``sgpt_sparsify.py`` (0.14.0.1) is the reference implementation (IST-DASLab/sparsegpt
``fasterprune``) line for line: same Hessian accumulation, dampening, Cholesky inverse,
block size, saliency threshold ``sort(eps)[int(s * numel)]`` per block, and N:M groups along
the input dimension. We use the paper's settings: ``block_size=128``, ``dampening_frac=0.01``.
"""

from __future__ import annotations

import torch

__all__ = ["BLOCK_SIZE", "DAMPENING", "prune"]

BLOCK_SIZE = 128
DAMPENING = 0.01


def prune(model, linears: dict[str, torch.nn.Linear], recipe, calibration: torch.Tensor, *, device, progress=True) -> dict:
    """Prune ``linears`` of ``model`` in place with SparseGPT on ``calibration`` tokens.

    ``progress`` is not used: llmcompressor always draws its own per-layer bars."""
    from compressors.llmcompressor_adapter import prune_with_modifier

    return prune_with_modifier(
        model, "sparsegpt", list(linears), recipe.sparsity, recipe.nm, calibration,
        device=torch.device(device),
        block_size=BLOCK_SIZE, dampening_frac=DAMPENING,
    )
