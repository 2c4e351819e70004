"""Bring per-example rows written under an earlier ``kick sweep --samples slim`` rule to today's
(``SAMPLE_DETAIL`` in kick_models/sweep/plan.py), with the sweep's own writer, so committed
sweeps stay small enough to travel to the device machine (64 MiB a call, with the repository).
Results whose ``samples_detail`` is ``full`` are left alone; metrics and hashes are unchanged,
so every report reads the same before and after.

    python docs/sweep/reslim.py docs/sweep/v2/results
"""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
from pathlib import Path

from kick_core.atomic import atomic_write_bytes
from kick_models.sweep.plan import RESULT_KEY, SAMPLE_DETAIL
from kick_models.sweep.worker import _gzip


def reslim(root: Path) -> int:
    """Rewrite the samples of every slim result under ``root``; returns how many files changed."""
    changed = 0
    for result in sorted(root.rglob("*.json")):
        record = json.loads(result.read_text()).get(RESULT_KEY) or {}
        if record.get("samples_detail") != "slim":
            continue
        for name in record["samples"]:
            path = result.parent / name  # as the record names it: <task>.samples/<file>
            with tempfile.TemporaryDirectory() as scratch:
                raw = Path(scratch) / path.name.removesuffix(".gz")
                raw.write_bytes(gzip.decompress(path.read_bytes()))
                slimmed = (Path(scratch) / _gzip(raw, Path(scratch), SAMPLE_DETAIL["slim"])).read_bytes()
            if slimmed != path.read_bytes():
                atomic_write_bytes(path, slimmed)
                changed += 1
    return changed


if __name__ == "__main__":
    print(f"{reslim(Path(sys.argv[1]))} sample files rewritten")
