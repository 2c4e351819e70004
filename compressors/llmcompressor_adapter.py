"""The one place llm-kick talks to llmcompressor (pinned: ``llmcompressor==0.14.0.1``).

:func:`prune_with_modifier` runs one of llmcompressor's one-shot pruning modifiers
(``SparseGPTModifier``, ``WandaPruningModifier``) and :func:`quantize_with_modifier` its
quantization modifiers (``QuantizationModifier`` for round-to-nearest, ``GPTQModifier``,
``AWQModifier`` followed by a ``QuantizationModifier``) on a model through ``oneshot`` and its
sequential pipeline: the model stays where it is (CPU for large models), each decoder layer
is moved to the accelerator in turn with the cached calibration activations, calibrated,
compressed, and run again so the next layer sees the compressed layer's outputs (as the
SparseGPT, Wanda and GPTQ reference code do). Afterwards the model is returned to a plain
state: offloading hooks removed, llmcompressor's ``save_pretrained`` wrapper removed, session
reset. A quantized model keeps compressed-tensors' quantization scheme, scales and zero
points on its ``Linear`` modules, and its weights hold the quantized values, so it runs as is
and :func:`compressors.quantization.checkpoint.save_compressed` writes it as a
compressed-tensors checkpoint.

What we pass, and why:

* pruning: ``targets`` = the exact names of the ``Linear`` modules to prune, ``ignore`` = []:
  the selection is ours (:mod:`compressors.pruning.targets`). llmcompressor's own ``ignore``
  matches a name like ``"lm_head"`` against ``"lm_head."`` and so does not exclude it
  (FINDINGS.md); exact names sidestep that.
* quantization: one scheme with ``targets=["Linear"]`` and ``ignore`` = the exact names of the
  ``Linear`` modules kept dense, the layout vLLM and transformers expect in
  ``quantization_config`` (a target list of every module name would also load, but is long).
* ``mask_structure="N:M"`` zeroes N of every M consecutive inputs (``topk(..., N,
  largest=False)`` over ``W[:, i:i+M]``), our N:M convention.
* a ``DataLoader`` of our token tensor, so llmcompressor neither tokenizes nor shuffles.
* ``sequential_offload_device`` = the compression device: calibration activations stay on the
  accelerator between layers (128 x 2048 x 8192 bf16 = 4 GiB for a 70B model) instead of
  crossing PCIe twice per layer.
* SparseGPT's per-weight solve (``llmcompressor.modifiers.pruning.sparsegpt.base.sparsify_weight``)
  is replaced, for that call only, by :func:`compressors.pruning.sparsegpt.sparsify`: the same
  arithmetic with a fraction of the kernel launches (llmcompressor's column loop left a 7B
  model's SparseGPT above five minutes on an H200).
* GPTQ on a pruned model (``keep_zeros``): llmcompressor's per-layer GPTQ kernel
  (``llmcompressor.modifiers.gptq.base.quantize_weight``) is replaced, for that call only, by
  :func:`compressors.quantization.sparse_gptq.quantize_keeping_zeros`, which keeps the pruned
  zeros (llmcompressor 0.14 has no such option).

llmcompressor onloads layers to its "main device" (the first accelerator, else the CPU), so a
``device`` other than that is refused with the fix (``CUDA_VISIBLE_DEVICES``). AWQ needs a CUDA
device (:func:`compressors.quantization.awq.check_device`).
"""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from importlib import metadata
from unittest import mock

import torch
from torch.utils.data import DataLoader

if "LLM_COMPRESSOR_LOG_LEVEL" not in os.environ:
    # One INFO line per module and batch otherwise; warnings (e.g. a Hessian that could not
    # be inverted) still show. Set LLM_COMPRESSOR_LOG_LEVEL=INFO to see everything.
    os.environ["LLM_COMPRESSOR_LOG_LEVEL"] = "WARNING"

