"""A cache of compressed checkpoints, keyed by everything that determines them.

An entry is a Hugging Face folder (safetensors only) plus ``kick_recipe.json``. Its key is
the SHA-256 of: the source model's identity (:func:`source_fingerprint`), the compression
recipe, the calibration settings (a calibration file by its SHA-256), the dtype it is
compressed in and the versions of the libraries that compute it (torch, transformers,
llmcompressor, compressed-tensors, llm-kick). Change any of them and the entry is rebuilt.

Key scheme (2): the key hashes contents, not places. A local source is its files' SHA-256s
(not their sizes and mtimes, which ``cp -p`` and ``rsync -a`` keep across different weights;
the digests are remembered in ``<root>/.digests.json`` by :class:`kick_core.digests.FileDigests`,
so a 13 GB model is hashed once, not on every run); a hub id is its resolved commit where
huggingface_hub can tell it offline (a revision that is a commit, or the local cache's ref),
else the id and branch name with a warning. A calibration file is its SHA-256 alone, so the
same data installed in two places gives one entry; the path is kept in the entry's record
for people. Entries built under scheme 1 (path + size + whole-second mtime) are not found
and are rebuilt once.

Guarantees (tested in ``tests/test_reliability_cache.py``):

* Atomic entries: an entry is built in a temporary sibling folder and renamed into place only
  when complete (:func:`kick_core.atomic.atomic_folder`); a file lock makes concurrent
  processes (e.g. data-parallel ranks under ``accelerate launch``) build it once and share it.
* Integrity: ``kick_recipe.json`` lists every file of the entry with its size and SHA-256.
  Every use checks the sizes (cheap); ``KICK_CACHE_VERIFY=full`` checks the digests too, and
  an export always does. An entry that fails is removed and rebuilt, with a warning.
* Cleanup: the temporaries of a killed build or export (``.<name>.partial-*``) are removed
  under the entry's lock on every access (:func:`kick_core.atomic.remove_partials`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from kick_core.atomic import atomic_folder, atomic_write_json, remove_partials
from kick_core.digests import FileDigests, sha256_file
from kick_core.names import slug
from kick_core.paths import cache_root
from kick_core.provenance import RECIPE_FILE, library_versions

logger = logging.getLogger("lm_eval.models.kick")

KEY_SCHEME = 2
VERIFY_ENV = "KICK_CACHE_VERIFY"  # "full": check every entry's digests on use, not only sizes
DIGESTS_FILE = ".digests.json"
# The files of a source folder that determine the compressed checkpoint: weights, configs,
# tokenizer files, chat templates and remote code.
SOURCE_SUFFIXES = {".safetensors", ".bin", ".json", ".model", ".txt", ".jinja", ".py", ".tiktoken"}
COMMIT = re.compile(r"^[0-9a-f]{40}$")


class CacheIntegrityError(RuntimeError):
    """A checkpoint folder does not hold the files its ``kick_recipe.json`` lists."""


def source_fingerprint(pretrained: str, revision: str | None, digests: FileDigests | None = None) -> dict[str, Any]:
    """What identifies the source weights: a local folder's file contents, or a hub id's commit."""
    folder = Path(pretrained).expanduser()
    if not folder.is_dir():
        return hub_fingerprint(pretrained, revision)
    digests = digests or FileDigests(None)
    files = {
        p.name: digests.sha256(p)
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".") and p.suffix in SOURCE_SUFFIXES
    }
    return {"files": files}


def hub_fingerprint(hub_id: str, revision: str | None) -> dict[str, Any]:
    """``{"hub_id", "commit"}`` when the commit is known offline (the revision is one, or the
    local hub cache maps the branch to one); else the branch, with a warning that a moved
    branch would still be served from the cache."""
    revision = revision or "main"
    if COMMIT.match(revision):
        return {"hub_id": hub_id, "commit": revision}
    try:
        from huggingface_hub import snapshot_download

        snapshot = Path(snapshot_download(hub_id, revision=revision, local_files_only=True))
        if COMMIT.match(snapshot.name):
            return {"hub_id": hub_id, "commit": snapshot.name}
    except Exception:  # not in the local hub cache (or not a repo id): fall through
        pass
    logger.warning("kick: the commit of %s@%s is not known offline; the cache keys it by the branch name, so pass "
                   "revision=<commit> to tell a moved branch apart", hub_id, revision)
    return {"hub_id": hub_id, "revision": revision}


def manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """``{file name: {"size", "sha256"}}`` of a checkpoint folder (its record file aside)."""
    return {
        p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != RECIPE_FILE
    }


def check_files(folder: Path, files: dict[str, dict[str, Any]], *, full: bool) -> None:
    """Raise :class:`CacheIntegrityError` naming the first file of ``files`` that is missing,
    of another size, or (``full``) of another SHA-256 in ``folder``."""
    if not files:
        raise CacheIntegrityError(f"{folder}: {RECIPE_FILE} lists no files (built before integrity records)")
    for name, want in files.items():
        path = folder / name
        if not path.is_file():
            raise CacheIntegrityError(f"{path} is missing")
        if path.stat().st_size != want["size"]:
            raise CacheIntegrityError(f"{path} has {path.stat().st_size} bytes, {want['size']} expected")
        if full and sha256_file(path) != want["sha256"]:
            raise CacheIntegrityError(f"{path} does not have the SHA-256 recorded at build time")


def full_verification() -> bool:
    return os.environ.get(VERIFY_ENV, "").strip().lower() == "full"


@dataclass(frozen=True)
class CacheEntry:
    key: str
    path: Path

    @property
    def complete(self) -> bool:
        return (self.path / RECIPE_FILE).is_file() and (self.path / "config.json").is_file()

    def record(self) -> dict[str, Any]:
        return json.loads((self.path / RECIPE_FILE).read_text())

    def verify(self, *, full: bool = False) -> dict[str, Any]:
        """The record, after checking the entry's files against it (sizes; digests if ``full``)."""
        try:
            record = self.record()
        except (OSError, ValueError) as err:
            raise CacheIntegrityError(f"{self.path / RECIPE_FILE} is unreadable ({err})") from None
        check_files(self.path, record.get("files") or {}, full=full)
        return record


