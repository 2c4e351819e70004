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

What was evaluated — recipe, calibration, measured sparsity, quantization (bits, group size,
grid, format, read back from the loaded checkpoint's ``quantization_config``), the measured
bytes of the weights in memory after loading and when the results are written (compressed-
tensors decompresses a layer on its first forward on the CPU), library versions, compression
and load wall time, cache entry — goes into ``get_model_info()``, which lm-eval writes into
the ``config`` of its results file, so a result file alone says what model it scored.

Generation runs PyTorch's attention without its cuDNN backend (``cudnn_attention=true`` puts it
back): see :meth:`KickLM._model_generate`.

``method=none`` (or ``dense``) evaluates ``pretrained`` as it is: an already quantized folder
(compressed-tensors; GPTQ or AWQ format with the ``gptq`` extra; bitsandbytes) loads through
transformers and is described the same way.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any

from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from torch.nn.attention import SDPBackend, sdpa_kernel

from compressors.quantization.describe import describe_quantization
from compressors.quantization.memory import weight_memory
from kick_core.provenance import library_versions
from kick_models.checkpoint_cache import CheckpointCache
from kick_models.compressed_checkpoint import check_request, needs_compression, resolve_checkpoint, split_model_args
from kick_models.model_args import check_keys
from kick_tasks import data

# Every attention backend of PyTorch's scaled_dot_product_attention but cuDNN's.
WITHOUT_CUDNN = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH, SDPBackend.OVERRIDEABLE]


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
        cudnn_attention: bool = False,
        **kwargs: Any,
    ) -> None:
        check_keys(kwargs)
        if not isinstance(pretrained, str):
            raise TypeError("--model kick needs pretrained=<hub id or folder>; pass an in-memory model to --model hf")
        self._recipe, self._calibration = split_model_args(kwargs)
        self._cache = CheckpointCache(cache_dir)
        # Before HFLM reads the config and tokenizer: every check that needs no weight.
        check_request(pretrained, self._recipe, self._calibration, revision=kwargs.get("revision") or "main",
                      dtype=kwargs.get("dtype", "auto"), trust_remote_code=bool(kwargs.get("trust_remote_code")),
                      compress_device=compress_device, cache=self._cache, export=export)
        self._export = export
        self._compress_device = compress_device
        self._storage = bool(storage)
        self._cudnn_attention = bool(cudnn_attention)
        self._kick_info: dict[str, Any] = {"recipe": self._recipe.as_dict()}
        kwargs.setdefault("device", None)
        super().__init__(pretrained=pretrained, **kwargs)

    # ------------------------------------------------------------------ loading
    def _create_model(self, pretrained: str, revision: str | None = "main", dtype="auto",
                      trust_remote_code: bool | None = False, **kwargs: Any) -> None:
        if not needs_compression(self._recipe):
            from compressors.quantization.external import require_loader

            require_loader(describe_quantization(self.config), str(self.device))
        checkpoint, info = resolve_checkpoint(
            pretrained, self._recipe, self._calibration, self._cache, revision=revision, dtype=dtype,
            trust_remote_code=bool(trust_remote_code), compress_device=self._compress_device, export=self._export,
        )
        self._kick_info.update(info)
        if checkpoint != pretrained:
            # HFLM passes the quantization_config of the *source* model's config, None for a
            # dense one, and transformers 5 loads a quantized folder as if unquantized (fresh
            # random weights) when given quantization_config=None: pass the checkpoint's own.
            kwargs["quantization_config"] = _quantization_config(checkpoint, trust_remote_code)
        start = time.perf_counter()
        super()._create_model(checkpoint, revision=revision, dtype=dtype, trust_remote_code=trust_remote_code, **kwargs)
        self._kick_info["load_wall_s"] = round(time.perf_counter() - start, 3)
        self._kick_info["checkpoint"] = checkpoint
        self._kick_info["quantization"] = describe_quantization(self._model.config)
        self._kick_info["memory"] = {"after_load": weight_memory(self._model)}
        if self._storage:
            from compressors.storage import summarize_folder

            self._kick_info["storage"] = summarize_folder(local_folder(checkpoint, revision))

    # --------------------------------------------------------------- generation
    def _model_generate(self, context, max_length: int, stop: list[str], **generation_kwargs):
        """HFLM's generation, with PyTorch's cuDNN attention left out unless
        ``cudnn_attention=true``.

        Generation passes SDPA a padding mask, which rules out flash attention, and PyTorch
        (2.11, Hopper) then prefers cuDNN over its memory-efficient kernel. cuDNN plans each new
        shape, and a decoding step is a new key length, so on a GPU its planning costs more CPU
        time per step than the attention itself takes on the GPU (measured in bench/RESULTS.md).
        Log-likelihood batches carry no mask and run flash attention either way."""
        with nullcontext() if self._cudnn_attention else sdpa_kernel(WITHOUT_CUDNN):
            return super()._model_generate(context, max_length, stop, **generation_kwargs)

    # --------------------------------------------------------------- provenance
    def get_model_info(self) -> dict:
        info = super().get_model_info()
        memory = {**self._kick_info.get("memory", {}), "at_results": weight_memory(self._model)}
        info["kick"] = {**self._kick_info, "memory": memory, "versions": library_versions(),
                        "generation_attention": "sdpa" if self._cudnn_attention else "sdpa without cuDNN",
                        # the data files and hub datasets the tasks of this run read
                        "data": data.sources_read()}
        return info


def _quantization_config(folder: str, trust_remote_code: bool | None):
    """The ``quantization_config`` of a local checkpoint as transformers' config object, or None."""
    from transformers import AutoConfig
    from transformers.quantizers import AutoQuantizationConfig

    quant = getattr(AutoConfig.from_pretrained(folder, trust_remote_code=bool(trust_remote_code)), "quantization_config", None)
    return AutoQuantizationConfig.from_dict(quant) if isinstance(quant, dict) else quant


def local_folder(checkpoint: str, revision: str | None) -> str:
    """A local folder for ``checkpoint``: itself, or its snapshot in the Hugging Face cache."""
    from pathlib import Path

    if Path(checkpoint).is_dir():
        return checkpoint
    from huggingface_hub import snapshot_download

    return snapshot_download(checkpoint, revision=revision, local_files_only=True)
