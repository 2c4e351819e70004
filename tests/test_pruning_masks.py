"""Shared mask selection against plain sort-based selection, ties included."""

from __future__ import annotations

import pytest
import torch

from compressors.pruning.magnitude import magnitude_mask
from compressors.pruning.masks import mask_below, nm_mask, prune_count, row_mask, smallest_k_threshold


def _plain_smallest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The k smallest, ties to the lower flat index: a stable sort, first k."""
    mask = torch.zeros(scores.numel(), dtype=torch.bool)
    mask[torch.argsort(scores.flatten(), stable=True)[:k]] = True
    return mask.reshape(scores.shape)


def _tied_scores(shape, seed=0) -> torch.Tensor:
    """bf16-rounded magnitudes: many exact ties, as in real bf16 checkpoints."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator).mul(0.02).to(torch.bfloat16).abs().float()


@pytest.mark.parametrize("k", [0, 1, 37, 2048, 4095, 4096])
def test_smallest_k_over_one_tensor_matches_a_stable_sort(k):
    scores = _tied_scores((64, 64))
    assert scores.unique().numel() < scores.numel() // 4  # ties are everywhere
    key, ties = smallest_k_threshold(lambda: [scores], k)
    mask, left = mask_below(scores, key, ties)
    assert left == 0 and int(mask.sum()) == k
    assert torch.equal(mask, _plain_smallest(scores, k))


def test_smallest_k_over_many_tensors_matches_sorting_their_concatenation():
    tensors = [_tied_scores(shape, seed) for seed, shape in enumerate([(32, 48), (17, 5), (64, 64), (8, 128)])]
    total = sum(t.numel() for t in tensors)
    k = prune_count(total, 0.37)
    key, ties = smallest_k_threshold(lambda: iter(tensors), k)
    masks = []
    for tensor in tensors:
        mask, ties = mask_below(tensor, key, ties)
        masks.append(mask.flatten())
    expected = _plain_smallest(torch.cat([t.flatten() for t in tensors]), k)
    assert ties == 0 and torch.equal(torch.cat(masks), expected)


def test_smallest_k_rejects_negative_scores_and_too_large_k():
    with pytest.raises(ValueError, match="non-negative"):
        smallest_k_threshold(lambda: [torch.tensor([-1.0, 2.0])], 1)
    with pytest.raises(ValueError, match="cannot prune 3 of 2"):
        smallest_k_threshold(lambda: [torch.tensor([1.0, 2.0])], 3)


@pytest.mark.parametrize("sparsity", [0.25, 0.3, 0.5, 0.9])
def test_row_mask_prunes_the_smallest_of_every_row(sparsity):
    scores = _tied_scores((16, 40), seed=3)
    mask = row_mask(scores, sparsity)
    k = prune_count(40, sparsity)
    for row in range(16):
        assert torch.equal(mask[row], _plain_smallest(scores[row], k))


@pytest.mark.parametrize("n, m", [(1, 2), (2, 4), (4, 8), (3, 4)])
def test_nm_mask_prunes_n_smallest_of_every_m_consecutive_inputs(n, m):
    scores = _tied_scores((12, 32), seed=4)
    mask = nm_mask(scores, n, m)
    for row in range(12):
        for start in range(0, 32, m):
            group = scores[row, start : start + m]
            assert torch.equal(mask[row, start : start + m], _plain_smallest(group, n))


def test_nm_mask_needs_whole_groups():
    with pytest.raises(ValueError, match="not a multiple of M=4"):
        nm_mask(torch.rand(2, 6), 2, 4)


def test_prune_count_rounds_to_nearest():
    assert [prune_count(10, s) for s in (0.0, 0.24, 0.25, 0.29, 0.5, 0.99)] == [0, 2, 3, 3, 5, 10]


def test_magnitude_mask_layer_scope_is_exact_on_bf16_ties():
    """The reference's `|W| <= sorted[int(s*n)]` overshoots on ties; ours prunes exactly."""
    weight = torch.randn(96, 96, generator=torch.Generator().manual_seed(7)).mul(0.02).to(torch.bfloat16)
    mask = magnitude_mask(weight, 0.5)
    assert int(mask.sum()) == prune_count(weight.numel(), 0.5)
    threshold = weight.abs().float().flatten().sort().values[int(weight.numel() * 0.5)]
    assert int((weight.abs().float() <= threshold).sum()) > int(mask.sum())  # the reference's overshoot
