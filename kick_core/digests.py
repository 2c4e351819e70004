"""SHA-256 of files, hashed once per version of a file rather than on every run.

A digest is remembered by (path, size, mtime_ns, ctime_ns, inode). A file replaced in any way
is hashed again: a new file gets a new inode, and a rewrite in place moves the change time,
which no user can set back (``cp -p`` and ``rsync -a`` keep size and mtime, and ``cp -p`` onto
an existing file keeps its inode); an unchanged file is not hashed again, so a 13 GB model
costs one read, once. The memo lives in memory, or also in a JSON file shared across runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from kick_core.atomic import atomic_write_json

__all__ = ["FileDigests", "sha256_file"]


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's contents, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FileDigests:
    """:func:`sha256_file`, remembered (see the module docs); ``store``: a JSON file that keeps
    the memo across processes (``None``: this object's memory only)."""

    def __init__(self, store: str | Path | None = None):
        self.store = Path(store) if store is not None else None
        self._known: dict[str, dict[str, Any]] | None = None

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._known is None:
            try:
                self._known = json.loads(self.store.read_text()) if self.store and self.store.is_file() else {}
            except (OSError, ValueError):
                self._known = {}  # a damaged memo costs one re-hash, never a wrong digest
        return self._known

    def sha256(self, path: str | Path) -> str:
        path = Path(path).resolve()
        stat = path.stat()
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]
        known = self._load()
        seen = known.get(str(path))
        if seen and seen.get("stat") == stamp:
            return seen["sha256"]
        digest = sha256_file(path)
        known[str(path)] = {"stat": stamp, "sha256": digest}
        if self.store is not None:
            try:
                atomic_write_json(self.store, known, sort_keys=True)
            except OSError:
                pass  # a read-only cache still works; it hashes again next time
        return digest
