"""Build a compressed checkpoint, or take it from the cache: the one path every entry point uses.

``--model kick`` (:mod:`kick_models.kick_lm`), ``kick storage kick:<model_args>`` and
``kick sweep`` all reach compressed weights through :func:`compressed_checkpoint`, so a recipe
compressed once is reused everywhere.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from compressors.options import CALIBRATION_OPTIONS, RECIPE_OPTIONS, expand_preset
from kick_core.provenance import library_versions
from kick_models.checkpoint_cache import CacheEntry, CheckpointCache


RECIPE_KEYS = tuple(RECIPE_OPTIONS)
CALIBRATION_KEYS = tuple(CALIBRATION_OPTIONS)


def split_model_args(kwargs: dict[str, Any]):
    """Pop the recipe and calibration keys out of ``kwargs`` (lm-eval ``--model_args``), a
    ``preset`` expanded into its keys; return the validated ``(Recipe, CalibrationConfig)``."""
    from compressors.calibration import CalibrationConfig
    from compressors.recipe import Recipe

    if "preset" in kwargs:
        kwargs.update(expand_preset({"preset": kwargs.pop("preset"), **kwargs}))
    recipe_args = {k: kwargs.pop(k) for k in RECIPE_KEYS if k in kwargs}
    calibration_args = {k: kwargs.pop(k) for k in CALIBRATION_KEYS if k in kwargs}
    return Recipe.from_args(**recipe_args), CalibrationConfig.from_args(**calibration_args)


def needs_compression(recipe) -> bool:
    return recipe.method not in ("dense", "none")


def compressed_checkpoint(
    pretrained: str,
    recipe,
    calibration,
    cache: CheckpointCache,
    *,
    revision: str | None = "main",
    dtype: Any = "auto",
    trust_remote_code: bool = False,
    compress_device: str | None = None,
) -> tuple[CacheEntry, dict[str, Any], bool]:
    """``(entry, record, hit)`` for ``pretrained`` compressed by ``recipe``; builds on a miss."""
    if recipe.on_load:  # bitsandbytes is needed to build and to load the checkpoint: fail now
        from compressors.quantization.bitsandbytes import require

        require(recipe.quant_method, _default_device(compress_device))
    calibration_key = calibration.as_dict() if recipe.needs_calibration() else None
    entry = cache.entry(pretrained, revision, recipe.as_dict(), calibration_key, dtype)

    def build(staging: Path) -> dict[str, Any]:
        return _compress_into(staging, pretrained, recipe, calibration, revision, dtype, trust_remote_code, compress_device)

    record, hit = cache.get_or_build(entry, build)
    return entry, record, hit


def _default_device(compress_device: str | None) -> str:
    import torch

    return compress_device or ("cuda" if torch.cuda.is_available() else "cpu")


def _compress_into(staging: Path, pretrained: str, recipe, calibration, revision, dtype, trust_remote_code: bool,
                   compress_device: str | None) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from compressors.api import check_device, compress, save_checkpoint
    from compressors.calibration import calibration_tokens

    # Device and shapes first (a model on the meta device): an AWQ run without CUDA or a bad
    # group size fails before anything is read.
    device = _default_device(compress_device)
    check_device(recipe, device)
    load_kwargs = _check_source(pretrained, recipe, revision, dtype, trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(pretrained, revision=revision, trust_remote_code=trust_remote_code)
    # Calibration next: an unavailable source fails before the dense weights are read.
    tokens = calibration_tokens(tokenizer, calibration) if recipe.needs_calibration() else None
    model = AutoModelForCausalLM.from_pretrained(
        pretrained, revision=revision, dtype=dtype, trust_remote_code=trust_remote_code, low_cpu_mem_usage=True,
        **load_kwargs,
    )
    report = compress(model, recipe, tokens, device=device)
    save_checkpoint(model, tokenizer, staging)
    del model
    gc.collect()
    return {
        "source": {"pretrained": pretrained, "revision": revision},
        "recipe": recipe.as_dict(),
        "calibration": calibration.as_dict() if tokens is not None else None,
        "report": report,
        "versions": library_versions(),
    }


def _check_source(pretrained: str, recipe, revision, dtype, trust_remote_code: bool) -> dict[str, Any]:
    """Check ``recipe`` against the source model's layer shapes, built on the meta device (no
    weights read), and refuse a source that is already quantized; return the extra
    ``from_pretrained`` arguments (the bitsandbytes config of int8 / nf4)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from compressors.api import check_group_size
    from compressors.pruning.targets import select_linears
    from compressors.quantization.describe import describe_quantization

    config = AutoConfig.from_pretrained(pretrained, revision=revision, trust_remote_code=trust_remote_code)
    existing = describe_quantization(config)
    if existing is not None:
        raise ValueError(
            f"{pretrained} is already quantized ({existing['quant_method']}, {existing.get('scheme')}): evaluate it "
            f"as it is with method=none, or compress its unquantized original with method={recipe.method}"
        )
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    check_group_size(model, recipe)
    if not recipe.on_load:
        return {}
    from compressors.quantization.bitsandbytes import bnb_config

    compute = getattr(config, "dtype", None) if dtype in (None, "auto") else dtype  # the dtype weights load in
    compute = (getattr(torch, compute) if isinstance(compute, str) else compute) or torch.float32
    return {"quantization_config": bnb_config(recipe, select_linears(model, recipe.ignore)[1], compute)}
