"""Memory-constrained load model: the time of one forward pass when the weights that do not fit
in device memory are read from storage on every pass, stored raw or with a lossless codec.

Mao et al., "On the Compressibility of Quantized Large Language Models" (2024), Sec. 3: when
a model does not fit in memory, the layers that do not fit are loaded again on every pass,
so storage bandwidth and decoding speed set the speed. With device memory M, of which
``overhead`` bytes hold other things (activations, KV cache, runtime), a checkpoint of T raw
bytes keeps

    R = min(max(M - overhead, 0), T)     bytes resident, loaded once
    S = T - R                            bytes streamed on every pass

Raw, a pass reads S bytes at storage bandwidth B: ``t = S / B + compute``. With a codec of
ratio r (raw / compressed bytes) that decodes D bytes of output per second per core, on w
cores, a pass reads S / r bytes and decodes S bytes, in one of two ways:

    serial     t = S/(r B) + S/(w D) + compute
    pipelined  t = max(S/(r B), S/(w D)) + min(S/(r B), S/(w D)) / n + compute

``serial``: each chunk is read, then decoded, then the next is read. ``pipelined``: a reader
fetches the next chunk while the decoders work on the last; for n equal chunks a two-stage
pipeline takes n max(a, b) + min(a, b) (a, b: one chunk's read and decode time), which is the
second line; ``n=None`` drops the fill term (n large). ``compute`` (the forward pass's own
work) is added in full: the model does not overlap it with streaming.

The codec wins where its pass is shorter than the raw one. While anything is streamed (S > 0)
that does not depend on M, only on B: below the break-even bandwidth

    serial     B* = w D (1 - 1/r)
    pipelined  B* = w D                  (n large; never when r <= 1)

compressing pays. Ratios and per-core decode speeds come from a storage analysis
(:func:`compressors.storage.report.summarize`: each codec at its best representation, speeds
in CPU seconds of one core); ``bench/storage_offload.py`` checks the two equations against
measured passes through a throttled reader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compressors.storage.report import best_codec_rows

OVERLAPS = ("serial", "pipelined")


@dataclass(frozen=True)
class CodecSpeed:
    """One codec as the model sees it: ratio raw/compressed and decode speed (bytes of output
    per second on one core), with the representation and how they were measured."""

    codec: str
    ratio: float
    decode_Bps: float
    representation: str = "plain"
    measured: str = "full"


def codec_speeds(summary: dict) -> list[CodecSpeed]:
    """Each codec of a storage summary at its best representation (the identity left out)."""
    speeds = []
    for row in best_codec_rows(summary):
        if row["codec"] == "none" or not row["ratio"]:
            continue
        decode = summary["raw_bytes"] / row["decompress_s"] if row["decompress_s"] > 0 else math.inf
        measured = "full" if row["mode"] == "full" else f"sampled, {row['blocks']} blocks"
        speeds.append(CodecSpeed(row["codec"], row["ratio"], decode, row["representation"], measured))
    return speeds


def streamed_bytes(total: float, memory: float, overhead: float = 0.0) -> float:
    """S = T - min(max(M - overhead, 0), T): the bytes read on every pass."""
    if total < 0 or memory < 0 or overhead < 0:
        raise ValueError(f"total {total}, memory {memory}, overhead {overhead}: must not be negative")
    return total - min(max(memory - overhead, 0.0), total)


def pass_time(streamed: float, bandwidth: float, ratio: float = 1.0, decode_Bps: float = math.inf, *,
              workers: int = 1, overlap: str = "serial", chunks: int | None = None, compute: float = 0.0) -> float:
    """Seconds of one pass that streams ``streamed`` raw bytes (the module docstring's equations;
    the defaults, ratio 1 and no decoding, are the raw checkpoint)."""
    _check(bandwidth, ratio, decode_Bps, workers, overlap, chunks)
    if not compute >= 0:
        raise ValueError(f"compute {compute}: seconds per pass, must not be negative")
    read = streamed / (ratio * bandwidth)
    decode = streamed / (workers * decode_Bps)
    if overlap == "serial":
        return read + decode + compute
    fill = 0.0 if chunks is None else min(read, decode) / chunks
    return max(read, decode) + fill + compute


def breakeven_bandwidth(ratio: float, decode_Bps: float, workers: int = 1, overlap: str = "serial") -> float | None:
    """B* below which the codec's pass is shorter than the raw one (S > 0, many chunks); None:
    never (ratio <= 1), infinity: always (decoding costs nothing)."""
    _check(1.0, ratio, decode_Bps, workers, overlap, None)
    if ratio <= 1:
        return None
    if math.isinf(decode_Bps):
        return math.inf
    return workers * decode_Bps * (1 - 1 / ratio if overlap == "serial" else 1.0)


def offload_rows(summary: dict, memories: list[float], bandwidths: list[float], *, overhead: float = 0.0,
                 workers: int = 1, overlap: str = "serial", compute: float = 0.0) -> list[dict]:
    """One row per (memory, bandwidth): streamed bytes, the raw pass, every codec's pass and
    speed-up over raw, and the fastest choice."""
    speeds = codec_speeds(summary)
    rows = []
    for memory in memories:
        streamed = streamed_bytes(summary["raw_bytes"], memory, overhead)
        for bandwidth in bandwidths:
            raw = pass_time(streamed, bandwidth, workers=workers, overlap=overlap, compute=compute)
            codecs = {s.codec: pass_time(streamed, bandwidth, s.ratio, s.decode_Bps, workers=workers, overlap=overlap,
                                         compute=compute) for s in speeds}
            best = min(codecs, key=codecs.get, default=None)
            rows.append({
                "memory_bytes": memory,
                "bandwidth_Bps": bandwidth,
                "streamed_bytes": streamed,
                "raw_s": raw,
                "codec_s": codecs,
                "speedup": {c: raw / t if t > 0 else 1.0 for c, t in codecs.items()},
                "best": best if best is not None and codecs[best] < raw else "raw",
            })
    return rows


def breakeven_rows(summary: dict, workers: int = 1) -> list[dict]:
    """Per codec: ratio, decode speed, and the break-even bandwidth serial and pipelined."""
    return [{
        "codec": s.codec,
        "representation": s.representation,
        "measured": s.measured,
        "ratio": s.ratio,
        "decode_MBps_per_core": s.decode_Bps / 1e6,
        "breakeven_serial_Bps": breakeven_bandwidth(s.ratio, s.decode_Bps, workers, "serial"),
        "breakeven_pipelined_Bps": breakeven_bandwidth(s.ratio, s.decode_Bps, workers, "pipelined"),
    } for s in codec_speeds(summary)]


def _check(bandwidth: float, ratio: float, decode_Bps: float, workers: int, overlap: str, chunks: int | None) -> None:
    if overlap not in OVERLAPS:
        raise ValueError(f"overlap {overlap!r}: allowed {', '.join(OVERLAPS)}")
    if not bandwidth > 0 or not ratio > 0 or not decode_Bps > 0:
        raise ValueError(f"bandwidth {bandwidth}, ratio {ratio}, decode speed {decode_Bps}: must be positive")
    if workers < 1 or (chunks is not None and chunks < 1):
        raise ValueError(f"workers {workers}, chunks {chunks}: must be at least 1")
