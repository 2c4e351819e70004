"""Text from command lines, grid files and environment variables cast to Python values.

One rule everywhere (``--model_args`` through lm-eval aside, which casts its own): integers,
then floats, then ``true``/``false`` (any case) to bool; anything else stays text.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TRUE_WORDS", "FALSE_WORDS", "cast", "parse_bool"]

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def cast(text: str) -> Any:
    """``"8"`` -> 8, ``"0.5"`` -> 0.5, ``"True"`` -> True, ``"2:4"`` -> ``"2:4"``."""
    if not isinstance(text, str):
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.strip().lower(), text)


def parse_bool(value: Any, name: str) -> bool:
    """A switch given as a bool or as text (``1/true/yes/on``, ``0/false/no/off``);
    ValueError naming ``name`` and the allowed words otherwise."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"{name}={value!r} is not a switch: give one of {sorted(TRUE_WORDS | FALSE_WORDS)}")
