"""Which module applies each method of :data:`compressors.recipe.METHODS`.

A pruning module has ``prune(model, linears, recipe, calibration, *, device, progress) -> dict``,
a quantization module ``quantize(...)`` with the same arguments; either may have
``check_device(device)``, which refuses a device it cannot run on before any work.
:func:`compressors.api.compress` looks the method up here. ``dense`` has no engine: it does
nothing. The modules import llmcompressor only when they run, so importing this one costs
torch and no more.
"""

from __future__ import annotations

from types import ModuleType

from compressors.pruning import magnitude, sparsegpt, wanda
from compressors.quantization import awq, bitsandbytes, gptq, rtn

__all__ = ["ENGINES"]

ENGINES: dict[str, ModuleType] = {
    "magnitude": magnitude,
    "wanda": wanda,
    "sparsegpt": sparsegpt,
    "rtn": rtn,
    "gptq": gptq,
    "awq": awq,
    "int8": bitsandbytes,
    "nf4": bitsandbytes,
}
