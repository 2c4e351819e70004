"""Build a compressed checkpoint, or take it from the cache: the one path every entry point uses.

``--model kick`` (:mod:`kick_models.kick_lm`), ``--model kick_vllm``
(:mod:`kick_models.kick_vllm`), ``kick storage kick:<model_args>`` and ``kick sweep`` all reach
compressed weights through :func:`compressed_checkpoint` (the two lm-eval models through
:func:`resolve_checkpoint`), so a recipe compressed once is reused everywhere.

:func:`check_request` is the one early validation pass: the source (a local folder that
exists, whole safetensors files, no pickle-only weights), ``dtype``, ``compress_device``, the
cache and export folders, and the recipe and calibration against the source's config on the
meta device (no weight read). Each failure is one ``ValueError`` line naming the value and
the fix, raised before any weight is read or compressed.
"""

from __future__ import annotations

import gc
import json
import logging
import os
from pathlib import Path
from typing import Any

from compressors.arithmetic import weight_arithmetic
from compressors.options import CALIBRATION_OPTIONS, RECIPE_OPTIONS, expand_preset
from kick_core.provenance import library_versions
from kick_models.checkpoint_cache import CacheEntry, CheckpointCache, check_export_target, export_checkpoint

# Under lm-eval's logger, so that ``lm_eval --verbosity`` shows it (lm-eval gives only its own
# logger a handler).
logger = logging.getLogger("lm_eval.models.kick")


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
    """Whether ``recipe`` changes the weights (a Recipe spells ``none`` as ``dense``)."""
    return recipe.method != "dense"


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
    check_request(pretrained, recipe, calibration, revision=revision, dtype=dtype, trust_remote_code=trust_remote_code,
                  compress_device=compress_device, cache=cache)
    if recipe.on_load:  # bitsandbytes is needed to build and to load the checkpoint: fail now
        from compressors.quantization.bitsandbytes import require

        require(recipe.quant_method, _default_device(compress_device))
    calibration_key = calibration.cache_key() if recipe.needs_calibration() else None
    entry = cache.entry(pretrained, revision, recipe.as_dict(), calibration_key, dtype, weight_arithmetic(recipe))

    def build(staging: Path) -> dict[str, Any]:
        return _compress_into(staging, pretrained, recipe, calibration, revision, dtype, trust_remote_code, compress_device)

    record, hit = cache.get_or_build(entry, build)
    return entry, record, hit


def resolve_checkpoint(pretrained: str, recipe, calibration, cache: CheckpointCache, *, export: str | None = None,
                       **options: Any) -> tuple[str, dict[str, Any]]:
    """``(folder, info)``: what an lm-eval model loads for ``pretrained`` under ``recipe`` and
    what its results record of it. A dense recipe loads ``pretrained`` itself; any other, the
    cached compressed checkpoint (built on a miss; copied to ``export`` when given), with its
    calibration, compression report and cache entry in ``info``. ``options``: those of
    :func:`compressed_checkpoint` (revision, dtype, trust_remote_code, compress_device)."""
    if not needs_compression(recipe):
        return pretrained, {}
    entry, record, hit = compressed_checkpoint(pretrained, recipe, calibration, cache, **options)
    info = {"calibration": record.get("calibration"), "compression": record.get("report"),
            "cache": {"entry": str(entry.path), "key": entry.key, "hit": hit}}
    # One line per process: under ``accelerate launch`` one rank compresses, the others wait on
    # the cache's lock and load its checkpoint ("cached").
    logger.info("kick: rank %s: %s compressed checkpoint %s", os.environ.get("RANK", "0"), "cached" if hit else "new",
                entry.path)
    if export:
        info["export"] = str(export_checkpoint(entry, export, cache))
    return str(entry.path), info


def _default_device(compress_device: str | None) -> str:
    import torch

    return compress_device or ("cuda" if torch.cuda.is_available() else "cpu")


def check_request(pretrained: str, recipe, calibration, *, revision: str | None = "main", dtype: Any = "auto",
                  trust_remote_code: bool = False, compress_device: str | None = None,
                  cache: CheckpointCache | None = None, export: str | None = None) -> None:
    """Every check that needs no weight: see the module docs. ``recipe=None``: the source is
    evaluated as it is (``method=none``), so only the source and ``dtype`` are checked."""
    check_pretrained(pretrained)
    check_dtype(dtype)
    if recipe is None or not needs_compression(recipe):
        return
    check_compress_device(compress_device)
    if cache is not None:
        cache.check_writable()
    if export is not None:
        check_export_target(export)
    _check_source(pretrained, recipe, revision, dtype, trust_remote_code, calibration)


def looks_local(pretrained: str) -> bool:
    """A path rather than a hub id (``org/name`` has one slash and no leading ``/ . ~``)."""
    return pretrained.startswith(("/", ".", "~")) or pretrained.count("/") > 1 or os.sep != "/" and os.sep in pretrained


def check_pretrained(pretrained: str) -> None:
    """A local source must be a folder of whole safetensors files (weights are never unpickled
    by llm-kick: a ``.bin``-only folder is refused rather than handed to ``torch.load``)."""
    folder = Path(pretrained).expanduser()
    if not folder.exists():
        if looks_local(pretrained):
            raise ValueError(f"pretrained={pretrained!r}: no such folder; give an existing model folder or a hub id "
                             "(org/name)")
        return  # a hub id: the config check below says when it cannot be read
    if not folder.is_dir():
        raise ValueError(f"pretrained={pretrained!r} is a file; give the model's folder (config.json + *.safetensors)")
    weights = sorted(folder.glob("*.safetensors"))
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".pkl"})
    if not weights and pickles:
        raise ValueError(
            f"pretrained={pretrained!r} holds only pickle weights {pickles}; llm-kick reads safetensors only: convert "
            "once with AutoModelForCausalLM.from_pretrained(folder).save_pretrained(new_folder)"
        )
    if not (folder / "config.json").is_file():
        raise ValueError(f"pretrained={pretrained!r} has no config.json; give a Hugging Face model folder")
    for path in weights:
        check_safetensors(path)


