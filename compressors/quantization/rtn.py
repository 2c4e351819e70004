"""Round-to-nearest (RTN) weight quantization: the baseline of GPTQ and AWQ.

Each group of ``group_size`` consecutive input weights of an output row gets a scale (and, if
asymmetric, a zero point) from its min and max, and every weight is rounded to the nearest
point of that grid (:mod:`.scheme` has the formulas). No calibration data: the rounding of
one weight ignores what the others' errors do to the layer output, which is what GPTQ
(Frantar et al., ICLR 2023, Sec. 3 and Table 2-3 against RTN) and AWQ (Lin et al., MLSys
2024) improve on. Run by llmcompressor's ``QuantizationModifier`` (through
:func:`compressors.llmcompressor_adapter.run_oneshot`), whose memoryless min-max observer and
compressed-tensors' ``fake_quantize`` implement exactly this.
"""

from __future__ import annotations

import torch

from compressors.quantization.scheme import kept_dense, weight_args

__all__ = ["quantize"]


def quantize(model, linears: dict[str, torch.nn.Linear], recipe, calibration=None, *, device, progress=True) -> dict:
    """Quantize ``linears`` of ``model`` in place to ``recipe.bits`` by rounding to nearest.

    ``calibration`` is not used (no data). ``progress``: a bar over the decoder layers
    (:func:`~compressors.llmcompressor_adapter.run_oneshot`)."""
    from llmcompressor.modifiers.quantization import QuantizationModifier

    from compressors.llmcompressor_adapter import run_quantization, weight_quantization

    quantizer = weight_quantization(weight_args(recipe), kept_dense(model, linears))
    # QuantizationModifier fake-quantizes in forward only: freeze writes the grid values
    return run_quantization(model, [QuantizationModifier(**quantizer)], quantizer, None, torch.device(device),
                            freeze=True, options={}, progress=progress)

