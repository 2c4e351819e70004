"""Counting a compressed model's zeros: per-weight counts, the N:M group check, and the sparsity
report built from them. Shared by pruning, the quantization levels check and the llmcompressor
adapter, so it sits beside them rather than inside one. ``compressors.api.measured_sparsity``
scans a model's weights; the adapter counts each weight on the accelerator as the pruning solver
returns it, which saves a second pass over a large model's CPU-resident weights."""

from __future__ import annotations

import torch

__all__ = ["LayerZeros", "counting_device", "layer_zeros", "settled", "sparsity_report"]

# (zeros, elements, every N:M group holds N zeros: None without a pattern), per weight
LayerZeros = tuple[int, int, "bool | None"]


def _zero_test_view(weight: torch.Tensor) -> torch.Tensor:
    """A tensor that is 0 exactly where ``weight`` is ±0: for 16-bit floats their bits shifted
    past the sign (integer work, about 3x faster than ``weight == 0`` on the CPU)."""
    if weight.dtype in (torch.bfloat16, torch.float16):
        return weight.view(torch.int16) << 1
    return weight


def counting_device(device: torch.device | None, tensor: torch.Tensor) -> torch.device:
    """Where to count ``tensor``: the accelerator ``device``, or where it is (``device``
    ``None`` or the CPU)."""
    return device if device is not None and device.type != "cpu" else tensor.device


def layer_zeros(weight: torch.Tensor, nm: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(zeros, nm_ok)`` of one weight as tensors on its device (no synchronisation): the
    count of exact zeros, and for an N:M pattern whether every group of M consecutive inputs
    of every row holds at least N zeros (``None`` without a pattern)."""
    weight = weight.detach()
    zeros = weight.numel() - torch.count_nonzero(_zero_test_view(weight))
    if nm is None:
        return zeros, None
    n, m = nm
    if weight.shape[1] % m:
        return zeros, torch.tensor(False)
    return zeros, ((weight == 0).reshape(weight.shape[0], -1, m).sum(dim=2) >= n).all()


def settled(zeros: torch.Tensor, nm_ok: torch.Tensor | None, numel: int) -> LayerZeros:
    """:func:`layer_zeros`' tensors as plain numbers (this synchronises with their device)."""
    return int(zeros), numel, None if nm_ok is None else bool(nm_ok)


def sparsity_report(layers: dict[str, LayerZeros], recipe) -> dict:
    """Fraction of zero weights per layer and overall (``overall`` counts zeros over all
    weights; ``min``/``mean``/``max`` are over layers); for an N:M pattern, ``nm_groups_ok``
    per layer and in all."""
    fractions = {name: zeros / numel for name, (zeros, numel, _) in layers.items()}
    zeros = sum(z for z, _, _ in layers.values())
    total = sum(n for _, n, _ in layers.values())
    values = list(fractions.values())
    report = {
        "overall": zeros / total if total else 0.0,
        "min": min(values, default=0.0),
        "mean": sum(values) / len(values) if values else 0.0,
        "max": max(values, default=0.0),
        "target": recipe.sparsity,
        "pattern": recipe.pattern,
        "scope": recipe.scope,
        "layers": fractions,
    }
    if recipe.nm is not None:
        per_layer = {name: bool(ok) for name, (_, _, ok) in layers.items()}
        report["nm_groups_ok"] = all(per_layer.values())
        report["nm_groups_ok_per_layer"] = per_layer
    return report
