"""The one place llm-kick talks to llmcompressor.

:func:`prune_with_modifier` runs one of llmcompressor's one-shot pruning modifiers
(``SparseGPTModifier``, ``WandaPruningModifier``) on a model through ``oneshot`` and its
sequential pipeline: the model stays where it is (CPU for large models), each decoder layer
is moved to the accelerator in turn with the cached calibration activations, calibrated,
pruned, and run again so the next layer sees the pruned layer's outputs (as the SparseGPT
and Wanda reference code do). Afterwards the model is returned to a plain state: offloading
hooks removed, llmcompressor's ``save_pretrained`` wrapper removed, session reset.

What we pass, and why:

* ``targets`` = the exact names of the ``Linear`` modules to prune, ``ignore`` = []: the
  selection is ours (:mod:`compressors.pruning.targets`). llmcompressor's own ``ignore``
  matches a name like ``"lm_head"`` against ``"lm_head."`` and so does not exclude it
  (FINDINGS.md); exact names sidestep that.
* ``mask_structure="N:M"`` zeroes N of every M consecutive inputs (``topk(..., N,
  largest=False)`` over ``W[:, i:i+M]``), our N:M convention.
* a ``DataLoader`` of our token tensor, so llmcompressor neither tokenizes nor shuffles.
* ``sequential_offload_device`` = the compression device: calibration activations stay on the
  accelerator between layers (128 x 2048 x 8192 bf16 = 4 GiB for a 70B model) instead of
  crossing PCIe twice per layer.

llmcompressor onloads layers to its "main device" (the first accelerator, else the CPU), so a
``device`` other than that is refused with the fix (``CUDA_VISIBLE_DEVICES``).
"""

from __future__ import annotations

import os
from importlib import metadata

import torch
from torch.utils.data import DataLoader

if "LLM_COMPRESSOR_LOG_LEVEL" not in os.environ:
    # One INFO line per module and batch otherwise; warnings (e.g. a Hessian that could not
    # be inverted) still show. Set LLM_COMPRESSOR_LOG_LEVEL=INFO to see everything.
    os.environ["LLM_COMPRESSOR_LOG_LEVEL"] = "WARNING"

# llmcompressor configures its logger when imported, so these imports follow the line above.
from compressed_tensors.offload import remove_dispatch
from llmcompressor import oneshot
from llmcompressor.core import reset_session
from llmcompressor.modifiers.pruning import SparseGPTModifier, WandaPruningModifier
from llmcompressor.utils.dev import get_main_device

__all__ = ["MODIFIERS", "prune_with_modifier"]

MODIFIERS = {"sparsegpt": SparseGPTModifier, "wanda": WandaPruningModifier}

# Calibration tokens per forward batch: 8 x 2048 keeps one Llama-70B layer's activations
# under ~10 GB, and large batches keep the accelerator busy.
TOKENS_PER_BATCH = 16384


def prune_with_modifier(
    model: torch.nn.Module,
    method: str,
    targets: list[str],
    sparsity: float,
    nm: tuple[int, int] | None,
    calibration: torch.Tensor,
    *,
    device: torch.device,
    **options,
) -> dict:
    """Prune ``targets`` of ``model`` in place with llmcompressor's modifier for ``method``;
    ``options`` go to the modifier (e.g. ``block_size``, ``dampening_frac``).

    llmcompressor draws its own progress bars (two per decoder layer: calibrating, then
    propagating); tqdm reads ``TQDM_DISABLE=1`` at import time to silence them."""
    main = get_main_device()
    if (device.type, device.index or 0) != (main.type, main.index or 0):
        raise ValueError(
            f"llmcompressor runs {method} on its main device {main}, not {device}: leave the "
            "compression device unset, or choose the GPU with CUDA_VISIBLE_DEVICES "
            "(CUDA_VISIBLE_DEVICES= for the CPU)"
        )
    if not getattr(model.config, "name_or_path", None):
        raise ValueError(
            "llmcompressor's oneshot re-reads the model's config from model.config.name_or_path; "
            "load the model with from_pretrained (a folder or hub id)"
        )
    modifier = MODIFIERS[method](
        sparsity=sparsity,
        mask_structure=f"{nm[0]}:{nm[1]}" if nm else "0:0",
        targets=list(targets),
        ignore=[],
        **options,
    )
    batch_size = max(1, min(len(calibration), TOKENS_PER_BATCH // calibration.shape[1]))
    loader = DataLoader(
        [{"input_ids": row} for row in calibration], batch_size=batch_size, shuffle=False
    )
    try:
        oneshot(
            model=model,
            dataset=loader,
            recipe=[modifier],
            pipeline="sequential",
            sequential_offload_device=str(main),
        )
    finally:
        _restore(model)
    return {
        "engine": f"llmcompressor {metadata.version('llmcompressor')} {MODIFIERS[method].__name__}",
        "device": str(main),
        "batch_size": batch_size,
        "options": {"mask_structure": modifier.mask_structure, **options},
    }


def _restore(model: torch.nn.Module) -> None:
    """Undo what ``oneshot`` leaves on the model: offloading caches, the wrapped
    ``save_pretrained`` (it would write compressed-tensors metadata), the global session."""
    remove_dispatch(model)
    if "save_pretrained" in vars(model):
        del model.save_pretrained
    reset_session()

