"""Compress a Hugging Face causal LM in place, measure it, save it.

    from compressors.api import compress, save_checkpoint
    from compressors.calibration import CalibrationConfig, calibration_tokens
    from compressors.recipe import Recipe

    recipe = Recipe("wanda", sparsity=0.5)            # or Recipe("gptq", bits=4), Recipe(
    tokens = calibration_tokens(tokenizer, CalibrationConfig("c4"))   # "sparsegpt+gptq",
    report = compress(model, recipe, tokens)          # sparsity=0.5, bits=4); JSON-serialisable
    save_checkpoint(model, tokenizer, "out/llama-wanda50")

Which method runs where (each method's module: :data:`compressors.engines.ENGINES`): ``dense``
does nothing; ``magnitude`` is our own code (:mod:`compressors.pruning.magnitude`), one matrix
at a time on ``device``; ``wanda``, ``sparsegpt``, ``rtn``, ``gptq`` and ``awq`` build
llmcompressor's modifiers and run them through :mod:`compressors.llmcompressor_adapter`, which
keeps the model where it was loaded and moves one decoder layer at a time to the accelerator,
so a 70B model compresses on one GPU from CPU memory. ``int8`` and ``nf4`` quantize while
loading (:mod:`compressors.quantization.bitsandbytes`: load with its ``bnb_config``);
``compress`` checks and reports them. ``<pruning>+<quantization>`` prunes, then quantizes
keeping the zeros.

A quantized model is saved in compressed-tensors format (packed integer codes and a
``quantization_config`` in ``config.json``: :mod:`compressors.quantization.checkpoint`), a
pruned one dense, a bitsandbytes one as transformers saves it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from compressors.pruning.targets import check_prunable, select_linears
from compressors.zeros import counting_device, layer_zeros, settled, sparsity_report
from compressors.engines import ENGINES
from compressors.recipe import Recipe
from kick_core.provenance import library_versions

__all__ = ["check_device", "check_group_size", "check_targets", "compress", "library_versions", "measured_sparsity", "save_checkpoint"]


def compress(
    model: torch.nn.Module,
    recipe: Recipe,
    calibration: torch.Tensor | None = None,
    *,
    device: str | None = None,
    progress: bool = True,
) -> dict:
    """Prune and/or quantize ``model`` in place as ``recipe`` says; return a JSON-serialisable
    report.

    ``calibration``: ``(nsamples, seqlen)`` token ids (:func:`compressors.calibration.
    calibration_tokens`), required by methods that need it and ignored by the others.
    ``device``: where the work runs (default ``cuda`` when available, else ``cpu``).
    ``progress``: one tqdm bar per stage (llmcompressor's own bars are off:
    :mod:`compressors.llmcompressor_console`).
    """
    start = time.perf_counter()
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    linears, skipped = select_linears(model, recipe.ignore)
    if recipe.needs_calibration():
        _check_calibration(model, calibration, recipe.method)
    else:
        calibration = None
    stages = {}
    if recipe.prune_method or recipe.quant_method:
        check_device(recipe, device)
        check_targets(model, recipe)
        check_prunable(model, linears, recipe.nm)
        check_group_size(model, recipe)
    with torch.no_grad():  # prune first, then quantize (keeping the zeros)
        for entry, method in (("prune", recipe.prune_method), ("quantize", recipe.quant_method)):
            if method:
                run = getattr(ENGINES[method], entry)
                stages[entry] = run(model, linears, recipe, calibration, device=device, progress=progress)
    if len(stages) == 1:
        engine = next(iter(stages.values()))
    elif stages:
        names = " then ".join(stage["engine"] for stage in stages.values())
        engine = {"engine": names, "device": stages["quantize"]["device"], "stages": stages}
    else:
        engine = {"engine": None, "device": str(device)}
    # The zeros of the final weights, counted where they were already being read: by the
    # pruning solver (pruning alone through llmcompressor) or by the quantization levels check
    # (quantization can add zeros: codes that dequantize to 0); otherwise a scan.
    counted = stages.get("prune", {}).pop("zeros_counted", None)
    quantization = None
    if recipe.quant_method:
        quantization, counted = _quantization_report(model, recipe, device)
    if recipe.on_load:
        sparsity = None
    elif counted is not None and set(counted) >= set(linears):
        sparsity = sparsity_report({name: counted[name] for name in linears}, recipe)
    else:
        sparsity = measured_sparsity(model, recipe, device)
    report = {
        "recipe": recipe.as_dict(),
        "sparsity": sparsity,
        "skipped": skipped,
        "calibration_shape": list(calibration.shape) if calibration is not None else None,
        "wall_s": round(time.perf_counter() - start, 3),
        **engine,
        "versions": library_versions(),
    }
    if quantization is not None:
        report["quantization"] = quantization
    return report


def check_device(recipe: Recipe, device: str | torch.device) -> None:
    """ValueError if a stage of ``recipe`` cannot run on ``device`` (e.g. AWQ needs CUDA): the
    ``check_device`` of each stage's engine that has one."""
    for method in (recipe.prune_method, recipe.quant_method):
        check = getattr(ENGINES[method], "check_device", None) if method else None
        if check is not None:
            check(device)


