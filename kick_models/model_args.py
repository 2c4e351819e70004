"""The ``--model_args`` of ``--model kick``: declared once, validated before anything loads.

lm-eval's ``hf`` model forwards unknown keys to ``from_pretrained``, where a typo fails far
from its cause, or not at all. ``kick`` accepts its own keys (:data:`KICK_OPTIONS`: the recipe
and calibration keys and ``preset`` of :mod:`compressors.options` and the model keys below), the keys of
lm-eval's ``HFLM`` (constructor and ``_create_model``) and a few common ``from_pretrained``
options, and rejects anything else with one line that names the key and the allowed ones.
:func:`markdown_table` and :func:`help_text` render :data:`KICK_OPTIONS` for the README and
``kick --help``.
"""

from __future__ import annotations

import inspect

from compressors.options import CALIBRATION_OPTIONS, PRESET_OPTIONS, RECIPE_OPTIONS, Option, options

# Keys of KickLM itself: where the checkpoint is cached or exported and how the model runs.
MODEL_OPTIONS = options(
    Option("cache_dir", str, "where compressed checkpoints are cached", shown="`~/.cache/llm-kick/checkpoints`"),
    Option("export", str, "also write the compressed checkpoint to this folder (safetensors + `config.json`, loads "
           "with `--model hf` and vLLM)"),
    Option("compress_device", str, "where compression runs (layer by layer, so a 70B model needs one layer's worth "
           "of GPU memory)", shown="`cuda` if available"),
    Option("storage", bool, "`true`: also measure how compressible the checkpoint is on disk and put it in the "
           "results", False),
    Option("cudnn_attention", bool, "`true`: let generation use PyTorch's cuDNN attention, which on Hopper costs "
           "close to a millisecond of CPU per layer and step (it plans every new shape); by default generation "
           "uses the flash / memory-efficient kernels", False),
)

KICK_OPTIONS: dict[str, Option] = {**RECIPE_OPTIONS, **CALIBRATION_OPTIONS, **PRESET_OPTIONS, **MODEL_OPTIONS}

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
    unknown = [k for k in kwargs if k not in KICK_OPTIONS and k not in allowed_hf]
    if unknown:
        raise ValueError(
            f"unknown --model_args key(s) {unknown} for --model kick; kick's own keys: "
            f"{sorted(KICK_OPTIONS)}; plus lm-eval hf keys: {sorted(allowed_hf)}"
        )


def markdown_table() -> str:
    """The README's ``--model kick`` arguments table: key, meaning, default."""
    rows = ["| key | meaning | default |", "|---|---|---|"]
    for option in KICK_OPTIONS.values():
        meaning, default = (text.replace("|", "\\|") for text in (option.help, option.default_text))
        rows.append(f"| `{option.name}` | {meaning} | {default} |")
    return "\n".join(rows)


def help_text(width: int = 100) -> str:
    """The same keys for ``kick --help``: each key and its help, wrapped."""
    import textwrap

    indent = " " * (max(map(len, KICK_OPTIONS)) + 4)
    lines = []
    for option in KICK_OPTIONS.values():
        text = f"{option.plain_help} (default: {option.plain_default})"
        lines.append(textwrap.fill(text, width, initial_indent=f"  {option.name:<{len(indent) - 4}}  ",
                                   subsequent_indent=indent))
    return "\n".join(lines)
