"""A cache of compressed checkpoints, keyed by everything that determines them.

An entry is a Hugging Face folder (safetensors only) plus ``kick_recipe.json``. Its key is
the SHA-256 of: the source model (hub id and revision, or a local folder's absolute path and
a fingerprint of its files), the compression recipe, the calibration settings, and the
versions of the libraries that compute it (torch, transformers, llmcompressor,
compressed-tensors, llm-kick). Change any of them and the entry is rebuilt.

Entries are built in a temporary sibling folder and renamed into place only when complete
(:func:`kick_core.atomic.atomic_folder`): a run killed half way leaves a ``.partial-*`` folder that
is never trusted and is removed by the next run. A file lock makes concurrent processes
(e.g. data-parallel ranks under ``accelerate launch``) build an entry once and share it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from kick_core.atomic import atomic_folder, atomic_write_json
from kick_core.names import slug
from kick_core.paths import cache_root
from kick_core.provenance import RECIPE_FILE, library_versions
STALE_PARTIAL_S = 600  # a .partial-* folder untouched this long belongs to a dead run


def source_fingerprint(pretrained: str, revision: str | None) -> dict[str, Any]:
    """What identifies the source weights: hub id + revision, or a local folder's files."""
    folder = Path(pretrained).expanduser()
    if not folder.is_dir():
        return {"hub_id": pretrained, "revision": revision or "main"}
    files = sorted(
        (p.name, p.stat().st_size, int(p.stat().st_mtime))
        for p in folder.iterdir()
        if p.is_file() and p.suffix in {".safetensors", ".json", ".bin"}
    )
    return {"path": str(folder.resolve()), "files": files}


@dataclass(frozen=True)
class CacheEntry:
    key: str
    path: Path

    @property
    def complete(self) -> bool:
        return (self.path / RECIPE_FILE).is_file() and (self.path / "config.json").is_file()

    def record(self) -> dict[str, Any]:
        return json.loads((self.path / RECIPE_FILE).read_text())


class CheckpointCache:
    """Folder of compressed checkpoints: ``<root>/<model>--<recipe>--<key16>/``.

    The key alone identifies an entry; the model and recipe in the name are for people. An
    entry is found by its key whatever the rest of its name says, so entries named under an
    older naming rule (before llm-kick's one slug rule, ``kick_core.names.slug``) are still
    used, not rebuilt."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root else cache_root() / "checkpoints"

    def entry(self, pretrained: str, revision: str | None, recipe: dict, calibration: dict | None,
              dtype: str | None = None) -> CacheEntry:
        """``dtype``: the dtype the source is loaded and compressed in, when not its own
        (``None`` or ``"auto"``): a float32 build and a bf16 build are different files."""
        material = {
            "source": source_fingerprint(pretrained, revision),
            "recipe": recipe,
            "calibration": calibration,
            "versions": library_versions(),
        }
        if dtype not in (None, "auto"):
            material["dtype"] = str(dtype).removeprefix("torch.")
        key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
        model = slug(Path(pretrained.rstrip("/")).name, max_length=60)
        label = slug("-".join(str(v) for v in recipe.values() if v not in (None, "", ())), max_length=60)
        named = sorted(p for p in self.root.glob(f"*--{key[:16]}") if p.is_dir()) if self.root.is_dir() else []
        return CacheEntry(key=key, path=named[0] if named else self.root / f"{model}--{label}--{key[:16]}")

    @contextmanager
    def _lock(self, entry: CacheEntry):
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{entry.key[:16]}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _remove_stale_partials(self, entry: CacheEntry) -> None:
        for partial in self.root.glob(f".{entry.path.name}.partial-*"):
            if time.time() - partial.stat().st_mtime > STALE_PARTIAL_S:
                shutil.rmtree(partial, ignore_errors=True)

    def get_or_build(self, entry: CacheEntry, build: Callable[[Path], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """Return ``(record, hit)``; on a miss ``build(staging_folder)`` writes the checkpoint
        and returns the record stored as ``kick_recipe.json``."""
        with self._lock(entry):
            if entry.complete:
                return entry.record(), True
            if entry.path.exists():  # incomplete leftovers of an older layout: rebuild
                shutil.rmtree(entry.path)
            self._remove_stale_partials(entry)
            with atomic_folder(entry.path) as staging:
                record = {"key": entry.key, **build(staging)}
                atomic_write_json(staging / RECIPE_FILE, record, indent=2, sort_keys=True)
            return record, False


def export_checkpoint(entry: CacheEntry, target: str | os.PathLike) -> Path:
    """Copy a complete cache entry to ``target`` atomically (a plain HF folder for ``--model hf``/vLLM)."""
    target = Path(target).expanduser()
    if (target / RECIPE_FILE).is_file():
        if json.loads((target / RECIPE_FILE).read_text()).get("key") == entry.key:
            return target  # already exported
        raise FileExistsError(
            f"export folder {str(target)!r} already holds a different llm-kick checkpoint; "
            "choose another export=... or delete it"
        )
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"export folder {str(target)!r} exists and is not empty; choose another export=...")
    if target.exists():
        target.rmdir()
    with atomic_folder(target) as staging:
        for item in entry.path.iterdir():
            shutil.copy2(item, staging / item.name)
    return target
