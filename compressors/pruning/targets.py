"""Which modules a recipe prunes: every ``torch.nn.Linear`` whose name no ``ignore`` pattern
matches. Embeddings and norms are not ``Linear`` and are never pruned; the LM head is a
``Linear`` and is kept dense by the default ``ignore=("lm_head",)``.

Pattern syntax (as documented on :class:`compressors.recipe.Recipe`): a plain pattern matches
a name equal to it or ending with ``.<pattern>``; ``re:<regex>`` uses :func:`re.match` on the
qualified name, like llmcompressor's and compressed-tensors' ``re:`` targets.
"""

from __future__ import annotations

import re

import torch

__all__ = ["check_prunable", "matches", "select_linears"]


def matches(name: str, pattern: str) -> bool:
    if pattern.startswith("re:"):
        return re.match(pattern[3:], name) is not None
    return name == pattern or name.endswith("." + pattern)


def select_linears(model: torch.nn.Module, ignore) -> tuple[dict[str, torch.nn.Linear], list[str]]:
    """``({name: Linear} pruned, [names of Linears kept dense by ignore])`` in model order."""
    pruned, skipped = {}, []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            if any(matches(name, pattern) for pattern in ignore):
                skipped.append(name)
            else:
                pruned[name] = module
    return pruned, skipped


def check_prunable(model: torch.nn.Module, linears: dict[str, torch.nn.Linear], nm) -> None:
    """Raise ValueError for a selection that cannot be pruned as asked."""
    if not linears:
        raise ValueError("the recipe's ignore patterns leave no Linear module to prune")
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    for name, module in linears.items():
        if embeddings is not None and module.weight is getattr(embeddings, "weight", None):
            raise ValueError(
                f"{name} shares its weight with the input embeddings (tied word embeddings): "
                "pruning it would prune the embeddings too; keep it in ignore (e.g. 'lm_head')"
            )
        if module.weight.device.type == "meta":
            raise ValueError(f"{name} has no weights in memory (meta device): load the model fully first")
        if nm is not None and module.in_features % nm[1]:
            raise ValueError(
                f"{name} has {module.in_features} inputs, not a multiple of M={nm[1]} of the "
                f"{nm[0]}:{nm[1]} pattern; choose another pattern or add it to ignore"
            )
