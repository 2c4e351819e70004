"""LLM.int8() and NF4 through bitsandbytes: weights quantized while the model is loaded.

* ``int8`` – LLM.int8() (Dettmers, Lewis, Belkada & Zettlemoyer, "LLM.int8(): 8-bit Matrix
  Multiplication for Transformers at Scale", NeurIPS 2022): each weight row is quantized to
  int8 with its absmax scale (vector-wise quantization, Sec. 3.1); at run time the input
  features with an outlier (``|x| >= 6.0``, the threshold of Sec. 3.2) are multiplied in
  16-bit and the rest in int8 (mixed-precision decomposition, eq. 7).
* ``nf4`` – 4-bit NormalFloat (Dettmers, Pagnoni, Holtzman & Zettlemoyer, "QLoRA: Efficient
  Finetuning of Quantized LLMs", NeurIPS 2023, Sec. 3): blocks of 64 weights scaled by their
  absmax onto the 16 quantiles of a standard normal (eq. 4, with an exact 0), the block
  scales themselves quantized to 8 bits in blocks of 256 ("double quantization"), computed
  in the model's dtype. The paper's setting; bitsandbytes fixes the block size at 64.

bitsandbytes quantizes inside ``from_pretrained(..., quantization_config=BitsAndBytesConfig)``
and transformers saves and reloads the result (``quantization_config`` in ``config.json``),
so the cache, export and ``--model hf`` work as for the other methods. lm-eval's own
``load_in_4bit=True`` argument fails with transformers 5, hence the explicit config.

Where it runs: CUDA GPUs, and the CPU from bitsandbytes 0.46.1 (transformers 5's minimum):
checked here with torch 2.13 on the CPU, int8 and nf4 load and run with 0.46.1, 0.47.0,
0.48.2 and 0.50.2, and save and reload with 0.50.2; 0.45.5 has no CPU kernels ("Device type
not supported"). :func:`require` probes the device with a one-block quantization and says
what to install or which device to use.
"""

from __future__ import annotations

import re
from importlib import metadata

import torch

__all__ = ["INSTALL_HINT", "bnb_config", "quantize", "require"]

INSTALL_HINT = "pip install 'llm-kick[bnb]' (bitsandbytes>=0.46.1)"


def require(method: str, device: str | torch.device) -> str:
    """The bitsandbytes version, after checking that it imports and quantizes on ``device``;
    ImportError / RuntimeError with the fix otherwise."""
    try:
        import bitsandbytes.functional as bnb_functional
    except ImportError as err:
        raise ImportError(
            f"method={method!r} needs bitsandbytes, which is not installed ({err}): {INSTALL_HINT}; "
            "it runs on CUDA GPUs and, from bitsandbytes 0.46.1, on the CPU"
        ) from None
    device = torch.device(device)
    try:
        probe = torch.linspace(-1, 1, 64, dtype=torch.float16, device=device)
        if method == "nf4":
            bnb_functional.quantize_4bit(probe, blocksize=64, quant_type="nf4")
        else:
            bnb_functional.int8_vectorwise_quant(probe.reshape(1, -1))
    except Exception as err:  # noqa: BLE001 - any backend failure means the same to the user
        raise RuntimeError(
            f"bitsandbytes {metadata.version('bitsandbytes')} cannot run method={method!r} on "
            f"{device} ({type(err).__name__}: {err}): use a CUDA GPU (compress_device=cuda, "
            "device=cuda), or bitsandbytes>=0.46.1 for the CPU"
        ) from None
    return metadata.version("bitsandbytes")


def bnb_config(recipe, kept_dense: list[str], compute_dtype: torch.dtype):
    """transformers' ``BitsAndBytesConfig`` for an ``int8`` or ``nf4`` recipe; ``kept_dense``:
    exact names of the ``Linear`` modules left unquantized (transformers also keeps the LM
    head dense whatever is asked)."""
    from transformers import BitsAndBytesConfig

    # transformers matches these as regexes anchored at the start: anchor the end too.
    skip = [re.escape(name) + "$" for name in kept_dense] or None
    if recipe.quant_method == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=6.0, llm_int8_skip_modules=skip)
    if recipe.quant_method == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype, llm_int8_skip_modules=skip,
        )
    raise ValueError(f"method={recipe.method!r} is not a bitsandbytes method (int8, nf4)")


def quantize(model, linears, recipe, calibration=None, *, device, progress=True) -> dict:
    """Check that ``model`` was loaded with ``recipe``'s bitsandbytes config (the quantization
    happens while loading) and report it; ValueError saying how to load it otherwise."""
    config = getattr(model.config, "quantization_config", None)
    loaded = config.to_dict() if hasattr(config, "to_dict") else dict(config or {})
    want_8bit = recipe.quant_method == "int8"
    if loaded.get("quant_method") != "bitsandbytes" or bool(loaded.get("load_in_8bit")) != want_8bit or (
        not want_8bit and loaded.get("bnb_4bit_quant_type") != "nf4"
    ):
        raise ValueError(
            f"method={recipe.method!r} quantizes while loading: load the model with "
            "from_pretrained(..., quantization_config=compressors.quantization.bitsandbytes.bnb_config(...)) "
            "or use --model kick, which does"
        )
    quantized = [name for name, module in model.named_modules() if _is_bnb_linear(module)]
    return {
        "engine": f"bitsandbytes {metadata.version('bitsandbytes')} via transformers BitsAndBytesConfig",
        "device": str(next(model.parameters()).device),
        "quantized_layers": len(quantized),
        "options": {k: loaded[k] for k in sorted(loaded) if k.startswith(("bnb_4bit", "llm_int8_threshold"))},
    }


def _is_bnb_linear(module: torch.nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    return type(weight).__module__.startswith("bitsandbytes")