class CheckpointCache:
    """Folder of compressed checkpoints: ``<root>/<model>--<recipe>--<key16>/``.

    The key alone identifies an entry; the model and recipe in the name are for people. An
    entry is found by its key whatever the rest of its name says, so entries named under an
    older naming rule (before llm-kick's one slug rule, ``kick_core.names.slug``) are still
    used, not rebuilt."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root else cache_root() / "checkpoints"

    def check_writable(self) -> None:
        """ValueError (one line) when the cache folder cannot be created or written."""
        existing = next((p for p in (self.root, *self.root.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise ValueError(f"cache_dir={str(self.root)!r}: {existing} is a file; give a folder for cache_dir=...")
        if existing is None or not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(f"cache_dir={str(self.root)!r} is not writable (by this user); give a writable folder "
                             "for cache_dir=... or fix its permissions")

    def entry(self, pretrained: str, revision: str | None, recipe: dict, calibration: dict | None,
              dtype: str | None = None, arithmetic: dict | None = None) -> CacheEntry:
        """``dtype``: the dtype the source is loaded and compressed in, when not its own
        (``None`` or ``"auto"``): a float32 build and a bf16 build are different files.
        ``arithmetic``: the engine settings that change this recipe's weights
        (:func:`compressors.arithmetic.weight_arithmetic`); keyed only where there are some, so
        the other entries keep their keys."""
        material = {
            "scheme": KEY_SCHEME,
            "source": source_fingerprint(pretrained, revision, FileDigests(self.root / DIGESTS_FILE)),
            "recipe": recipe,
            "calibration": calibration,
            "versions": library_versions(),
        }
        if dtype not in (None, "auto"):
            material["dtype"] = str(dtype).removeprefix("torch.")
        if arithmetic:
            material["arithmetic"] = arithmetic
        key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
        model = slug(Path(pretrained.rstrip("/")).name, max_length=60)
        label = slug("-".join(str(v) for v in recipe.values() if v not in (None, "", ())), max_length=60)
        named = sorted(p for p in self.root.glob(f"*--{key[:16]}") if p.is_dir()) if self.root.is_dir() else []
        return CacheEntry(key=key, path=named[0] if named else self.root / f"{model}--{label}--{key[:16]}")

    @contextmanager
    def lock(self, name: str):
        """An exclusive lock on ``<root>/.<name>.lock`` (an entry's key, or an export's)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{name}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def get_or_build(self, entry: CacheEntry, build: Callable[[Path], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """Return ``(record, hit)``; on a miss ``build(staging_folder)`` writes the checkpoint
        and returns the record stored as ``kick_recipe.json`` (with the files' integrity list)."""
        with self.lock(entry.key[:16]):
            # Under the lock no live writer of this entry exists: every temporary is a dead one's.
            remove_partials(entry.path)
            if entry.complete:
                try:
                    return entry.verify(full=full_verification()), True
                except CacheIntegrityError as err:
                    logger.warning("kick: cache entry %s is damaged (%s); rebuilding it", entry.path, err)
            if entry.path.exists():  # damaged, or leftovers of an older layout: rebuild
                shutil.rmtree(entry.path)
            with atomic_folder(entry.path) as staging:
                record = {"key": entry.key, "key_scheme": KEY_SCHEME, **build(staging)}
                record["files"] = manifest(staging)
                atomic_write_json(staging / RECIPE_FILE, record, indent=2, sort_keys=True)
            return record, False


def check_export_target(target: str | os.PathLike) -> Path:
    """ValueError (one line) when ``export=`` cannot become a checkpoint folder: it names a
    file, or a folder under a file, or one that cannot be created; checked before compressing."""
    target = Path(target).expanduser()
    if target.exists() and not target.is_dir():
        raise ValueError(f"export={str(target)!r} is a file; give a folder (new or empty) for export=...")
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"export={str(target)!r}: {existing} is a file; give a folder for export=...")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"export={str(target)!r}: {existing} is not writable; give a writable folder for export=...")
    return target


