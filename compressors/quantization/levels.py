"""Which integer levels the quantized weights really hold: a measured check of the grid.

For every module that compressed-tensors quantizes (a ``quantization_scheme`` with weights and
a ``weight_scale``), the integer code of each weight ``w`` of group ``g`` is

    q = w / s_g + z_g

(:mod:`.scheme`): it must be an integer in ``[-2^(b-1), 2^(b-1) - 1]``, and a group (a run of
``group_size`` weights of a row, a row per channel, the whole matrix per tensor) holds at most
``2^b`` distinct values. Measured on the weights in memory after compression (which
hold the dequantized grid values), so a wrong scale, a lost zero point or an off-grid update
shows up in the report rather than in a score.
"""

from __future__ import annotations

import torch

__all__ = ["check_levels"]


@torch.no_grad()
def check_levels(model: torch.nn.Module, device: str | torch.device | None = None,
                 nm: tuple[int, int] | None = None) -> tuple[dict, dict]:
    """``(report, zeros)``: ``report`` = ``{"layers", "levels_ok", "max_levels_per_group",
    "allowed_levels", "max_off_grid", "bad_layers"}`` over the quantized modules of ``model``
    (``layers`` 0: none quantized); ``zeros`` = ``{name: (zeros, elements, nm_ok)}`` of the
    same weights (:func:`compressors.zeros.layer_zeros`, ``nm`` the pattern to check),
    counted in the same pass so that the sparsity report needs no second one.

    ``device``: an accelerator to check on, one module at a time (the float copy, division
    and per-group sort of a 7B model's weights take about 2 s per decoder layer on the CPU,
    milliseconds on a GPU); ``None`` or the CPU checks where the weights are. A weight crosses
    to the accelerator in its own dtype and is widened there."""
    from compressors.zeros import counting_device, layer_zeros, settled

    device = torch.device(device) if device is not None else None
    layers, bad, most, allowed, off_grid = 0, [], 0, 0, 0.0
    zeros = {}
    for name, module in model.named_modules():
        scheme = getattr(module, "quantization_scheme", None)
        if scheme is None or scheme.weights is None or not hasattr(module, "weight_scale"):
            continue
        args = scheme.weights
        target = counting_device(device, module.weight)
        stored = module.weight.detach().to(target)
        count, nm_ok = layer_zeros(stored, nm)
        weight = stored.float()
        groups = _groups(weight, args)
        scale = module.weight_scale.detach().to(target).float().reshape(groups.shape[0], -1, 1)
        codes = torch.where(scale > 0, groups / scale.clamp_min(torch.finfo(torch.float32).tiny), 0.0)
        zero_point = getattr(module, "weight_zero_point", None)
        if zero_point is not None and not args.symmetric:
            codes = codes + zero_point.detach().to(target).float().reshape(groups.shape[0], -1, 1)
        rounded = codes.round()
        low, high = -(2 ** (args.num_bits - 1)), 2 ** (args.num_bits - 1) - 1
        ordered = groups.sort(dim=-1).values
        distinct = int((1 + (ordered[..., 1:] != ordered[..., :-1]).sum(-1)).max())
        layers += 1
        most, allowed = max(most, distinct), max(allowed, 2**args.num_bits)
        off_grid = max(off_grid, float((codes - rounded).abs().max()))
        if distinct > 2**args.num_bits or rounded.min() < low or rounded.max() > high:
            bad.append(name)
        zeros[name] = settled(count, nm_ok, stored.numel())
    report = {
        "layers": layers,
        "levels_ok": layers > 0 and not bad,
        "max_levels_per_group": most,
        "allowed_levels": allowed,
        "max_off_grid": off_grid,
        "bad_layers": bad,
    }
    return report, zeros


def _groups(weight: torch.Tensor, args) -> torch.Tensor:
    """``weight`` (rows, columns) as (scale rows, groups per row, group size): one group per
    row for the channel strategy, one for the whole matrix for the tensor strategy."""
    rows, columns = weight.shape
    if args.strategy == "tensor":  # QuantizationStrategy is a str enum
        return weight.reshape(1, 1, rows * columns)
    size = columns if args.group_size in (None, -1) else args.group_size
    return weight.reshape(rows, columns // size, size)
