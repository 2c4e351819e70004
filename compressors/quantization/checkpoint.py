"""Write a model quantized by llmcompressor as a compressed-tensors checkpoint.

The integer codes are packed (``pack-quantized``: ``32 / bits`` codes per int32, with
``weight_scale``, ``weight_zero_point`` for asymmetric grids, ``weight_shape``) and
``config.json`` gets a ``quantization_config`` (``quant_method: compressed-tensors``) that
transformers and vLLM read. These are the calls llmcompressor's ``save_pretrained(...,
save_compressed=True)`` wrapper makes (``ModelCompressor.from_pretrained_model``,
``compress_model``, ``save_pretrained``, ``update_config``), made directly: that wrapper also
writes the llmcompressor session's recipe, which :mod:`compressors.llmcompressor_adapter`
has reset by then (our recipe is in ``kick_recipe.json``).

Packing happens in place: afterwards the model holds packed codes, and compressed-tensors
decompresses a layer on its first forward, as it does for a loaded checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["is_quantized", "save_compressed"]


def is_quantized(model: torch.nn.Module) -> bool:
    """True if compressed-tensors quantizes some module's weights (as llmcompressor leaves them)."""
    return any(
        getattr(getattr(module, "quantization_scheme", None), "weights", None) is not None
        for module in model.modules()
    )


def save_compressed(model: torch.nn.Module, folder: Path) -> None:
    """Save ``model``'s weights packed and its ``quantization_config`` into ``folder``."""
    from compressed_tensors.compressors import ModelCompressor

    compressor = ModelCompressor.from_pretrained_model(model)
    compressor.compress_model(model)
    model.save_pretrained(folder)
    compressor.update_config(str(folder))