def export_checkpoint(entry: CacheEntry, target: str | os.PathLike, cache: CheckpointCache | None = None) -> Path:
    """Copy a complete cache entry to ``target`` atomically (a plain HF folder for ``--model hf``/vLLM).

    The entry's files are checked against its record (digests) before copying, and a folder
    already holding this entry counts as exported only if its files pass the same check."""
    target = check_export_target(target)
    cache = cache or CheckpointCache(entry.path.parent)
    name = "export-" + hashlib.sha256(str(target.resolve()).encode()).hexdigest()[:16]
    with cache.lock(name):
        remove_partials(target)
        if (target / RECIPE_FILE).is_file():
            try:
                record = json.loads((target / RECIPE_FILE).read_text())
            except ValueError:
                record = {}
            if record.get("key") != entry.key:
                raise FileExistsError(f"export folder {str(target)!r} already holds a different llm-kick checkpoint; "
                                      "choose another export=... or delete it")
            try:
                check_files(target, record.get("files") or {}, full=True)
                return target  # already exported, and whole
            except CacheIntegrityError as err:
                logger.warning("kick: export folder %s is damaged (%s); exporting again", target, err)
                shutil.rmtree(target)
        if target.exists() and any(target.iterdir()):
            raise FileExistsError(f"export folder {str(target)!r} exists and is not empty; choose another export=...")
        mode = None
        if target.exists():  # an empty folder the user made: keep its permissions
            mode = target.stat().st_mode & 0o7777
            target.rmdir()
        entry.verify(full=True)
        with atomic_folder(target) as staging:
            for item in entry.path.iterdir():
                shutil.copy2(item, staging / item.name)
            if mode is not None:
                os.chmod(staging, mode)
    return target
