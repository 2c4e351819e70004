"""A journal that makes long analyses resumable (atomic writes: :mod:`kick_core.atomic`).

An analysis of a 70B checkpoint runs for hours. :class:`Journal` appends each finished
tensor's result as one JSON line (flushed and fsynced), under a header line that records
a fingerprint of everything the results depend on (options, file sizes and times). A new
run with the same fingerprint skips the tensors already in the journal; any other
fingerprint starts the journal afresh. A line cut short by a kill is ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from kick_core.atomic import atomic_write_text


class Journal:
    """Append-only JSON-lines record of finished tensors, keyed by ``record["key"]``."""

    def __init__(self, path: str | os.PathLike, fingerprint: str):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.done: dict[str, dict] = {}
        lines = self.path.read_text().splitlines() if self.path.is_file() else []
        if lines and _loads(lines[0]) == {"fingerprint": fingerprint}:
            for line in lines[1:]:
                entry = _loads(line)
                if isinstance(entry, dict) and "key" in entry:
                    self.done[entry["key"]] = entry
        # Rewrite: the header and the complete lines only, so appends start on a clean line.
        body = [json.dumps({"fingerprint": fingerprint})] + [json.dumps(e) for e in self.done.values()]
        atomic_write_text(self.path, "\n".join(body) + "\n")
        self._fh = open(self.path, "a")

    def append(self, entry: dict) -> None:
        self._fh.write(json.dumps(entry) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.done[entry["key"]] = entry

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _loads(line: str):
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None
