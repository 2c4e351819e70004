"""Measured bytes of a loaded model's weights in memory, and of its quantized layers.

Counts every tensor the model holds: parameters and buffers (tied tensors once), plus the
quantization state bitsandbytes keeps beside its weights (``quant_state`` of 4-bit weights:
block absmax, code book and nested scales; ``SCB`` row scales of int8 weights), which are
neither. A layer is quantized when it holds an integer tensor at least as long as its output
rows (packed codes ``weight_packed``/``qweight``, bitsandbytes' int8/uint8 weights, or the
zero points beside a weight that compressed-tensors decompressed on its first forward); its
"bits per weight" are its bytes x 8 over ``in_features x out_features``.

Own code: ``PreTrainedModel.get_memory_footprint`` counts parameters and buffers only (it
misses bitsandbytes' quantization state) and has no per-layer view.
"""

from __future__ import annotations

import torch

__all__ = ["weight_memory"]


def weight_memory(model: torch.nn.Module) -> dict:
    """``{"total_bytes", "quantized_layers", "quantized_weights", "quantized_bytes",
    "quantized_bits_per_weight", "dtypes"}`` of ``model`` as it is now in memory."""
    seen: set[tuple[int, int]] = set()
    total, q_layers, q_weights, q_bytes, dtypes = 0, 0, 0, 0, {}
    for module in model.modules():
        tensors = _own_tensors(module)
        size = 0
        for tensor in tensors:
            key = (tensor.data_ptr(), tensor.nbytes)
            if tensor.device.type == "meta" or key in seen:
                continue
            seen.add(key)
            size += tensor.nbytes
            name = str(tensor.dtype).removeprefix("torch.")
            dtypes[name] = dtypes.get(name, 0) + tensor.nbytes
        total += size
        rows = getattr(module, "out_features", None)
        if rows and any(not t.is_floating_point() and t.numel() >= rows for t in tensors):
            q_layers += 1
            q_weights += int(module.in_features) * int(rows)
            q_bytes += size
    return {
        "total_bytes": total,
        "quantized_layers": q_layers,
        "quantized_weights": q_weights,
        "quantized_bytes": q_bytes,
        "quantized_bits_per_weight": round(8 * q_bytes / q_weights, 3) if q_weights else None,
        "dtypes": dtypes,
    }


def _own_tensors(module: torch.nn.Module) -> list[torch.Tensor]:
    tensors = [t for t in module.parameters(recurse=False)] + [t for t in module.buffers(recurse=False)]
    weight = getattr(module, "weight", None)
    state = getattr(weight, "quant_state", None)
    if state is not None:  # bitsandbytes 4-bit
        tensors += [t for t in state.as_dict(packed=False).values() if isinstance(t, torch.Tensor)]
    scb = getattr(weight, "SCB", None)
    if isinstance(scb, torch.Tensor):  # bitsandbytes int8 row scales
        tensors.append(scb)
    return tensors
