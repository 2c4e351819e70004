"""The one place llm-kick runs llmcompressor (pinned: ``llmcompressor==0.14.0.1``); it knows no
method by name.

A method module (in :mod:`compressors.pruning` or :mod:`compressors.quantization`) builds its
llmcompressor modifiers and hands them to :func:`run_oneshot` (through :func:`run_pruning` or :func:`run_quantization`,
which also build the report), which runs them through ``oneshot`` and its sequential
pipeline: the model stays where it is (CPU for large models), each decoder layer is moved to
the accelerator in turn with the cached calibration activations, calibrated, compressed, and
run again so the next layer sees the compressed layer's outputs (as the reference code of
the one-shot methods does). Afterwards the model is returned to a plain state: offloading hooks
removed, llmcompressor's ``save_pretrained`` wrapper removed, session reset. A quantized
model keeps compressed-tensors' quantization scheme, scales and zero points on its ``Linear``
modules, and its weights hold the quantized values, so it runs as is and
:func:`compressors.quantization.checkpoint.save_compressed` writes it as a compressed-tensors
checkpoint.

The shared pieces the method modules use:

* :class:`PerWeightPruning` – the per-weight loop of llmcompressor's pruning modifiers with
  the solver left to the method, counting each pruned weight's zeros on the accelerator;
* :func:`pruning_targets` and :func:`weight_quantization` – the arguments we give the
  modifiers (below);
* :func:`engine_name` – the report's ``engine`` line;
* :func:`one_process` – compress (or save) in this process alone inside a process group.

What we pass, and why:

* pruning: ``targets`` = the exact names of the ``Linear`` modules to prune, ``ignore`` = []:
  the selection is ours (:mod:`compressors.pruning.targets`). llmcompressor's own ``ignore``
  matches a plain name such as ``"lm_head"`` against the module name plus a trailing dot
  (``"lm_head."``), so it does not exclude the LM head; exact names sidestep that.
* quantization: one scheme with ``targets=["Linear"]`` and ``ignore`` = the exact names of the
  ``Linear`` modules kept dense, the layout vLLM and transformers expect in
  ``quantization_config`` (a target list of every module name would also load, but is long).
* ``mask_structure="N:M"`` zeroes N of every M consecutive inputs (``topk(..., N,
  largest=False)`` over ``W[:, i:i+M]``), our N:M convention.
* a ``DataLoader`` of our token tensor, so llmcompressor neither tokenizes nor shuffles.
* ``sequential_offload_device`` = the compression device: calibration activations stay on the
  accelerator between layers (128 x 2048 x 8192 bf16 = 4 GiB for a 70B model) instead of
  crossing PCIe twice per layer.

llmcompressor onloads layers to its "main device" (the first accelerator, else the CPU), so a
``device`` other than that is refused with the fix (``CUDA_VISIBLE_DEVICES``). While it runs,
it draws one progress bar and logs to stderr as far as lm-eval's log level asks, never to
stdout, where lm-eval writes its results (:mod:`compressors.llmcompressor_console`).
"""

from __future__ import annotations

from abc import abstractmethod
from contextlib import contextmanager
from importlib import metadata
from typing import ClassVar
from unittest import mock

import torch
from compressed_tensors.offload import as_single_threaded, remove_dispatch
from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme, fake_quantize
from compressed_tensors.utils import align_module_device, update_offload_parameter

from compressors.llmcompressor_console import llmcompressor_console  # first: it imports llmcompressor quietly
from llmcompressor import oneshot  # noqa: E402
from llmcompressor.core import reset_session  # noqa: E402
from llmcompressor.modifiers.pruning.sparsegpt.sgpt_base import SparsityModifierBase  # noqa: E402
from llmcompressor.utils.dev import get_main_device  # noqa: E402
from llmcompressor.utils.metric_logging import CompressionLogger  # noqa: E402
from loguru import logger  # noqa: E402
from pydantic import PrivateAttr  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from compressors.zeros import LayerZeros, layer_zeros, settled  # noqa: E402

__all__ = [
    "TOKENS_PER_BATCH",
    "PerWeightPruning",
    "engine_name",
    "one_process",
    "pruning_targets",
    "run_oneshot",
    "run_pruning",
    "run_quantization",
    "weight_quantization",
]

# Calibration tokens per forward batch: 8 x 2048 keeps one Llama-70B layer's activations
# under ~10 GB, and large batches keep the accelerator busy.
TOKENS_PER_BATCH = 16384

