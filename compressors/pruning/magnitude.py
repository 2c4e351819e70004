"""Magnitude pruning: drop the weights of smallest absolute value.

Han, Pool, Tran & Dally, "Learning both Weights and Connections for Efficient Neural
Networks", NeurIPS 2015; the baseline of SparseGPT, Wanda and LLM-KICK. The score of weight
``W_ij`` is

    S_ij = |W_ij|

and the ``round(s * |G|)`` weights of smallest score in each comparison group ``G`` are set
to zero. The group decides which weights compete, and so the result:

* ``scope="layer"`` (default) – the whole matrix of one ``Linear``, one threshold per
  matrix: the LLM-KICK / Wanda reference ``prune_magnitude`` (``|W| <= sorted(|W|)[int(s*n)]``;
  we prune exactly ``round(s*n)`` weights, ties broken by position, where the reference also
  prunes every weight tied with the threshold).
* ``scope="row"`` – each output row (Wanda's group, with |W| alone as the score).
* ``scope="global"`` – every pruned matrix of the model together: one threshold, so layers
  end up with different sparsities (only the total meets the target).
* ``pattern="N:M"`` – the N smallest of every M consecutive inputs of each row.

Own code, not llmcompressor: its ``MagnitudePruningModifier`` (0.14.0.1,
``llmcompressor/modifiers/pruning/magnitude/base.py``) is a training-time modifier: its
masks follow a sparsity schedule and are applied to the weights on optimizer steps (by
default), which a one-shot run never takes; and its mask factory
(``modifiers/pruning/utils/pytorch/mask_factory.py``) knows unstructured, channel, filter
and block masks, no N:M. The work is a few tensor operations per matrix, run on ``device`` one matrix
at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from tqdm.auto import tqdm

from compressors.pruning.masks import mask_below, nm_mask, prune_count, row_mask, smallest_k_threshold

__all__ = ["magnitude_mask", "prune"]


def magnitude_mask(
    weight: torch.Tensor, sparsity: float, *, scope: str = "layer", nm: tuple[int, int] | None = None
) -> torch.Tensor:
    """Mask (True = prune) of one ``(out, in)`` weight matrix for scope ``layer`` or ``row``,
    or for an N:M pattern."""
    scores = weight.detach().abs().float()
    if nm is not None:
        return nm_mask(scores, *nm)
    if scope == "row":
        return row_mask(scores, sparsity)
    if scope == "layer":
        key, ties = smallest_k_threshold(lambda: [scores], prune_count(scores.numel(), sparsity))
        return mask_below(scores, key, ties)[0]
    raise ValueError(f"magnitude_mask handles scope 'layer' or 'row', not {scope!r}")


def prune(model, linears: dict[str, torch.nn.Linear], recipe, calibration=None, *, device, progress=True) -> dict:
    """Zero the weights of ``linears`` in place as ``recipe`` asks (no calibration needed)."""
    device = torch.device(device)
    if recipe.scope == "global":
        _prune_global(linears, recipe.sparsity, device, progress)
    else:
        for name, module in tqdm(linears.items(), desc="magnitude", disable=not progress):
            mask = magnitude_mask(module.weight.to(device), recipe.sparsity, scope=recipe.scope, nm=recipe.nm)
            module.weight.data.masked_fill_(mask.to(module.weight.device), 0)
    return {"engine": "llm-kick magnitude (own code)", "device": str(device)}


def _prune_global(linears: dict[str, torch.nn.Linear], sparsity: float, device, progress: bool) -> None:
    def scores() -> Iterator[torch.Tensor]:
        for module in linears.values():
            yield module.weight.detach().to(device).abs()

    total = sum(module.weight.numel() for module in linears.values())
    key, ties = smallest_k_threshold(scores, prune_count(total, sparsity))
    for module in tqdm(linears.values(), desc="magnitude (global)", disable=not progress):
        mask, ties = mask_below(module.weight.detach().to(device).abs(), key, ties)
        module.weight.data.masked_fill_(mask.to(module.weight.device), 0)