def check_targets(model: torch.nn.Module, recipe: Recipe, name: str = "the model") -> None:
    """ValueError when ``recipe`` would compress no layer: the model has no ``torch.nn.Linear``
    (GPT-2's ``Conv1D``), or ``recipe.ignore`` keeps every one dense. Reads module types only,
    so a model on the meta device can be checked before any weight is loaded."""
    linears, skipped = select_linears(model, recipe.ignore)
    if linears:
        return
    conv1d = sum(type(module).__name__ == "Conv1D" for module in model.modules())
    kind = getattr(getattr(model, "config", None), "model_type", None) or type(model).__name__
    if conv1d or not skipped:
        raise ValueError(f"{name} ({kind}) has no torch.nn.Linear layers to compress ({conv1d} GPT-2 style Conv1D "
                         "layers are not supported); use a model built from nn.Linear (Llama, Mistral, Qwen, ...)")
    raise ValueError(f"ignore={list(recipe.ignore)} leaves none of {name}'s {len(skipped)} Linear layers to compress; "
                     "narrow the ignore patterns (e.g. ignore=lm_head)")


def check_group_size(model: torch.nn.Module, recipe: Recipe) -> None:
    """ValueError naming the first layer whose input width ``recipe.group_size`` does not
    divide, with the allowed sizes; reads shapes only, so a model built on the meta device
    can be checked before any weight is loaded."""
    if recipe.quant_method and not recipe.on_load:
        from compressors.quantization.scheme import check_group_sizes

        check_group_sizes(select_linears(model, recipe.ignore)[0], recipe.group_size)


def _quantization_report(model: torch.nn.Module, recipe: Recipe, device: torch.device) -> tuple[dict, dict | None]:
    """The quantization part of the report, and the zero counts of the quantized weights
    (``None`` for the methods that quantize on load, whose levels are not checked)."""
    from compressors.quantization.levels import check_levels
    from compressors.quantization.scheme import scheme_label

    report = {
        "scheme": scheme_label(recipe),
        **{k: getattr(recipe, k) for k in ("bits", "group_size", "symmetric", "act_order")},
    }
    if recipe.on_load:
        return report, None
    report["levels"], zeros = check_levels(model, device, recipe.nm)
    return report, zeros


def _check_calibration(model, calibration, method: str) -> None:
    if calibration is None:
        raise ValueError(
            f"method={method!r} needs calibration tokens: pass "
            "calibration_tokens(tokenizer, CalibrationConfig(...)) from compressors.calibration"
        )
    if not isinstance(calibration, torch.Tensor) or calibration.dim() != 2 or calibration.is_floating_point():
        raise ValueError(
            "calibration must be an integer tensor of token ids shaped (nsamples, seqlen), got "
            f"{type(calibration).__name__} {tuple(getattr(calibration, 'shape', ()))}"
        )
    if calibration.numel() == 0:
        raise ValueError("calibration holds no tokens")
    vocab = model.get_input_embeddings().num_embeddings
    if int(calibration.min()) < 0 or int(calibration.max()) >= vocab:
        raise ValueError(
            f"calibration token ids span [{int(calibration.min())}, {int(calibration.max())}], "
            f"outside the model's vocabulary [0, {vocab}): was it tokenized for another model?"
        )


def measured_sparsity(model: torch.nn.Module, recipe: Recipe, device: str | torch.device | None = None) -> dict:
    """Fraction of zero weights in each ``Linear`` the recipe prunes, and their summary
    (:func:`compressors.zeros.sparsity_report`), counted over the model's weights.

    ``device``: an accelerator to count on, one weight at a time (a 7B model's weights in CPU
    memory take ~9 s to scan on 16 cores, well under two seconds on a GPU); ``None`` or the
    CPU counts where they are.
    """
    linears, _ = select_linears(model, recipe.ignore)
    device = torch.device(device) if device is not None else None
    layers = {}
    for name, module in linears.items():
        weight = module.weight.detach()
        weight = weight.to(counting_device(device, weight))
        layers[name] = settled(*layer_zeros(weight, recipe.nm), weight.numel())
    return sparsity_report(layers, recipe)


def save_checkpoint(model: torch.nn.Module, tokenizer, folder: str | os.PathLike) -> None:
    """Write ``model`` (and ``tokenizer``, if given) as a Hugging Face folder of safetensors.

    Pruned weights are saved dense: compressed-tensors 0.19 no longer writes sparse formats,
    and the zeros are what ``from_pretrained`` and vLLM load back. Quantized weights are saved
    packed in compressed-tensors format (this packs them in place: the model still runs).
    ``folder`` may be an empty existing folder (a caller's staging folder); otherwise it is
    written atomically.
    """
    from kick_core.atomic import atomic_folder

    folder = Path(folder)
    if folder.is_dir() and any(folder.iterdir()):
        raise FileExistsError(f"checkpoint folder {str(folder)!r} is not empty")
    if folder.is_dir():
        _write(model, tokenizer, folder)
    else:
        with atomic_folder(folder) as staging:
            _write(model, tokenizer, staging)


def _write(model, tokenizer, folder: Path) -> None:
    from compressors.llmcompressor_adapter import one_process
    from compressors.quantization.checkpoint import is_quantized, save_compressed

    with one_process():  # the rank that took the cache's lock writes alone
        if is_quantized(model):
            save_compressed(model, folder)
        else:
            model.save_pretrained(folder)  # transformers 5 writes safetensors only
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    unsafe = [p.name for p in folder.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".pkl"}]
    if unsafe:
        raise RuntimeError(f"save_pretrained wrote pickle files {unsafe}; expected safetensors only")