def check_safetensors(path: Path) -> None:
    """A safetensors file whose size is what its header describes (truncated or damaged
    files otherwise fail deep inside loading, without their name)."""
    size = path.stat().st_size
    fix = "re-download or re-convert the model"
    with open(path, "rb") as handle:
        head = handle.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if length < 0 or 8 + length > size:
            raise ValueError(f"weights file {str(path)!r} is truncated or not safetensors ({size} bytes); {fix}")
        try:
            header = json.loads(handle.read(length))
            end = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            raise ValueError(f"weights file {str(path)!r} has a damaged safetensors header; {fix}") from None
    if 8 + length + end != size:
        raise ValueError(f"weights file {str(path)!r} has {size} bytes but its header describes {8 + length + end} "
                         f"(truncated or damaged); {fix}")


def check_dtype(dtype: Any) -> None:
    import torch

    if dtype in (None, "auto") or isinstance(dtype, torch.dtype):
        return
    name = str(dtype).removeprefix("torch.")
    if not isinstance(getattr(torch, name, None), torch.dtype):
        raise ValueError(f"dtype={dtype!r} is not a torch dtype: use auto, float32, bfloat16 or float16")


def check_compress_device(compress_device: str | None) -> None:
    import torch

    if compress_device is None:
        return
    try:
        device = torch.device(compress_device)
    except (RuntimeError, TypeError):
        raise ValueError(f"compress_device={compress_device!r} is not a device: use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"compress_device={compress_device!r} but CUDA is not available here: use "
                             "compress_device=cpu")
        if device.index is not None and device.index >= count:
            raise ValueError(f"compress_device={compress_device!r} but this machine has {count} CUDA device(s): use "
                             f"cuda:0..cuda:{count - 1}")


def _compress_into(staging: Path, pretrained: str, recipe, calibration, revision, dtype, trust_remote_code: bool,
                   compress_device: str | None) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from compressors.api import check_device, compress, save_checkpoint
    from compressors.calibration import calibration_tokens

    # Device and shapes first (a model on the meta device): an AWQ run without CUDA or a bad
    # group size fails before anything is read.
    device = _default_device(compress_device)
    check_device(recipe, device)
    load_kwargs = _check_source(pretrained, recipe, revision, dtype, trust_remote_code, calibration)
    tokenizer = AutoTokenizer.from_pretrained(pretrained, revision=revision, trust_remote_code=trust_remote_code)
    # Calibration next: an unavailable source fails before the dense weights are read.
    tokens = calibration_tokens(tokenizer, calibration) if recipe.needs_calibration() else None
    model = AutoModelForCausalLM.from_pretrained(
        pretrained, revision=revision, dtype=dtype, trust_remote_code=trust_remote_code, low_cpu_mem_usage=True,
        use_safetensors=True, **load_kwargs,
    )
    report = compress(model, recipe, tokens, device=device)
    save_checkpoint(model, tokenizer, staging)
    del model
    gc.collect()
    return {
        "source": {"pretrained": str(Path(pretrained).expanduser().resolve()) if Path(pretrained).expanduser().is_dir()
                   else pretrained, "revision": revision},
        "recipe": recipe.as_dict(),
        "calibration": calibration.as_dict() if tokens is not None else None,
        "report": report,
        "versions": library_versions(),
    }


def _check_source(pretrained: str, recipe, revision, dtype, trust_remote_code: bool, calibration=None) -> dict[str, Any]:
    """Check ``recipe`` (and ``calibration``'s window length) against the source model's config
    and layer shapes, built on the meta device (no weights read), and refuse a source that is
    already quantized; return the extra ``from_pretrained`` arguments (the bitsandbytes config
    of int8 / nf4)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from compressors.api import check_group_size, check_targets
    from compressors.pruning.targets import select_linears
    from compressors.quantization.describe import describe_quantization

    try:
        config = AutoConfig.from_pretrained(pretrained, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ValueError(f"pretrained={pretrained!r}: its config cannot be read ({reason}); give a local model folder, "
                         "or a hub id that is in the local hub cache when offline") from None
    if calibration is not None and recipe.needs_calibration():
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        if isinstance(limit, int) and calibration.seqlen > limit:
            raise ValueError(f"seqlen={calibration.seqlen} is longer than the {limit} positions {pretrained} can see "
                             f"(max_position_embeddings); give seqlen={limit} or less")
    existing = describe_quantization(config)
    if existing is not None:
        raise ValueError(
            f"{pretrained} is already quantized ({existing['quant_method']}, {existing.get('scheme')}): evaluate it "
            f"as it is with method=none, or compress its unquantized original with method={recipe.method}"
        )
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    check_targets(model, recipe, f"pretrained={pretrained!r}")
    check_group_size(model, recipe)
    if not recipe.on_load:
        return {}
    from compressors.quantization.bitsandbytes import bnb_config

    compute = getattr(config, "dtype", None) if dtype in (None, "auto") else dtype  # the dtype weights load in
    compute = (getattr(torch, compute) if isinstance(compute, str) else compute) or torch.float32
    return {"quantization_config": bnb_config(recipe, select_linears(model, recipe.ignore)[1], compute)}
