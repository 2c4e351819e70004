"""Judgments kept on disk, so that a rerun or a resumed run never asks the judge twice.

One JSON line per judgment, appended with a single ``write`` on an ``O_APPEND`` descriptor and
``fsync``-ed before the call returns: a run killed at any moment loses at most the judgment
in flight, and a line cut short by the kill is skipped on the next read (the file is first
closed off with a newline so the next record cannot be glued to the broken one).

The key is the SHA-256 of everything that determines a judgment: endpoint, judge model,
temperature, reply budget and the full chat messages (rubric, task text and both answers in
their order). Only the key, the judge model and the reply text are stored; the API key is
never part of a request body, so it cannot reach the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def judgment_key(request: dict[str, Any]) -> str:
    """Stable hash of a request description (endpoint, model, sampling settings, messages)."""
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class JudgmentCache:
    """Append-only JSON-lines store of judge replies, safe for threads and for killed runs."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._replies: dict[str, str] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        broken = 0
        with open(self.path, "rb") as handle:
            data = handle.read()
        for raw in data.splitlines():
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                self._replies[record["key"]] = record["reply"]
            except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
                broken += 1
        if data and not data.endswith(b"\n"):
            self._append_bytes(b"\n")
        if broken:
            log.warning("judge cache %s: skipped %d unreadable line(s) (a run killed mid-write)", self.path, broken)

    def _append_bytes(self, payload: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)

    def __len__(self) -> int:
        return len(self._replies)

    def get(self, key: str) -> str | None:
        return self._replies.get(key)

    def put(self, key: str, model: str, reply: str) -> None:
        """Store one reply durably (the line is on disk when this returns)."""
        line = json.dumps({"key": key, "model": model, "time": round(time.time(), 3), "reply": reply}, ensure_ascii=False)
        with self._lock:
            self._append_bytes(line.encode("utf-8") + b"\n")
            self._replies[key] = reply


_OPEN: dict[Path, JudgmentCache] = {}
_OPEN_LOCK = threading.Lock()


def open_cache(path: str | os.PathLike) -> JudgmentCache:
    """The process-wide cache object for ``path`` (read from disk once per process)."""
    path = Path(path).expanduser().resolve()
    with _OPEN_LOCK:
        if path not in _OPEN:
            _OPEN[path] = JudgmentCache(path)
        return _OPEN[path]
