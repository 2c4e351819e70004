"""Atomic writes: a reader sees the old file or folder, or the complete new one, never a part.

Everything is written into a temporary sibling (same file system, so the rename is atomic),
flushed to disk with ``fsync``, and renamed into place; on any error, or an interrupt, the
temporary is removed. Temporaries are named ``.<name>.partial-*`` so that a killed process's
leftovers are recognisable (:func:`remove_partials`). Files and folders get the modes
``open()`` and ``mkdir()`` would give (``0o666`` / ``0o777`` less the umask), not the private
``0o600`` / ``0o700`` of :mod:`tempfile`, so a shared cache or export stays readable.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "PARTIAL_MARK", "atomic_folder", "atomic_write_bytes", "atomic_write_json", "atomic_write_text",
    "partial_prefix", "remove_partials",
]

PARTIAL_MARK = ".partial-"


def partial_prefix(target: str | os.PathLike) -> str:
    """The name prefix of ``target``'s temporaries: ``.<name>.partial-``."""
    return f".{Path(target).name}{PARTIAL_MARK}"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=partial_prefix(path), dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, value: Any, *, nan_as_null: bool = False, **dumps: Any) -> Path:
    """Write ``value`` as standard JSON to ``path`` atomically; ``dumps`` go to
    :func:`json.dumps` (e.g. ``indent=2``). ``NaN`` and infinities are refused
    (``allow_nan=False``), or written as ``null`` with ``nan_as_null`` (for results where an
    undefined score is data, e.g. lm-eval's: the ``NaN`` literal it would write is not JSON)."""
    if nan_as_null:
        value = _finite(value)
    return atomic_write_text(path, json.dumps(value, allow_nan=False, **dumps) + "\n")


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None``, at any depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


@contextmanager
def atomic_folder(target: str | os.PathLike, *, keep_existing: bool = True) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; on success fsync its files and rename
    it to ``target``. ``keep_existing``: if ``target`` appeared meanwhile (another process
    finished first) keep that one and drop ours; otherwise ``target`` must not exist."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=partial_prefix(target), dir=target.parent))
    try:
        os.chmod(staging, 0o777 & ~umask())
        yield staging
        _open_modes(staging)
        _fsync_tree(staging)
        if target.exists() and keep_existing:
            shutil.rmtree(staging)
        else:
            os.replace(staging, target)
            _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def remove_partials(target: str | os.PathLike, *, older_than_s: float = 0.0) -> list[Path]:
    """Remove the temporaries of ``target`` (files or folders) not modified for ``older_than_s``
    seconds; returns what was removed. Callers that may race a live writer hold a lock or
    pass an age no live writer reaches."""
    target = Path(target)
    removed = []
    if not target.parent.is_dir():
        return removed
    now = time.time()
    for partial in target.parent.glob(f"{partial_prefix(target)}*"):
        try:
            if now - partial.stat().st_mtime < older_than_s:
                continue
        except FileNotFoundError:
            continue
        if partial.is_dir() and not partial.is_symlink():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)
        removed.append(partial)
    return removed


def umask() -> int:
    """The process's umask (read without changing it for longer than the call)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _open_modes(folder: Path) -> None:
    """Give everything in ``folder`` at least the mode ``open()`` / ``mkdir()`` would: libraries
    that write through :mod:`tempfile` leave private files (transformers 5's ``save_pretrained``
    writes ``model.safetensors`` as ``0o600``)."""
    mask = umask()
    for path in folder.rglob("*"):
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        shared = mode | ((0o777 if path.is_dir() else 0o666) & ~mask)
        if shared != mode:
            os.chmod(path, shared)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
