"""Validation of ``--model_args`` for ``--model kick``.

lm-eval's ``hf`` model forwards unknown keys to ``from_pretrained``, where a typo fails far
from its cause, or not at all. ``kick`` accepts its own keys, the keys of lm-eval's ``HFLM``
(constructor and ``_create_model``) and a few common ``from_pretrained`` options, and rejects
anything else with one line that names the key and the allowed ones.
"""

from __future__ import annotations

import inspect

KICK_ARGS = {
    "method": "dense | none | magnitude | wanda | sparsegpt | rtn | gptq | awq | int8 | nf4 | <pruning>+<rtn|gptq|awq>",
    "sparsity": "fraction of weights pruned per layer, 0 <= s < 1",
    "pattern": "unstructured or N:M (e.g. 2:4)",
    "scope": "comparison group: layer | row | global (magnitude), row (wanda), block (sparsegpt)",
    "bits": "weight bits: 2, 3, 4, 8 (rtn, gptq), 4 (awq, nf4), 8 (int8)",
    "group_size": "weights per scale along the input (128; -1: per output channel; nf4: 64)",
    "symmetric": "true: grid s*q; false: s*(q - z) with a zero point (rtn/gptq true, awq false)",
    "act_order": "GPTQ: quantize columns by decreasing activation (true)",
    "calibration": "c4 | wikitext2 | builtin | random | path to .txt/.jsonl/.json",
    "nsamples": "calibration sequences (128)",
    "seqlen": "calibration tokens per sequence (2048)",
    "seed": "calibration sampling seed (0)",
    "cache_dir": "folder of cached compressed checkpoints",
    "export": "folder to write the compressed checkpoint to (for --model hf / vLLM)",
    "compress_device": "device for compression (default: cuda if available, else cpu)",
    "storage": "true: attach the on-disk compressibility summary to the results",
    "cudnn_attention": "true: generation may use PyTorch's cuDNN attention (default false: it plans each new shape, ~0.8 ms CPU per layer and step on Hopper)",
}

FROM_PRETRAINED_ARGS = {"attn_implementation", "device_map", "low_cpu_mem_usage", "use_safetensors", "local_files_only"}


def hflm_args() -> set[str]:
    from lm_eval.models.huggingface import HFLM

    names = set()
    for fn in (HFLM.__init__, HFLM._create_model):
        for name, param in inspect.signature(fn).parameters.items():
            if name != "self" and param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                names.add(name)
    return names | FROM_PRETRAINED_ARGS


def check_keys(kwargs: dict) -> None:
    """Raise ``ValueError`` for a key that neither kick nor lm-eval's HFLM understands."""
    allowed_hf = hflm_args()
    unknown = [k for k in kwargs if k not in KICK_ARGS and k not in allowed_hf]
    if unknown:
        raise ValueError(
            f"unknown --model_args key(s) {unknown} for --model kick; kick's own keys: "
            f"{sorted(KICK_ARGS)}; plus lm-eval hf keys: {sorted(allowed_hf)}"
        )
