"""``--model kick_vllm``: the checkpoint ``--model kick`` evaluates, run by lm-eval's vLLM backend.

    lm_eval --model kick_vllm \\
        --model_args pretrained=<hub id or folder>,method=gptq,bits=4,group_size=128,calibration=builtin \\
        --tasks kick_factoid_qa --batch_size auto

:class:`KickVLLM` subclasses lm-eval's ``VLLM`` (``lm_eval.models.vllm_causallms``) as
:class:`~kick_models.kick_lm.KickLM` subclasses ``HFLM``: the recipe, calibration and cache
keys are kick's (:mod:`kick_models.model_args`); the checkpoint comes from
:func:`~kick_models.compressed_checkpoint.resolve_checkpoint`, with the same cache key as
``--model kick``, so a recipe compressed for one backend serves the other; every other key goes
to ``VLLM`` (``dtype``, ``gpu_memory_utilization``, ``tensor_parallel_size``, ``max_model_len``,
...). Quantized checkpoints are compressed-tensors ``pack-quantized`` (W4A16, W8A16), which
vLLM runs with its own mixed-precision kernels. Pruned checkpoints (unstructured or 2:4) hold
their zeros in dense weights and load in vLLM as dense weights: sparsity changes the scores,
not the speed. bitsandbytes recipes (``int8``, ``nf4``) quantize while transformers loads and
leave no checkpoint for vLLM: refused.

Without the vllm package, importing this module (which ``--model kick_vllm`` does first) fails
with one line that says so, before any weight is read.
"""

from __future__ import annotations

from typing import Any

from lm_eval.api.registry import register_model

from kick_core.provenance import library_versions
from kick_models.checkpoint_cache import CheckpointCache
from kick_models.compressed_checkpoint import check_request, resolve_checkpoint, split_model_args
from kick_models.engines import VLLM_MISSING
from kick_models.model_args import MODEL_OPTIONS
from kick_tasks import data

try:
    from lm_eval.models.vllm_causallms import VLLM
except ModuleNotFoundError as err:  # lm-eval's module imports vllm at its top
    if (err.name or "").split(".")[0] != "vllm":
        raise
    raise ModuleNotFoundError(VLLM_MISSING) from None

# kick's model keys that mean something to an HF model only
HF_ONLY = sorted(set(MODEL_OPTIONS) - {"cache_dir", "export", "compress_device"})


@register_model("kick_vllm")
class KickVLLM(VLLM):
    """lm-eval ``VLLM`` on the compressed checkpoint of ``--model kick`` (cached)."""

    def __init__(self, pretrained: str, cache_dir: str | None = None, export: str | None = None,
                 compress_device: str | None = None, **kwargs: Any) -> None:
        if not isinstance(pretrained, str):
            raise TypeError("--model kick_vllm needs pretrained=<hub id or folder>")
        stray = [key for key in HF_ONLY if key in kwargs]
        if stray:
            raise ValueError(f"--model_args {stray} of --model kick have no meaning for --model kick_vllm (vLLM); "
                             "drop them, or evaluate with --model kick")
        recipe, calibration = split_model_args(kwargs)
        if recipe.on_load:
            raise ValueError(f"method={recipe.method} quantizes through bitsandbytes while transformers loads the "
                             "model and leaves no checkpoint for vLLM: evaluate it with --model kick")
        revision, dtype = kwargs.get("revision") or "main", kwargs.get("dtype", "auto")
        trust_remote_code = bool(kwargs.get("trust_remote_code"))
        cache = CheckpointCache(cache_dir)
        check_request(pretrained, recipe, calibration, revision=revision, dtype=dtype,
                      trust_remote_code=trust_remote_code, compress_device=compress_device, cache=cache, export=export)
        checkpoint, info = resolve_checkpoint(pretrained, recipe, calibration, cache, revision=revision, dtype=dtype,
                                              trust_remote_code=trust_remote_code, compress_device=compress_device,
                                              export=export)
        self._kick_info: dict[str, Any] = {"recipe": recipe.as_dict(), **info, "checkpoint": checkpoint,
                                           "engine": "vllm"}
        if checkpoint != pretrained:
            kwargs.pop("revision", None)  # the cache folder is local: the source's revision is in its key
        super().__init__(pretrained=checkpoint, **kwargs)

    def get_model_info(self) -> dict:
        """What was evaluated, as ``--model kick`` records it (lm-eval writes it into the results'
        ``config``); vLLM's own version is among the library versions."""
        return {"kick": {**self._kick_info, "versions": {**library_versions(), "vllm": _vllm_version()},
                         "data": data.sources_read()}}


def _vllm_version() -> str:
    from importlib.metadata import version

    return version("vllm")
