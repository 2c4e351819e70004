"""GPTQ: one-shot weight quantization with second-order error feedback.

Frantar, Ashkboos, Hoefler & Alistarh, "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers", ICLR 2023 (arXiv:2210.17323). For a layer with weights
``W`` and calibration inputs ``X`` it looks for the quantized ``W_hat`` minimising the layer's
output error (eq. 1)

    argmin_W_hat || W X - W_hat X ||_2^2

one column at a time: after quantizing column ``q`` it updates the not-yet-quantized columns
``F`` by the optimal-brain-surgeon step (eq. 2-3)

    delta_F = - (w_q - quant(w_q)) / [H_F^-1]_qq * (H_F^-1)_{:, q},      H = 2 X X^T,

with all rows sharing one column order (Sec. 4 step 1), lazy updates in blocks of 128
columns (step 2) and the Cholesky form of ``H^-1`` with 1% dampening (step 3, eq. 5). The
grid of each group comes from its min and max before the updates (:mod:`.scheme`).
``act_order`` processes columns by decreasing ``diag(H)`` (the "act-order" of the reference
code, here "static": groups stay consecutive columns, so the checkpoint format is unchanged).

Run by llmcompressor's ``GPTQModifier`` (through
:func:`compressors.llmcompressor_adapter.run_oneshot`), whose ``gptq_quantize.py`` (0.14.0.1)
follows the reference ``fasterquant`` (IST-DASLab/gptq): same Hessian accumulation, dampening,
Cholesky inverse, block size and update, and the sequential layer-by-layer calibration on the
outputs of the already quantized layers. Its Hessians are accumulated once per distinct input
(:class:`~compressors.hessians.SharedHessians`, :func:`modifier_class`). On a pruned model (``method=<pruning>+gptq``) the
per-layer kernel is :func:`~compressors.quantization.sparse_gptq.quantize_keeping_zeros`, which
keeps the pruned zeros (:func:`keeping_zeros_class`).
"""

from __future__ import annotations

from functools import cache

import torch

from compressors.arithmetic import HESSIAN_MATMUL
from compressors.quantization.scheme import kept_dense, weight_args

__all__ = ["BLOCK_SIZE", "DAMPENING", "keeping_zeros_class", "modifier_class", "quantize"]

BLOCK_SIZE = 128
DAMPENING = 0.01


def quantize(model, linears: dict[str, torch.nn.Linear], recipe, calibration: torch.Tensor, *, device, progress=True) -> dict:
    """GPTQ-quantize ``linears`` of ``model`` in place on ``calibration`` tokens, keeping the
    zeros of a pruned model when ``recipe`` prunes first.

    ``progress``: a bar over the decoder layers (:func:`~compressors.llmcompressor_adapter.run_oneshot`)."""
    from compressors.llmcompressor_adapter import run_quantization, weight_quantization

    weights = weight_args(recipe)
    actorder = weights.pop("actorder", None)  # GPTQ's option, not the scheme's
    quantizer = weight_quantization(weights, kept_dense(model, linears))
    settings = {"block_size": BLOCK_SIZE, "dampening_frac": DAMPENING, "hessian_matmul": HESSIAN_MATMUL}
    keep_zeros = recipe.prune_method is not None
    modifier = (keeping_zeros_class() if keep_zeros else modifier_class())(**quantizer, actorder=actorder, **settings)
    # GPTQ writes each weight's grid values itself (no freeze: quantizing again would only
    # repeat them); the levels check of compressors.api still verifies them.
    return run_quantization(
        model, [modifier], quantizer, calibration, torch.device(device), freeze=False,
        options={"actorder": actorder, **settings},
        engine_note=" (GPTQ kernel keeping zeros: compressors.quantization.sparse_gptq)" if keep_zeros else "",
        progress=progress,
    )


@cache
def modifier_class() -> type:
    """llmcompressor's ``GPTQModifier`` with one Hessian per distinct input
    (:class:`~compressors.hessians.SharedHessians`; its solver divides a copy of the Hessian by
    the sample count, so a shared one is never changed). Built on first use: importing
    llmcompressor takes seconds."""
    from llmcompressor.modifiers.gptq import GPTQModifier

    from compressors.hessians import SharedHessians

    class GPTQSharingHessians(SharedHessians, GPTQModifier):
        hessian_mean = False

    return GPTQSharingHessians


@cache
def keeping_zeros_class() -> type:
    """:func:`modifier_class` with
    :func:`~compressors.quantization.sparse_gptq.quantize_keeping_zeros` as its per-layer
    kernel, for a pruned model. Built on first use: importing llmcompressor takes seconds.

    It overrides ``compress_module_list``, the modifier's loop over the calibrated modules of
    a decoder layer (0.14.0.1: statistics taken out of the modifier by ``prepare_batch``,
    observer scale and zero point, the kernel, the METRIC lines, the results written back by
    ``update_batch_qparams``), one module at a time: our kernel solves one weight matrix."""
    from compressed_tensors.offload import disable_offloading
    from compressed_tensors.utils import getattr_chain
    from llmcompressor.modifiers.gptq.helpers import prepare_batch, update_batch_qparams
    from llmcompressor.utils.metric_logging import CompressionLogger
    from loguru import logger

    from compressors.quantization import sparse_gptq

    class GPTQKeepingZeros(modifier_class()):
        def compress_module_list(self, module_list):
            for module in module_list:
                args = getattr_chain(module, "quantization_scheme.weights")
                qparams = module.weight_observer.get_qparams()
                name = self._module_names[module]
                logger.info(f"Quantizing 1 module(s): {[name]}")
                with torch.no_grad(), disable_offloading():
                    with CompressionLogger(module) as metrics:
                        weights, hessians, scales, zero_points, global_scales = prepare_batch(
                            [module], [qparams], self._hessians, self._num_samples
                        )
                        if global_scales is not None:
                            raise ValueError("keeping zeros supports integer group/channel schemes without a global scale")
                        quantized, loss, fell_back = sparse_gptq.quantize_keeping_zeros(
                            weights[0], hessians[0], scales[0], zero_points[0], args,
                            blocksize=self.block_size, percdamp=self.dampening_frac,
                        )
                        metrics.set_results(name="GPTQ", loss=loss.item())
                    if fell_back:
                        self._rtn_fallback_module_names.append(name)
                    update_batch_qparams([module], quantized.unsqueeze(0), scales, zero_points, None, args)
                    self._num_compressed_modules += 1

    return GPTQKeepingZeros
