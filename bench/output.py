"""Tables on stdout and a JSON result file that is rewritten after every measurement.

A device call is killed at its time limit; writing the file after each row means whatever
was measured until then still comes back. Tables use the storage benchmark's renderer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench.storage_throughput import render

__all__ = ["Results", "print_table", "render"]


def print_table(title: str, rows: list[dict], columns: dict[str, str]) -> None:
    print(render(title, rows, columns), flush=True)
    print(flush=True)


class Results:
    """``{"benchmark": ..., "command": ..., "machine": ..., <section>: [rows], ...}``."""

    def __init__(self, path: str | os.PathLike | None, **header):
        self.path = Path(path) if path else None
        self.data: dict = dict(header)

    def set(self, key: str, value) -> None:
        self.data[key] = value
        self.write()

    def add(self, section: str, row: dict) -> None:
        self.data.setdefault(section, []).append(row)
        self.write()

    def write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = self.path.with_name(f".{self.path.name}.partial")
        staging.write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        os.replace(staging, self.path)
