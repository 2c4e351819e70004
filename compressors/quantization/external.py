"""Checkpoints quantized by other tools (``method=none``): what loading them needs.

transformers 5 loads GPTQ-format checkpoints (AutoGPTQ / GPTQModel / optimum) and AutoAWQ
checkpoints through GPTQModel, GPTQ also through optimum; AutoGPTQ no longer imports with
transformers 5. Found on this project's CPU machine (torch 2.13, transformers 5.17):
``gptqmodel==7.6.0`` with ``optimum`` 2.3 installs beside llmcompressor and loads (and
quantizes) GPTQ checkpoints on the CPU, while a plain ``pip install gptqmodel`` takes 7.7,
which replaces torch with a CUDA 13 build. compressed-tensors checkpoints need nothing more;
bitsandbytes ones need bitsandbytes (:mod:`.bitsandbytes`).

:func:`require_loader` turns transformers' late, generic ImportError into an early one that
names the versions that work.
"""

from __future__ import annotations

import importlib.util

__all__ = ["GPTQ_HINT", "require_loader"]

GPTQ_HINT = (
    "pip install gptqmodel==7.6.0 'optimum>=2.3' (pin gptqmodel: a plain `pip install gptqmodel` "
    "takes 7.7, which replaces torch with a CUDA build)"
)


def require_loader(description: dict | None, device: str) -> None:
    """ImportError (or the bitsandbytes device error) if the library that loads a checkpoint
    with this :func:`~.describe.describe_quantization` is missing."""
    method = (description or {}).get("quant_method")
    needs = {"gptq": ("gptqmodel", "optimum"), "awq": ("gptqmodel",)}.get(method, ())
    missing = [name for name in needs if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"loading a {method.upper()} checkpoint needs {' and '.join(missing)}: {GPTQ_HINT}")
    if method == "bitsandbytes":
        from compressors.quantization.bitsandbytes import require

        require("int8" if description.get("bits") == 8 else "nf4", device)