# llmcompressor configures its logger when imported, so these imports follow the line above.
import llmcompressor.modifiers.gptq.base as gptq_base
import llmcompressor.modifiers.pruning.sparsegpt.base as sparsegpt_base
from compressed_tensors.offload import as_single_threaded, remove_dispatch
from compressed_tensors.quantization import (
    QuantizationArgs,
    QuantizationScheme,
    fake_quantize,
)
from llmcompressor import oneshot
from llmcompressor.core import reset_session
from llmcompressor.modifiers.gptq import GPTQModifier
from llmcompressor.modifiers.pruning import SparseGPTModifier, WandaPruningModifier
from llmcompressor.modifiers.quantization import QuantizationModifier
from llmcompressor.modifiers.transform.awq import AWQModifier
from llmcompressor.utils.dev import get_main_device

from compressors.pruning.sparsegpt import sparsify
from compressors.pruning.zeros import layer_zeros, settled

__all__ = ["MODIFIERS", "QUANTIZERS", "prune_with_modifier", "quantize_with_modifier"]

MODIFIERS = {"sparsegpt": SparseGPTModifier, "wanda": WandaPruningModifier}
# Quantization method -> the modifiers that run it, in order.
QUANTIZERS = {
    "rtn": (QuantizationModifier,),
    "gptq": (GPTQModifier,),
    "awq": (AWQModifier, QuantizationModifier),
}

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
    main = _main_device(model, method, device)
    modifier = MODIFIERS[method](
        sparsity=sparsity,
        mask_structure=f"{nm[0]}:{nm[1]}" if nm else "0:0",
        targets=list(targets),
        ignore=[],
        **options,
    )
    solver = _sparsegpt_solver() if method == "sparsegpt" else nullcontext()
    with solver, _counting_zeros(method, model, targets, nm) as counted:
        batch_size = _run(model, [modifier], calibration, main)
    report = {
        "engine": f"llmcompressor {metadata.version('llmcompressor')} {MODIFIERS[method].__name__}",
        "device": str(main),
        "batch_size": batch_size,
        "options": {"mask_structure": modifier.mask_structure, **options},
    }
    # compressors.api uses these only if they cover every module it reports on
    report["zeros_counted"] = {name: settled(*counts) for name, counts in counted.items()}
    return report


@contextmanager
def _sparsegpt_solver():
    """Run ``SparseGPTModifier`` with :func:`compressors.pruning.sparsegpt.sparsify` as its
    per-weight solver: the same weights as llmcompressor's ``sparsify_weight``, with four
    kernel launches per column instead of about fifteen (on an H200 their solve was two
    thirds of a 7B model's SparseGPT time). Weights that are not a plain ``Linear``, and
    ``preserve_sparsity_mask``, which we never set, stay with llmcompressor's solver."""
    original = sparsegpt_base.sparsify_weight

    def solve(module, hessians_dict, sparsity, prune_n, prune_m, block_size, dampening_frac, preserve_sparsity_mask):
        if preserve_sparsity_mask or type(module) is not torch.nn.Linear:
            return original(module, hessians_dict, sparsity, prune_n, prune_m, block_size, dampening_frac,
                            preserve_sparsity_mask)
        hessian = hessians_dict.pop(module)  # as theirs: the dict must not keep it alive
        return sparsify(module.weight, hessian, sparsity, (prune_n, prune_m) if prune_n else None,
                        block_size=block_size, dampening=dampening_frac)

    with mock.patch.object(sparsegpt_base, "sparsify_weight", solve):
        yield


@contextmanager
def _counting_zeros(method: str, model: torch.nn.Module, targets: list[str], nm: tuple[int, int] | None):
    """Count each pruned weight's zeros where llmcompressor's solver returns it.

    The modifiers call their module's ``sparsify_weight(module, ...)``, which returns the
    pruned weight (SparseGPT: ``(loss, weight)``) on the accelerator, and then write it into
    the module. Counting there, without synchronising, costs nothing; counting afterwards
    means a second pass over the whole model, which for a 7B model in CPU memory is 13 GB
    across PCIe (1.6 s on an H200, 5% of Wanda's whole run). Yields ``{name: (zeros, nm_ok,
    numel)}`` (tensors until the run ends) for the modules in ``targets`` that were pruned."""
    import importlib

    base = importlib.import_module(f"llmcompressor.modifiers.pruning.{method}.base")
    wanted = set(targets)
    names = {id(module): name for name, module in model.named_modules() if name in wanted}
    counted: dict = {}
    original = base.sparsify_weight

    def counting(module, *args, **kwargs):
        result = original(module, *args, **kwargs)
        name = names.get(id(module))
        if name is not None:
            weight = result[-1] if isinstance(result, tuple) else result
            counted[name] = (*layer_zeros(weight, nm), weight.numel())
        return result

    with mock.patch.object(base, "sparsify_weight", counting):
        yield counted


