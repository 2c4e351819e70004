"""The weight quantization scheme of a recipe, in compressed-tensors' terms, and its checks.

Uniform affine quantization of a group ``g`` of ``group_size`` consecutive input weights of
one output row (the grid GPTQ, AWQ and RTN share), with ``b`` bits and signed integer codes
``q`` in ``[-2^(b-1), 2^(b-1) - 1]`` (compressed-tensors' ``calculate_qparams``):

    symmetric:   s = max|w_g| / ((2^b - 1) / 2),      z = 0
    asymmetric:  s = (max w_g - min w_g) / (2^b - 1),  z = round(-2^(b-1) - min w_g / s)
    q = clamp(round(w / s) + z, -2^(b-1), 2^(b-1) - 1),   w_hat = s * (q - z)

The min-max range is extended to include 0, so a zero weight is always representable
(pruned zeros survive quantization); a group thus holds at most ``2^b`` distinct values.
``group_size=-1`` is one group per output row ("channel" strategy), ``group_size=0`` one group
for the whole weight matrix ("tensor" strategy: a single scale and zero point).

:func:`check_group_sizes` runs before any weight is read: every quantized ``Linear`` must
have an input width divisible by the group size (compressed-tensors cannot store a partial
group, and GPU kernels need whole groups).
"""

from __future__ import annotations

import math
from functools import reduce

import torch

from compressors.recipe import STRATEGIES

__all__ = ["check_group_sizes", "granularity", "kept_dense", "scheme_label", "weight_args"]


def weight_args(recipe) -> dict:
    """Keyword arguments of ``compressed_tensors.quantization.QuantizationArgs`` for the
    weights of ``recipe`` (a quantizing :class:`~compressors.recipe.Recipe`)."""
    strategy = STRATEGIES.get(recipe.group_size, "group")
    args = {
        "num_bits": recipe.bits,
        "type": "int",
        "symmetric": recipe.symmetric,
        "strategy": strategy,
        "group_size": recipe.group_size if strategy == "group" else None,
    }
    if recipe.act_order is not None:
        args["actorder"] = "static" if recipe.act_order else None
    return args


def scheme_label(recipe) -> str:
    """A short name such as ``W4A16 int sym g128`` (``per-channel``, ``per-tensor``)."""
    parts = [f"W{recipe.bits}A16"]
    if recipe.quant_method in ("int8", "nf4"):
        parts.append("LLM.int8" if recipe.quant_method == "int8" else f"nf4 g{recipe.group_size}")
    else:
        parts += ["int", "sym" if recipe.symmetric else "asym",
                  granularity(recipe.group_size)]
        if recipe.act_order:
            parts.append("act-order")
    return " ".join(parts)


def granularity(group_size: int) -> str:
    """``per-tensor``, ``per-channel`` or ``g<size>`` for a recipe's ``group_size``."""
    return f"per-{STRATEGIES[group_size]}" if group_size in STRATEGIES else f"g{group_size}"


def check_group_sizes(linears: dict[str, torch.nn.Module], group_size: int | None) -> None:
    """Raise ValueError naming the first layer whose input width ``group_size`` does not divide,
    with the group sizes that divide every layer."""
    if group_size is None or group_size in STRATEGIES:
        return
    widths = {name: int(module.in_features) for name, module in linears.items()}
    for name, width in widths.items():
        if width % group_size:
            common = reduce(math.gcd, widths.values())
            divisors = [d for d in range(1, common + 1) if common % d == 0]
            raise ValueError(
                f"group_size={group_size} does not divide the input width {width} of {name}: "
                f"allowed -1 (per channel), 0 (per tensor) or a divisor of every quantized layer's width "
                f"({sorted(set(widths.values()))}): {', '.join(map(str, divisors))}"
            )


def kept_dense(model: torch.nn.Module, linears: dict[str, torch.nn.Module]) -> list[str]:
    """Names of the ``Linear`` modules of ``model`` not in ``linears`` (kept in full precision)."""
    return [name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear) and name not in linears]
