"""Names derived from user input: file-system-safe slugs and short model names."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["model_name", "slug"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def slug(text: str, *, max_length: int | None = None) -> str:
    """``text`` as one path component: each run of characters outside ``A-Za-z0-9._+-``
    becomes ``-``, leading/trailing ``-`` dropped (``"2:4"`` -> ``"2-4"``,
    ``"sparsegpt+gptq"`` unchanged); ``"_"`` for an empty result; cut to ``max_length``."""
    out = _UNSAFE.sub("-", str(text)).strip("-")
    if max_length is not None:
        out = out[:max_length].rstrip("-")
    return out or "_"


def model_name(pretrained: str) -> str:
    """What a user calls a model: a local folder's name (``/models/SmolLM2/`` -> ``SmolLM2``),
    or the hub id as given (``meta-llama/Llama-2-7b-hf``)."""
    text = str(pretrained).rstrip("/")
    path = Path(text).expanduser()
    if text.startswith(("/", ".", "~")) or path.is_dir():
        return path.name or text
    return text