def quantize_with_modifier(
    model: torch.nn.Module,
    method: str,
    ignore: list[str],
    weights: dict,
    calibration: torch.Tensor | None,
    *,
    device: torch.device,
    keep_zeros: bool = False,
    **options,
) -> dict:
    """Quantize every ``Linear`` of ``model`` except ``ignore`` (exact module names) in place
    with llmcompressor's modifiers for ``method`` (``rtn``, ``gptq``, ``awq``).

    ``weights``: keyword arguments of compressed-tensors' ``QuantizationArgs`` (see
    :func:`compressors.quantization.scheme.weight_args`; ``actorder`` goes to GPTQ);
    ``calibration``: token ids (``None`` for ``rtn``, which needs no data); ``keep_zeros``:
    GPTQ keeps the exact zeros of a pruned model; ``options`` go to the algorithm's modifier
    (``block_size``, ``dampening_frac`` for GPTQ, ``duo_scaling``, ``n_grid`` for AWQ).
    Afterwards each quantized weight holds its dequantized grid values."""
    main = _main_device(model, method, device)
    weights = dict(weights)
    actorder = weights.pop("actorder", None)
    scheme = QuantizationScheme(targets=["Linear"], weights=QuantizationArgs(**weights))
    quantizer = {"config_groups": {"group_0": scheme}, "ignore": list(ignore)}
    if method == "rtn":
        modifiers = [QuantizationModifier(**quantizer)]
    elif method == "gptq":
        modifiers = [GPTQModifier(**quantizer, actorder=actorder, **options)]
    elif method == "awq":
        modifiers = [AWQModifier(**options), QuantizationModifier(**quantizer)]
    else:
        raise ValueError(f"no llmcompressor quantizer for method={method!r}: allowed {sorted(QUANTIZERS)}")
    if keep_zeros and method != "gptq":
        keep_zeros = False  # round-to-nearest maps 0 to 0, and AWQ's scales keep zeros zero
    # GPTQ writes each weight's grid values itself; re-quantizing them (on the CPU, where a
    # large model stays) cost 1.2 s of a 16 s four-layer 7B run on an H200. The levels check
    # of compressors.api still verifies that every weight is on its grid.
    with _gptq_keeping_zeros() if keep_zeros else nullcontext():
        batch_size = _run(model, modifiers, calibration, main, freeze=method != "gptq")
    return {
        "engine": f"llmcompressor {metadata.version('llmcompressor')} "
        + " + ".join(type(m).__name__ for m in modifiers)
        + (" (GPTQ kernel keeping zeros: compressors.quantization.sparse_gptq)" if keep_zeros else ""),
        "device": str(main),
        "batch_size": batch_size,
        "scheme": scheme.weights.model_dump(mode="json"),
        "options": {**({"actorder": actorder} if method == "gptq" else {}), **options},
    }


def _main_device(model: torch.nn.Module, method: str, device: torch.device) -> torch.device:
    """llmcompressor's main device, which must be ``device``; the model must know its folder."""
    main = get_main_device()
    if _indexed(device) != _indexed(main):
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
    return main


def _indexed(device: torch.device) -> tuple[str, int]:
    """``(type, index)``; a bare ``cuda`` is the current GPU (a data-parallel rank's own, under
    ``accelerate launch``), not GPU 0."""
    if device.index is not None:
        return device.type, device.index
    current = device.type == "cuda" and torch.cuda.is_available()
    return device.type, torch.cuda.current_device() if current else 0


