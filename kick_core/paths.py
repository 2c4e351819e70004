"""Where llm-kick keeps what it caches (compressed checkpoints, judge replies, converted models)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """``$LLM_KICK_CACHE`` or ``$XDG_CACHE_HOME/llm-kick`` (default ``~/.cache/llm-kick``)."""
    if os.environ.get("LLM_KICK_CACHE"):
        return Path(os.environ["LLM_KICK_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "llm-kick"
