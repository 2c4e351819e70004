"""The general-purpose lossless codecs measured, as a registry of specs.

Each codec is the maintained Python binding of the reference C library, called with one
buffer in and one buffer out, single-threaded (the analysis spreads work over cores itself,
so every measured speed is a per-core speed):

==========  =================================  ==============================================
name        library call                       why this setting
==========  =================================  ==============================================
none        identity                           size of a layout before any coder
zstd-1/3/9  ``zstandard`` levels 1, 3, 9       fast / default / strong zstd
zstd-19     ``zstandard`` level 19             the strongest non-``--ultra`` level
lz4         ``lz4.frame`` default (fast)       decompression-speed end of the spectrum
gzip-6      ``gzip`` (zlib) level 6            the default of ``gzip`` and ``zlib``
brotli-1    ``brotli`` quality 1               brotli's fast end
brotli-9    ``brotli`` quality 9               the slow level of the default set
brotli-11   ``brotli`` quality 11              brotli's slowest (optimal parsing, context
                                               modelling): 0.2-0.4 MB/s per core on BF16
                                               weights, so only when asked for by name
snappy      ``snappy`` (python-snappy)         Google's speed-first codec
==========  =================================  ==============================================

All of them release the GIL while they work (checked on this project's machines), so a
thread pool reaches every core. A zstd context object is not safe to share between threads:
one is made per call, which costs microseconds.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import brotli
import lz4.frame
import snappy
import numpy as np
import zstandard


@dataclass(frozen=True)
class Codec:
    """A lossless codec: ``decompress(compress(b)) == b`` for every byte string ``b``."""

    name: str
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]


def _zstd(level: int) -> Codec:
    return Codec(
        f"zstd-{level}",
        lambda b: zstandard.ZstdCompressor(level=level).compress(b),
        lambda b: zstandard.ZstdDecompressor().decompress(b),
    )


def _brotli(quality: int) -> Codec:
    return Codec(f"brotli-{quality}", lambda b: brotli.compress(b, quality=quality), brotli.decompress)


CODECS: dict[str, Codec] = {
    c.name: c
    for c in (
        Codec("none", lambda b: b, lambda b: b),
        _zstd(1),
        _zstd(3),
        _zstd(9),
        _zstd(19),
        Codec("lz4", lz4.frame.compress, lz4.frame.decompress),
        Codec("gzip-6", lambda b: gzip.compress(b, compresslevel=6, mtime=0), gzip.decompress),
        _brotli(1),
        _brotli(9),
        _brotli(11),
        Codec("snappy", snappy.compress, snappy.decompress),
    )
}

#: Everything but the identity (which the analysis always adds, for layout sizes) and
#: brotli-11 (hours per GB of weights on one core).
DEFAULT_CODECS: tuple[str, ...] = tuple(name for name in CODECS if name not in ("none", "brotli-11"))
#: A quick set for summaries attached to evaluation results.
QUICK_CODECS: tuple[str, ...] = ("zstd-3", "lz4")


def get_codecs(names: Iterable[str]) -> list[Codec]:
    """The codecs called ``names`` (``"none"`` first, added if missing), validated."""
    names = list(dict.fromkeys(["none", *names]))
    unknown = [n for n in names if n not in CODECS]
    if unknown:
        raise ValueError(f"unknown codec(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(CODECS)}")
    return [CODECS[n] for n in names]


class LosslessError(AssertionError):
    """A codec or layout did not give back the exact bytes it was given."""


@dataclass(frozen=True)
class CodecRun:
    """One codec on the parts of one stream: compressed size of each part, and CPU seconds."""

    part_bytes: tuple[int, ...]
    compress_s: float
    decompress_s: float


def measure(codec: Codec, parts: list[np.ndarray], verify: bool = True, where: str = "") -> CodecRun:
    """Compress and decompress each uint8 part with ``codec``, timing both on this thread's
    CPU clock (a per-core figure that other processes on the machine do not inflate).

    With ``verify`` the decompressed bytes are compared with the input and a mismatch
    raises :class:`LosslessError` naming ``where`` (tensor and stream) and the codec (the
    identity codec hands back its input object, which needs no comparison).
    """
    sizes, t_compress, t_decompress = [], 0.0, 0.0
    for index, part in enumerate(parts):
        t0 = time.thread_time()
        packed = codec.compress(part)
        t1 = time.thread_time()
        restored = codec.decompress(packed)
        t2 = time.thread_time()
        t_compress, t_decompress = t_compress + t1 - t0, t_decompress + t2 - t1
        sizes.append(len(packed))
        if verify and restored is not part and not np.array_equal(np.frombuffer(restored, dtype=np.uint8), part):
            raise LosslessError(f"{where}: part {index}: {codec.name} did not restore the original bytes")
    return CodecRun(tuple(sizes), t_compress, t_decompress)
