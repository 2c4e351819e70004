"""The lossless codecs measured, as a registry of specs.

Each codec is the maintained Python binding of a reference library, called with one buffer
in and one buffer out on one core (the analysis spreads work over cores itself, so every
measured speed is a per-core speed):

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
zipnn       ``zipnn.ZipNN`` defaults, 1 thread ZipNN as shipped (Hershcovitch et al., "ZipNN:
                                               Lossless Compression for AI Models", 2024):
                                               its own byte grouping, then Huffman per
                                               256 KiB chunk; float tensors only (below)
ans         static order-0 rANS                an entropy coder alone, at the order-0 bound
            (``constriction``, :mod:`.ans`)    (:mod:`compressors.storage.ans` says why)
==========  =================================  ==============================================

*Sampled* codecs (``Codec.sampled``) are those slower than about 50 MB/s per core on BF16
weights in either direction: zstd-9, zstd-19, gzip-6, brotli-9 and -11, and ans (which
decodes at about 35 MB/s and holds the GIL while it does, so it would also serialise the
pool). A default analysis measures them on chunks drawn from the whole checkpoint
(:mod:`compressors.storage.analyze`), a full run on every byte.

*Typed* codecs (``Codec.dtypes`` set) must know what the bytes hold: ZipNN groups bytes by
the float format. They get the safetensors dtype name as a second argument and code only a
tensor's bytes as stored (the ``plain`` stream) of the dtypes they name; the report counts
every other tensor at its raw size for them.

*Optional* codecs (``Codec.requires`` set) need a package that the project does not
install by itself; :func:`unavailable` says why one cannot be used, :func:`get_codecs`
refuses it in one line, and :func:`default_codecs` leaves it out.

zstd, lz4, gzip, brotli and snappy release the GIL while they work, so a thread pool
reaches every core. ZipNN holds the GIL and does its work on a thread of its own, which
:func:`measure` charges to the call (see :func:`_cpu_seconds`), one call at a time. A zstd context object is
not safe to share between threads: one is made per call, which costs microseconds.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import importlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import brotli
import lz4.frame
import numpy as np
import snappy
import zstandard

from compressors.storage import ans


@dataclass(frozen=True)
class Codec:
    """A lossless codec: ``decompress(compress(b)) == b`` for every byte string ``b`` (for a
    typed codec: ``decompress(compress(b, dtype), dtype) == b`` for ``dtype`` in ``dtypes``)."""

    name: str
    compress: Callable[..., bytes]
    decompress: Callable[..., bytes]
    tool: str  # the library and setting, in words, as a user would ask for it
    sampled: bool = False
    dtypes: frozenset[str] | None = None
    requires: str | None = None
    install: str | None = None
    own_thread: bool = False

    def codes(self, stream: str, dtype: str) -> bool:
        """Whether this codec codes ``stream`` of a tensor of ``dtype``."""
        return self.dtypes is None or (stream == "plain" and dtype in self.dtypes)


def _zstd(level: int, sampled: bool = False) -> Codec:
    return Codec(
        f"zstd-{level}",
        lambda b: zstandard.ZstdCompressor(level=level).compress(b),
        lambda b: zstandard.ZstdDecompressor().decompress(b),
        f"zstd level {level} (zstandard; the zstd tool's -{level})",
        sampled,
    )


def _brotli(quality: int, sampled: bool = False) -> Codec:
    return Codec(f"brotli-{quality}", lambda b: brotli.compress(b, quality=quality), brotli.decompress,
                 f"brotli quality {quality} (brotli)", sampled)


# safetensors dtype -> ZipNN's name for it (ZipNN codes these float formats only).
_ZIPNN_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}


def _zipnn_compress(data, dtype: str) -> bytes:
    from zipnn import ZipNN

    # ZipNN.compress overwrites the buffer it is given: it gets a copy, never the caller's
    # bytes (the copy is charged to the codec, as any caller that keeps its data pays it).
    return ZipNN(bytearray_dtype=_ZIPNN_DTYPES[dtype], threads=1).compress(bytearray(data))


def _zipnn_decompress(blob, dtype: str) -> bytes:
    from zipnn import ZipNN

    return ZipNN(bytearray_dtype=_ZIPNN_DTYPES[dtype], threads=1).decompress(blob)


CODECS: dict[str, Codec] = {
    c.name: c
    for c in (
        Codec("none", lambda b: b, lambda b: b, "no coder"),
        _zstd(1),
        _zstd(3),
        _zstd(9, sampled=True),
        _zstd(19, sampled=True),
        Codec("lz4", lz4.frame.compress, lz4.frame.decompress, "LZ4 frame format, default level (lz4)"),
        Codec("gzip-6", lambda b: gzip.compress(b, compresslevel=6, mtime=0), gzip.decompress, "gzip level 6 (zlib)",
              sampled=True),
        _brotli(1),
        _brotli(9, sampled=True),
        _brotli(11, sampled=True),
        Codec("snappy", snappy.compress, snappy.decompress, "Snappy (python-snappy)"),
        Codec("zipnn", _zipnn_compress, _zipnn_decompress, "ZipNN with its defaults (zipnn)",
              dtypes=frozenset(_ZIPNN_DTYPES), requires="zipnn",
              install="pip install --no-deps zipnn==0.5.4", own_thread=True),
        Codec("ans", ans.compress, ans.decompress, "static order-0 rANS (constriction)", sampled=True, requires="constriction",
              install="pip install constriction==0.5.0"),
    )
}

#: Left out of the defaults: the identity (which the analysis always adds, for layout sizes)
#: and brotli-11 (hours per GB of weights on one core).
NOT_DEFAULT = ("none", "brotli-11")
#: A quick set for summaries attached to evaluation results.
QUICK_CODECS: tuple[str, ...] = ("zstd-3", "lz4")


@functools.cache
def unavailable(name: str) -> str | None:
    """Why codec ``name`` cannot run here (its package does not import), or None."""
    codec = CODECS[name]
    if codec.requires is None:
        return None
    try:
        importlib.import_module(codec.requires)
    except Exception as err:  # a broken install fails in many ways; each is one line here
        return f"codec {name!r} is unavailable: import {codec.requires} failed ({type(err).__name__}: {err}); install: {codec.install}"
    return None


def default_codecs() -> tuple[str, ...]:
    """Every codec but those of :data:`NOT_DEFAULT` and those unavailable here."""
    return tuple(n for n in CODECS if n not in NOT_DEFAULT and unavailable(n) is None)


def get_codecs(names: Iterable[str]) -> list[Codec]:
    """The codecs called ``names`` (``"none"`` first, added if missing), validated."""
    names = list(dict.fromkeys(["none", *names]))
    unknown = [n for n in names if n not in CODECS]
    if unknown:
        raise ValueError(f"unknown codec(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(CODECS)}")
    missing = [reason for reason in map(unavailable, names) if reason]
    if missing:
        raise ValueError("; ".join(missing))
    return [CODECS[n] for n in names]


class LosslessError(AssertionError):
    """A codec or layout did not give back the exact bytes it was given."""


@dataclass(frozen=True)
class CodecRun:
    """One codec on the parts of one stream: compressed size of each part, and CPU seconds."""

    part_bytes: tuple[int, ...]
    compress_s: float
    decompress_s: float


def measure(codec: Codec, parts: list[np.ndarray], verify: bool = True, where: str = "", dtype: str | None = None) -> CodecRun:
    """Compress and decompress each uint8 part with ``codec`` (a typed codec gets ``dtype``),
    timing both in CPU seconds of the work (a per-core figure that other processes on the
    machine do not inflate; see :func:`_cpu_seconds`).

    With ``verify`` the decompressed bytes are compared with the input and a mismatch
    raises :class:`LosslessError` naming ``where`` (tensor and stream) and the codec (the
    identity codec hands back its input object, which needs no comparison).
    """
    extra = () if codec.dtypes is None else (dtype,)
    clock = _cpu_seconds if codec.own_thread else time.thread_time
    sizes, t_compress, t_decompress = [], 0.0, 0.0
    for index, part in enumerate(parts):
        with _OWN_THREAD_CALLS if codec.own_thread else contextlib.nullcontext():
            t0 = clock()
            packed = codec.compress(part, *extra)
            t1 = clock()
            restored = codec.decompress(packed, *extra)
            t2 = clock()
        t_compress, t_decompress = t_compress + t1 - t0, t_decompress + t2 - t1
        sizes.append(len(packed))
        if verify and restored is not part and not np.array_equal(np.frombuffer(restored, dtype=np.uint8), part):
            raise LosslessError(f"{where}: part {index}: {codec.name} did not restore the original bytes")
    return CodecRun(tuple(sizes), t_compress, t_decompress)


#: One timed call at a time of a codec that works on threads of its own (see below).
_OWN_THREAD_CALLS = threading.Lock()


def _cpu_seconds() -> float:
    """CPU seconds of this process less those of every other live Python thread.

    For a codec that works on threads of its own while the caller waits holding the GIL
    (ZipNN's C core starts a pthread per call and joins it): the caller's own clock would
    see almost nothing, and the process clock also counts the other workers of the pool,
    which keep running inside codecs that released the GIL. The difference of two readings
    is the caller's time plus that of the threads that lived only during the call: the
    codec's. :func:`measure` times one such call at a time (``_OWN_THREAD_CALLS``; ZipNN
    holds the GIL through its work anyway), so no call is charged another's threads.
    """
    me = threading.get_ident()
    others = 0.0
    for thread in threading.enumerate():
        if thread.ident is None or thread.ident == me:
            continue
        try:
            others += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, ValueError):  # it ended between enumerate() and here
            continue
    return time.process_time() - others