def run_oneshot(
    model: torch.nn.Module,
    modifiers: list,
    calibration: torch.Tensor | None,
    device: torch.device,
    *,
    freeze: bool = False,
    progress: bool = True,
) -> dict:
    """Run ``modifiers`` on ``model`` in place through ``oneshot`` with the sequential pipeline
    over ``calibration`` token ids (data-free without them), on llmcompressor's main device,
    which must be ``device``. Returns ``{"device", "batch_size"}`` for the report.

    ``freeze``: afterwards write each quantized weight's grid values into the weight (for
    modifiers that only fake-quantize in ``forward``). ``progress``: a bar over the decoder
    layers, named after the modifiers (llmcompressor's own bars are off)."""
    with llmcompressor_console(model, " + ".join(_llmcompressor_names(modifiers)), progress) as layer_progress:
        main = _main_device(model, device)
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
                oneshot(model=model, recipe=[*modifiers, layer_progress], **data)
        finally:
            _restore(model)
    if freeze:  # after _restore: while offloading is on, a write to a weight goes to a temporary copy
        _freeze_quantized_weights(model)
    return {"device": str(main), "batch_size": batch_size}


def run_pruning(
    model: torch.nn.Module,
    modifier: PerWeightPruning,
    calibration: torch.Tensor,
    device: torch.device,
    *,
    progress: bool = True,
    **options,
) -> dict:
    """:func:`run_oneshot` for one pruning modifier, and its report: ``options`` are the
    modifier's settings to report beside its mask structure; ``zeros_counted`` holds each
    pruned weight's zeros (:meth:`PerWeightPruning.zeros_counted`)."""
    run = run_oneshot(model, [modifier], calibration, device, progress=progress)
    return {
        "engine": engine_name([modifier]),
        **run,
        "options": {"mask_structure": modifier.mask_structure, **options},
        # compressors.api uses these only if they cover every module it reports on
        "zeros_counted": modifier.zeros_counted(model),
    }


def run_quantization(
    model: torch.nn.Module,
    modifiers: list,
    quantizer: dict,
    calibration: torch.Tensor | None,
    device: torch.device,
    *,
    freeze: bool,
    options: dict,
    engine_note: str = "",
    progress: bool = True,
) -> dict:
    """:func:`run_oneshot` for quantizing modifiers whose scheme is ``quantizer``
    (:func:`weight_quantization`), and its report: ``options`` are the modifiers' settings,
    ``engine_note`` is added to the ``engine`` line. Afterwards each quantized weight holds
    its dequantized grid values (``freeze`` for the modifiers that do not write them)."""
    run = run_oneshot(model, modifiers, calibration, device, freeze=freeze, progress=progress)
    return {
        "engine": engine_name(modifiers) + engine_note,
        **run,
        "scheme": quantizer["config_groups"]["group_0"].weights.model_dump(mode="json"),
        "options": options,
    }


def engine_name(modifiers: list) -> str:
    """``llmcompressor <version> <A> + <B>``, naming the llmcompressor class each modifier is
    or extends (a method's subclass runs that modifier with another solver)."""
    return f"llmcompressor {metadata.version('llmcompressor')} " + " + ".join(_llmcompressor_names(modifiers))


def _llmcompressor_names(modifiers: list) -> list[str]:
    """The name of the llmcompressor class each modifier is or extends."""
    return [
        next(cls for cls in type(modifier).__mro__ if cls.__module__.startswith("llmcompressor.")).__name__
        for modifier in modifiers
    ]


def pruning_targets(targets: list[str], nm: tuple[int, int] | None) -> dict:
    """The keyword arguments of an llmcompressor pruning modifier that select ``targets``
    (exact module names) and the mask pattern (``"0:0"``: unstructured)."""
    return {"targets": list(targets), "ignore": [], "mask_structure": f"{nm[0]}:{nm[1]}" if nm else "0:0"}


def weight_quantization(weights: dict, ignore: list[str]) -> dict:
    """The ``config_groups`` and ``ignore`` arguments of llmcompressor's quantizing modifiers:
    one scheme for the weights of every ``Linear`` except ``ignore`` (exact module names).

    ``weights``: keyword arguments of compressed-tensors' ``QuantizationArgs``
    (:func:`compressors.quantization.scheme.weight_args`)."""
    scheme = QuantizationScheme(targets=["Linear"], weights=QuantizationArgs(**weights))
    return {"config_groups": {"group_0": scheme}, "ignore": list(ignore)}


