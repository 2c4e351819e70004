"""Versions of the libraries that determine a compressed model (cache keys, result metadata).

A module of its own, free of torch, so that the checkpoint cache and the storage analysis
can record versions without loading the compression stack.
"""

from __future__ import annotations

from importlib import metadata

VERSIONED = ("torch", "transformers", "llmcompressor", "compressed-tensors", "llm-kick")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions
