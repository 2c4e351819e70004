"""Load-time model: when does reading a compressed checkpoint beat reading the raw one?

Mao et al., "On the Compressibility of Quantized Large Language Models" (2024), Sec. 3: a
model that does not fit in memory is loaded from storage again and again, so the time to
load sets the speed. Reading C compressed bytes at bandwidth B and decoding them on
``threads`` cores takes

    t(B) = C / B + D / threads

with D the single-core decode time (codec decompression plus undoing the layout). The raw
checkpoint takes R / B. Compression pays off when t(B) < R / B, that is below the break-even
bandwidth

    B* = (R - C) / (D / threads)

(never when C >= R; at every bandwidth when D = 0). The model is sequential (no overlap of
reading and decoding), as the paper's; with perfect overlap t(B) = max(C/B, D/threads)
and compression pays off up to B = R * threads / D, which is higher still.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

_UNITS = {"": 1, "b": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
_BANDWIDTH = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgt]i?)?(?:b(?:/s|ps)?)?\s*$", re.IGNORECASE)


def parse_bandwidth(text: str | float) -> float:
    """Bytes per second from ``"500MB/s"``, ``"1.5GB/s"``, ``"200MiB/s"``, ``"3e9"`` or a number."""
    return _quantity(text, "bandwidth", "500MB/s, 1.5GB/s, 200MiB/s or 3e9 (bytes/s)", zero=False)


def parse_size(text: str | float, what: str = "size") -> float:
    """Bytes from ``"64MB"``, ``"1.5GB"``, ``"200MiB"``, ``"3e9"`` or a number (zero allowed)."""
    return _quantity(text, what, "64MB, 1.5GB, 200MiB or 3e9 (bytes)", zero=True)


def _quantity(text: str | float, what: str, examples: str, zero: bool) -> float:
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = _BANDWIDTH.match(str(text))
        if not match:
            raise ValueError(f"{what} {text!r}: write it like {examples}")
        value = float(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
    if not (value >= 0 if zero else value > 0) or value == float("inf"):
        raise ValueError(f"{what} {text!r}: must be {'zero or more' if zero else 'positive'} and finite")
    return value


def format_bandwidth(bps: float | None) -> str:
    """``"1.2 GB/s"``-style text; ``"never"`` for None and ``"always"`` for infinity."""
    if bps is None:
        return "never"
    if bps == float("inf"):
        return "always"
    for unit, scale in (("TB/s", 1e12), ("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.3g} {unit}"
    return f"{bps:.3g} B/s"


def load_time(compressed_bytes: float, decode_s: float, bandwidth: float, threads: int = 1) -> float:
    """t(B) = C / B + D / threads, in seconds."""
    return compressed_bytes / bandwidth + decode_s / threads


def breakeven_bandwidth(raw_bytes: float, compressed_bytes: float, decode_s: float, threads: int = 1) -> float | None:
    """B* = (R - C) / (D / threads): below it the compressed file loads faster.

    None when compression never pays (C >= R), infinity when decoding costs nothing.
    """
    if compressed_bytes >= raw_bytes:
        return None
    if decode_s <= 0:
        return float("inf")
    return (raw_bytes - compressed_bytes) / (decode_s / threads)


def codec_loads(summary: dict, bandwidths: list[float], threads: int = 1) -> dict[str, dict[str, dict]]:
    """For every representation and codec of ``summary``: break-even bandwidth and load times."""
    raw = summary["raw_bytes"]
    out: dict[str, dict[str, dict]] = {}
    for rep, r in summary["representations"].items():
        out[rep] = {}
        for codec, c in r["codecs"].items():
            b = breakeven_bandwidth(raw, c["bytes"], c["decompress_s"], threads)
            out[rep][codec] = {
                "breakeven_Bps": b,
                "breakeven_text": format_bandwidth(b),
                "load_s": {format_bandwidth(bw): load_time(c["bytes"], c["decompress_s"], bw, threads) for bw in bandwidths},
            }
    return out


def measure_read_bandwidth(paths: list[str | os.PathLike], max_bytes: int = 1 << 30, block: int = 16 << 20) -> dict:
    """Read up to ``max_bytes`` of ``paths`` and time it: the storage bandwidth B.

    The page cache is asked to drop the files first (``posix_fadvise(DONTNEED)``, which needs
    no privileges and evicts clean pages), so that the disk, not memory, is timed. Where that
    call does not exist the figure may be the page cache's; ``cache_dropped`` says which.
    """
    paths = [Path(p) for p in paths]
    dropped = hasattr(os, "posix_fadvise")
    if dropped:
        for path in paths:
            with open(path, "rb") as fh:
                os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    total, buf = 0, bytearray(block)
    start = time.perf_counter()
    for path in paths:
        with open(path, "rb", buffering=0) as fh:
            while total < max_bytes:
                got = fh.readinto(buf)
                if not got:
                    break
                total += got
        if total >= max_bytes:
            break
    seconds = time.perf_counter() - start
    return {"bytes_per_s": total / seconds if seconds > 0 else float("inf"), "bytes": total, "seconds": seconds, "cache_dropped": dropped}