class PerWeightPruning(SparsityModifierBase):
    """llmcompressor's one-shot pruning step with the per-weight solver left to a subclass.

    ``SparsityModifierBase``, the base of llmcompressor's one-shot pruning modifiers, asks its
    subclasses for ``compress_modules``, run after each decoder layer is calibrated. This one
    is the loop those modifiers share (0.14.0.1: each calibrated module's weight onloaded,
    solved, logged with its loss, written back), calling :meth:`solve`, which a method
    implements (its own solver or llmcompressor's). It also counts each pruned weight's zeros
    where the solver returns it, still on the accelerator and without synchronising: counting
    afterwards means a second pass over the whole model, which for a large model in CPU
    memory crosses PCIe again. Combine it with the method's modifier, it first:
    ``class Ours(PerWeightPruning, TheirPruningModifier)``.
    """

    # the name of the solver's loss in the METRIC log lines; None: the solver reports none
    loss_name: ClassVar[str | None] = None
    _zeros: dict = PrivateAttr(default_factory=dict)

    @abstractmethod
    def solve(self, module: torch.nn.Module, sparsity: float) -> tuple[float | None, torch.Tensor]:
        """``(loss or None, pruned weight)`` of one calibrated module, whose statistics the
        solver takes out of the modifier (as llmcompressor's solvers do)."""

    def compress_modules(self):
        nm = (self._prune_n, self._prune_m) if self._prune_n else None
        for module in list(self._num_samples):
            name = self._module_names[module]
            logger.info(f"Sparsifying {name} using {self._num_samples[module]} samples")
            with torch.no_grad(), align_module_device(module), CompressionLogger(module) as metrics:
                loss, weight = self.solve(module, self._module_sparsities[module])
                if self.loss_name is not None:
                    metrics.set_results(name=self.loss_name, loss=loss)
                self._zeros[module] = (*layer_zeros(weight, nm), weight.numel())
            update_offload_parameter(module, "weight", weight)
            del self._num_samples[module]

    def zeros_counted(self, model: torch.nn.Module) -> dict[str, LayerZeros]:
        """``{module name: (zeros, elements, nm_ok)}`` of the weights this modifier pruned
        (:func:`compressors.zeros.settled`; this synchronises with the device)."""
        names = {module: name for name, module in model.named_modules()}
        return {names[module]: settled(*counts) for module, counts in self._zeros.items() if module in names}


def _main_device(model: torch.nn.Module, device: torch.device) -> torch.device:
    """llmcompressor's main device, which must be ``device``; the model must know its folder."""
    main = get_main_device()
    if _indexed(device) != _indexed(main):
        raise ValueError(
            f"llmcompressor compresses on its main device {main}, not {device}: leave the "
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


@contextmanager
def one_process():
    """Compress (or save) in this process alone, even inside a process group.

    Under ``accelerate launch`` (data-parallel evaluation) the process group is up before the
    model is built, and llmcompressor then splits calibration and modules over the ranks and
    waits for them in collectives. But one rank compresses while the others wait on the
    checkpoint cache's lock, so every collective would hang. Saving too: llmcompressor's
    ``save_pretrained`` wrapper waits for every rank and writes on rank 0 only.

    llmcompressor and compressed-tensors ask ``torch.distributed.is_initialized()`` directly,
    from many places (the dataset split, ``get_main_device``, the offload caches, dispatch),
    with no switch of their own but compressed-tensors' ``as_single_threaded``. So for the
    duration of the block, and only inside a process group, ``is_initialized`` answers False
    for every caller in this process (any thread: it is the module attribute that is
    replaced), and compressed-tensors' switch is set; both are restored on exit. The process
    group itself is untouched, so the other ranks' collectives after the block still work.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        yield
        return
    with as_single_threaded(), mock.patch.object(dist, "is_initialized", lambda: False):
        yield


def _freeze_quantized_weights(model: torch.nn.Module) -> None:
    """Replace each quantized weight by its grid values (for modifiers that only fake-quantize
    in ``forward``), so the weights in memory are the ones the checkpoint will hold (fake
    quantization in ``forward`` is then the identity)."""
    with torch.no_grad():
        for module in model.modules():
            scheme = getattr(module, "quantization_scheme", None)
            if scheme is None or scheme.weights is None or not hasattr(module, "weight_scale"):
                continue
            weight = module.weight.data
            zero_point = getattr(module, "weight_zero_point", None)
            zero_point = None if zero_point is None else zero_point.to(weight.device)
            module.weight.data = fake_quantize(weight, module.weight_scale.to(weight.device), zero_point, scheme.weights)


def _restore(model: torch.nn.Module) -> None:
    """Undo what ``oneshot`` leaves on the model: offloading caches, the wrapped
    ``save_pretrained`` (it would write compressed-tensors metadata), the global session."""
    remove_dispatch(model)
    if "save_pretrained" in vars(model):
        del model.save_pretrained
    reset_session()
