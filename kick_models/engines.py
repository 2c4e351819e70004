"""Which lm-eval model evaluates a kick checkpoint, and whether it can run here.

``hf``: ``--model kick`` (:mod:`kick_models.kick_lm`, lm-eval's ``HFLM``); ``vllm``:
``--model kick_vllm`` (:mod:`kick_models.kick_vllm`, lm-eval's ``VLLM``). Both take the same
recipe and calibration keys and share the compressed-checkpoint cache.
"""

from __future__ import annotations

from importlib.util import find_spec

ENGINES = {"hf": "kick", "vllm": "kick_vllm"}

VLLM_MISSING = (
    "--model kick_vllm (kick sweep --engine vllm) runs lm-eval's vLLM backend, and the vllm package is not "
    "installed here: install vllm (a CUDA build matching this torch) beside lm-eval, or evaluate through "
    "Hugging Face with --model kick (kick sweep --engine hf), which takes the same model args"
)


def lm_eval_model(engine: str) -> str:
    """The lm-eval model name of ``engine``; one clear error for an unknown engine, or for
    ``vllm`` where the vllm package is missing (before any weight is read)."""
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is not allowed: give one of {', '.join(ENGINES)}")
    if engine == "vllm" and find_spec("vllm") is None:
        raise ModuleNotFoundError(VLLM_MISSING)
    return ENGINES[engine]