def _run(model, modifiers: list, calibration: torch.Tensor | None, main: torch.device, *, freeze: bool = False) -> int | None:
    """``oneshot`` with the sequential pipeline over ``calibration`` (data-free without it);
    returns the calibration batch size. ``freeze``: write the quantized values into the weights."""
    batch_size, data = None, {}
    if calibration is not None:
        batch_size = max(1, min(len(calibration), TOKENS_PER_BATCH // calibration.shape[1]))
        data = {
            "dataset": DataLoader([{"input_ids": row} for row in calibration], batch_size=batch_size, shuffle=False),
            "pipeline": "sequential",
            "sequential_offload_device": str(main),
        }
    try:
        with one_process():
            oneshot(model=model, recipe=list(modifiers), **data)
    finally:
        _restore(model)
    if freeze:  # after _restore: while offloading is on, a write to a weight goes to a temporary copy
        _freeze_quantized_weights(model)
    return batch_size


@contextmanager
def one_process():
    """Compress in this process alone, even inside a process group.

    Under ``accelerate launch`` (data-parallel evaluation) the process group is up before the
    model is built, and llmcompressor then splits calibration and modules over the ranks and
    waits for them in collectives. But one rank compresses while the others wait on the cache's
    lock (:mod:`kick_models.checkpoint_cache`), so every collective would hang. llmcompressor
    and compressed-tensors ask ``torch.distributed.is_initialized()`` (and compressed-tensors'
    own switch, which ``as_single_threaded`` sets): both answer "no" here. Saving too: its
    llmcompressor wrapper waits for every rank and writes on rank 0 only.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        yield
        return
    with as_single_threaded(), mock.patch.object(dist, "is_initialized", lambda: False):
        yield


def _freeze_quantized_weights(model: torch.nn.Module) -> None:
    """Replace each quantized weight by its grid values (round-to-nearest and AWQ only
    fake-quantize in ``forward``), so the weights in memory are the ones the checkpoint will
    hold (fake quantization in ``forward`` is then the identity)."""
    with torch.no_grad():
        for module in model.modules():
            scheme = getattr(module, "quantization_scheme", None)
            if scheme is None or scheme.weights is None or not hasattr(module, "weight_scale"):
                continue
            weight = module.weight.data
            zero_point = getattr(module, "weight_zero_point", None)
            zero_point = None if zero_point is None else zero_point.to(weight.device)
            module.weight.data = fake_quantize(weight, module.weight_scale.to(weight.device), zero_point, scheme.weights)


@contextmanager
def _gptq_keeping_zeros():
    """Run GPTQ with :func:`~compressors.quantization.sparse_gptq.quantize_keeping_zeros` as its
    per-layer kernel (same arguments and results as llmcompressor's batched ``quantize_weight``)."""
    from compressors.quantization.sparse_gptq import quantize_keeping_zeros

    def keeping_zeros(weights, hessians, scale, zero_point, global_scale, quant_args, blocksize=128, percdamp=0.01):
        if global_scale is not None:
            raise ValueError("keeping zeros supports integer group/channel schemes without a global scale")
        results = [
            quantize_keeping_zeros(weights[i], hessians[i], scale[i], zero_point[i], quant_args,
                                   blocksize=blocksize, percdamp=percdamp)
            for i in range(weights.shape[0])
        ]
        return (
            torch.stack([q for q, _, _ in results]),
            torch.stack([loss for _, loss, _ in results]),
            torch.tensor([fell_back for _, _, fell_back in results]),
        )

    with mock.patch.object(gptq_base, "quantize_weight", keeping_zeros):
        yield


def _restore(model: torch.nn.Module) -> None:
    """Undo what ``oneshot`` leaves on the model: offloading caches, the wrapped
    ``save_pretrained`` (it would write compressed-tensors metadata), the global session."""
    remove_dispatch(model)
    if "save_pretrained" in vars(model):
        del model.save_pretrained
    reset_session()
