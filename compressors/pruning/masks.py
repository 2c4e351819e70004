"""Mask selection shared by the pruning methods: which scores are the smallest in a group.

A mask is a boolean tensor shaped like the weight, ``True`` where the weight is pruned.
Comparison groups:

* :func:`smallest_k_threshold` + :func:`mask_below` – the ``k`` smallest scores over one
  matrix (magnitude ``scope="layer"``) or over many (``scope="global"``), exactly: a two-pass
  radix select on the float bit patterns finds the k-th smallest score without sorting or
  concatenating all scores (a 70B model's weights never have to sit in one tensor).
* :func:`row_mask` – the ``k`` smallest scores of every output row (Wanda's group).
* :func:`nm_mask` – the ``N`` smallest of every ``M`` consecutive inputs of each row.

Ties are broken by position: the earlier element (flat index, then tensor order) is pruned
first, so every mask is a deterministic function of the scores. This matters for bf16
weights, whose 65,536 values put many equal magnitudes at any threshold: the LLM-KICK
reference's ``|W| <= sorted(|W|)[int(s*n)]`` prunes every tie and so overshoots the target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

__all__ = ["mask_below", "nm_mask", "prune_count", "row_mask", "smallest_k_threshold"]

_HIGH_BINS = 1 << 15  # bit patterns of non-negative float32: sign bit 0, so 15 high bits
_LOW_BINS = 1 << 16


def prune_count(total: int, sparsity: float) -> int:
    """How many of ``total`` weights to prune: the nearest integer to ``sparsity * total``."""
    return min(total, math.floor(sparsity * total + 0.5))


def _keys(scores: torch.Tensor) -> torch.Tensor:
    """int32 keys ordered like the (non-negative) float scores: IEEE-754 bit patterns of
    non-negative floats sort as integers."""
    return scores.detach().to(torch.float32).contiguous().view(torch.int32).reshape(-1)


def smallest_k_threshold(scores: Callable[[], Iterable[torch.Tensor]], k: int) -> tuple[int, int]:
    """The key of the k-th smallest score over all tensors that ``scores()`` yields, and how
    many scores equal to it are among the k smallest (pruned in position order).

    ``scores`` is called twice (one pass per 16-bit half of the key), so tensors can be
    produced one at a time on any device. Scores must be non-negative.
    """
    if k <= 0:
        return 0, 0  # no key is below 0: nothing is pruned
    high = torch.zeros(_HIGH_BINS, dtype=torch.int64)
    total = 0
    for tensor in scores():
        keys = _keys(tensor)
        if keys.numel() and int(keys.min()) < 0:
            raise ValueError("smallest_k_threshold needs non-negative scores")
        total += keys.numel()
        high += torch.bincount((keys >> 16).long(), minlength=_HIGH_BINS).cpu()
    if k > total:
        raise ValueError(f"cannot prune {k} of {total} scores")
    cumulative = high.cumsum(0)
    high_bin = int(torch.searchsorted(cumulative, k))
    below = int(cumulative[high_bin - 1]) if high_bin else 0

    low = torch.zeros(_LOW_BINS, dtype=torch.int64)
    for tensor in scores():
        keys = _keys(tensor)
        keys = keys[(keys >> 16) == high_bin]
        low += torch.bincount((keys & 0xFFFF).long(), minlength=_LOW_BINS).cpu()
    cumulative = low.cumsum(0)
    low_bin = int(torch.searchsorted(cumulative, k - below))
    below += int(cumulative[low_bin - 1]) if low_bin else 0
    return (high_bin << 16) | low_bin, k - below


def mask_below(scores: torch.Tensor, key: int, ties: int) -> tuple[torch.Tensor, int]:
    """Mask of the scores below ``key`` plus the first ``ties`` scores equal to it; returns
    the mask and the ties still to prune in the next tensors."""
    keys = _keys(scores)
    mask = keys < key
    if ties > 0:
        equal = torch.nonzero(keys == key).reshape(-1)[:ties]
        mask[equal] = True
        ties -= equal.numel()
    return mask.reshape(scores.shape), ties


def row_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """The ``prune_count(columns, sparsity)`` smallest scores of each row."""
    k = prune_count(scores.shape[1], sparsity)
    order = torch.argsort(scores, dim=1, stable=True)[:, :k]
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(1, order, True)


def nm_mask(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """The ``n`` smallest scores in each group of ``m`` consecutive columns of each row."""
    rows, columns = scores.shape
    if columns % m:
        raise ValueError(f"{columns} columns are not a multiple of M={m}")
    groups = scores.reshape(rows, columns // m, m)
    order = torch.argsort(groups, dim=2, stable=True)[:, :, :n]
    return torch.zeros_like(groups, dtype=torch.bool).scatter_(2, order, True).reshape(rows, columns)
