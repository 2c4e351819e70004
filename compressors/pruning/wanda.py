"""Wanda: pruning by weights and activations.

Sun, Liu, Bair & Kolter, "A Simple and Effective Pruning Approach for Large Language
Models", ICLR 2024 (arXiv:2306.11695). The score of weight ``W_ij`` (output i, input j) is

    S_ij = |W_ij| * ||X_j||_2

where ``X_j`` is the j-th input feature over all ``N * L`` calibration tokens reaching the
layer. Weights are compared within each output row: every row loses its ``floor(s * C_in)``
lowest-scoring weights (N:M: the N lowest of every M consecutive inputs of the row). No
weight update. Layers are pruned in order, each calibrated on the outputs of the already
pruned layers before it.

Run by llmcompressor's ``WandaPruningModifier`` (:func:`modifier_class`, through
:func:`compressors.llmcompressor_adapter.run_oneshot`), whose solver implements this rule
faithfully (checked in ``llmcompressor/modifiers/pruning/wanda/wanda_sparsify.py`` 0.14.0.1,
and against an independent implementation in ``tests/test_pruning_methods.py``):

* it accumulates ``mean_n ||X_j||^2`` over calibration samples and scores
  ``|W| * sqrt(.)`` – the paper's score divided by the constant ``sqrt(N)``, so every row
  ranks its weights identically;
* unstructured: a stable sort of each row, the first ``int(C_in * s)`` pruned (the reference);
* N:M: ``topk(N, largest=False)`` over ``W[:, i:i+M]``, i.e. along the input dimension;
* sequential layer-by-layer calibration with pruned outputs propagated, as the reference.
"""

from __future__ import annotations

from functools import cache

import torch

__all__ = ["modifier_class", "prune"]


def prune(model, linears: dict[str, torch.nn.Linear], recipe, calibration: torch.Tensor, *, device, progress=True) -> dict:
    """Prune ``linears`` of ``model`` in place with Wanda on ``calibration`` tokens.

    ``progress``: a bar over the decoder layers (:func:`~compressors.llmcompressor_adapter.run_oneshot`)."""
    from compressors.llmcompressor_adapter import pruning_targets, run_pruning

    modifier = modifier_class()(sparsity=recipe.sparsity, **pruning_targets(list(linears), recipe.nm))
    return run_pruning(model, modifier, calibration, torch.device(device), progress=progress)


@cache
def modifier_class() -> type:
    """llmcompressor's ``WandaPruningModifier`` with its own solver, in the loop of
    :class:`~compressors.llmcompressor_adapter.PerWeightPruning` (which counts the zeros), and
    one ``||X_j||^2`` accumulation per distinct input
    (:class:`~compressors.hessians.SharedInputStatistics`; the solver reads it without changing
    it). Built on first use: importing llmcompressor takes seconds."""
    import llmcompressor.modifiers.pruning.wanda.wanda_sparsify as wanda_sparsify
    from llmcompressor.modifiers.pruning import WandaPruningModifier

    from compressors.hessians import SharedInputStatistics
    from compressors.llmcompressor_adapter import PerWeightPruning

    class WandaCountingZeros(SharedInputStatistics, PerWeightPruning, WandaPruningModifier):
        statistics = "_row_scalars"

        def solve(self, module, sparsity):
            return None, wanda_sparsify.sparsify_weight(
                module=module, row_scalars_dict=self._row_scalars, sparsity=sparsity,
                prune_n=self._prune_n, prune_m=self._prune_m,
            )

    return WandaCountingZeros
