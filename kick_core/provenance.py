"""Provenance: what a compressed checkpoint or a result was computed with.

* :func:`library_versions` – versions of the libraries that determine a compressed model
  (part of every cache key and result record);
* :data:`RECIPE_FILE` – the record written beside every compressed checkpoint (cache entry or
  export): the recipe, calibration, source and versions it was built from.

Free of torch, so that the checkpoint cache and the storage analysis can record versions
without loading the compression stack.
"""

from __future__ import annotations

from importlib import metadata

__all__ = ["RECIPE_FILE", "VERSIONED", "library_versions"]

RECIPE_FILE = "kick_recipe.json"
VERSIONED = ("torch", "transformers", "llmcompressor", "compressed-tensors", "llm-kick")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions
