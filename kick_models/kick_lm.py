"""``--model kick``: lm-eval's Hugging Face model, compressed on load.

    lm_eval --model kick \\
        --model_args pretrained=<hub id or folder>,method=wanda,sparsity=0.5,pattern=2:4 \\
        --tasks kick

:class:`KickLM` subclasses lm-eval's ``HFLM`` (as ``hf_steered.SteeredModel`` does, with its
own scalar keyword arguments) and overrides ``_create_model`` (as ``mamba_lm`` does): it
builds the compressed checkpoint, or finds it in the :mod:`~kick_models.checkpoint_cache`,
and lets ``HFLM`` load that folder like any Hugging Face model, so every ``hf`` option
(``device``, ``dtype``, ``parallelize``, ``batch_size``, ...) keeps working. ``export=<dir>``
copies the checkpoint to a folder that plain ``--model hf`` and vLLM load.

What was evaluated — recipe, calibration, measured sparsity, library versions, compression
and load wall time, cache entry — goes into ``get_model_info()``, which lm-eval writes into
the ``config`` of its results file, so a result file alone says what model it scored.
"""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path
from typing import Any

from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from kick_models.checkpoint_cache import CheckpointCache, export_checkpoint, library_versions
from kick_models.model_args import check_keys

logger = logging.getLogger(__name__)

RECIPE_KEYS = ("method", "sparsity", "pattern", "scope")
CALIBRATION_KEYS = ("calibration", "nsamples", "seqlen", "seed")


@register_model("kick")
class KickLM(HFLM):
    """lm-eval ``HFLM`` that prunes or quantizes the model on load (cached)."""

    def __init__(
        self,
        pretrained: str,
        cache_dir: str | None = None,
        export: str | None = None,
        compress_device: str | None = None,
        storage: bool = False,
        **kwargs: Any,
    ) -> None:
        from compressors.calibration import CalibrationConfig
        from compressors.recipe import Recipe

        check_keys(kwargs)
        if not isinstance(pretrained, str):
            raise TypeError("--model kick needs pretrained=<hub id or folder>; pass an in-memory model to --model hf")
        recipe_args = {k: kwargs.pop(k) for k in RECIPE_KEYS if k in kwargs}
        if "method" in recipe_args and recipe_args["method"] is None:  # lm-eval casts "none" to None
            recipe_args["method"] = "none"
        calibration_args = {k: kwargs.pop(k) for k in CALIBRATION_KEYS if k in kwargs}
        if "calibration" in calibration_args:
            calibration_args["source"] = str(calibration_args.pop("calibration"))
        self._recipe = Recipe.from_args(**recipe_args)
        self._calibration = CalibrationConfig(**calibration_args).validate()
        self._cache = CheckpointCache(cache_dir)
        self._export = export
        self._compress_device = compress_device
        self._storage = bool(storage)
        self._kick_info: dict[str, Any] = {"recipe": self._recipe.as_dict()}
        kwargs.setdefault("device", None)
        super().__init__(pretrained=pretrained, **kwargs)

    # ------------------------------------------------------------------ loading
    def _create_model(self, pretrained: str, revision: str | None = "main", dtype="auto",
                      trust_remote_code: bool | None = False, **kwargs: Any) -> None:
        checkpoint = pretrained
        if self._recipe.method not in ("dense", "none"):
            checkpoint = str(self._compressed_checkpoint(pretrained, revision, dtype, bool(trust_remote_code)))
        start = time.perf_counter()
        super()._create_model(checkpoint, revision=revision, dtype=dtype, trust_remote_code=trust_remote_code, **kwargs)
        self._kick_info["load_wall_s"] = round(time.perf_counter() - start, 3)
        self._kick_info["checkpoint"] = checkpoint
        if self._storage:
            from compressors.storage import summarize_folder

            self._kick_info["storage"] = summarize_folder(checkpoint)

    def _compressed_checkpoint(self, pretrained: str, revision, dtype, trust_remote_code: bool) -> Path:
        calibration = self._calibration.as_dict() if self._recipe.needs_calibration() else None
        entry = self._cache.entry(pretrained, revision, self._recipe.as_dict(), calibration)

        def build(staging: Path) -> dict[str, Any]:
            return self._compress_into(staging, pretrained, revision, dtype, trust_remote_code)

        record, hit = self._cache.get_or_build(entry, build)
        self._kick_info.update(
            calibration=calibration,
            compression=record.get("report"),
            cache={"entry": str(entry.path), "key": entry.key, "hit": hit},
        )
        logger.info("kick: %s compressed checkpoint %s", "cached" if hit else "new", entry.path)
        if self._export:
            self._kick_info["export"] = str(export_checkpoint(entry, self._export))
        return entry.path

    def _compress_into(self, staging: Path, pretrained: str, revision, dtype, trust_remote_code: bool) -> dict[str, Any]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from compressors.api import compress, save_checkpoint
        from compressors.calibration import calibration_tokens

        tokenizer = AutoTokenizer.from_pretrained(pretrained, revision=revision, trust_remote_code=trust_remote_code)
        # Calibration first: an unavailable source fails before the dense weights are read.
        calibration = calibration_tokens(tokenizer, self._calibration) if self._recipe.needs_calibration() else None
        model = AutoModelForCausalLM.from_pretrained(
            pretrained,
            revision=revision,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            low_cpu_mem_usage=True,
        )
        device = self._compress_device or ("cuda" if torch.cuda.is_available() else "cpu")
        report = compress(model, self._recipe, calibration, device=device)
        save_checkpoint(model, tokenizer, staging)
        del model
        gc.collect()
        return {
            "source": {"pretrained": pretrained, "revision": revision},
            "recipe": self._recipe.as_dict(),
            "calibration": self._calibration.as_dict() if calibration is not None else None,
            "report": report,
            "versions": library_versions(),
        }

    # --------------------------------------------------------------- provenance
    def get_model_info(self) -> dict:
        info = super().get_model_info()
        info["kick"] = {**self._kick_info, "versions": library_versions()}
        return info
