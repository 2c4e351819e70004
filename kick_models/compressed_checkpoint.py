"""Build a compressed checkpoint, or take it from the cache: the one path every entry point uses.

``--model kick`` (:mod:`kick_models.kick_lm`), ``kick storage kick:<model_args>`` and
``kick sweep`` all reach compressed weights through :func:`compressed_checkpoint`, so a recipe
compressed once is reused everywhere.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

from compressors.versions import library_versions
from kick_models.checkpoint_cache import CacheEntry, CheckpointCache

logger = logging.getLogger(__name__)

RECIPE_KEYS = ("method", "sparsity", "pattern", "scope")
CALIBRATION_KEYS = ("calibration", "nsamples", "seqlen", "seed")


def split_model_args(kwargs: dict[str, Any]):
    """Pop the recipe and calibration keys out of ``kwargs`` (lm-eval ``--model_args``);
    return the validated ``(Recipe, CalibrationConfig)``."""
    from compressors.calibration import CalibrationConfig
    from compressors.recipe import Recipe

    recipe_args = {k: kwargs.pop(k) for k in RECIPE_KEYS if k in kwargs}
    if "method" in recipe_args and recipe_args["method"] is None:  # lm-eval casts "none" to None
        recipe_args["method"] = "none"
    calibration_args = {k: kwargs.pop(k) for k in CALIBRATION_KEYS if k in kwargs}
    if "calibration" in calibration_args:
        calibration_args["source"] = str(calibration_args.pop("calibration"))
    return Recipe.from_args(**recipe_args), CalibrationConfig(**calibration_args).validate()


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
    calibration_key = calibration.as_dict() if recipe.needs_calibration() else None
    entry = cache.entry(pretrained, revision, recipe.as_dict(), calibration_key)

    def build(staging: Path) -> dict[str, Any]:
        return _compress_into(staging, pretrained, recipe, calibration, revision, dtype, trust_remote_code, compress_device)

    record, hit = cache.get_or_build(entry, build)
    logger.info("kick: %s compressed checkpoint %s", "cached" if hit else "new", entry.path)
    return entry, record, hit


def _compress_into(staging: Path, pretrained: str, recipe, calibration, revision, dtype, trust_remote_code: bool,
                   compress_device: str | None) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from compressors.api import compress, save_checkpoint
    from compressors.calibration import calibration_tokens

    tokenizer = AutoTokenizer.from_pretrained(pretrained, revision=revision, trust_remote_code=trust_remote_code)
    # Calibration first: an unavailable source fails before the dense weights are read.
    tokens = calibration_tokens(tokenizer, calibration) if recipe.needs_calibration() else None
    model = AutoModelForCausalLM.from_pretrained(
        pretrained, revision=revision, dtype=dtype, trust_remote_code=trust_remote_code, low_cpu_mem_usage=True
    )
    device = compress_device or ("cuda" if torch.cuda.is_available() else "cpu")
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
