"""Static order-0 rANS: an entropy coder and nothing else, measured beside the LZ coders.

A byte stream is coded with one fixed model, the histogram of its own bytes, so its size is
the order-0 bound n*H/8 of :mod:`compressors.storage.entropy` plus the stored histogram and
the coder's fixed-point loss. On byte planes this is the entropy stage of ZipNN and DFloat11
on its own (Huffman there; ANS here, which also codes fractional bits: Duda, "Asymmetric
numeral systems", 2013).

Why constriction (Bamler, "Understanding Entropy Coding With Asymmetric Numeral Systems
(ANS): a Statistician's Perspective", 2022; PyPI ``constriction``): it is a maintained rANS
coder with a categorical model built from given probabilities. zstd and brotli expose no
entropy-only mode (zstd's Huffman stage is reached only through its LZ77 parser; negative
levels are faster LZ, not less of it), and ZipNN's Huffman is reachable only through its own
float byte grouping.

Coded buffer: n (uint64 LE), the length (uint32 LE) of the histogram block, the histogram
(256 uint64 LE counts, compressed by zstd), then the coder's 32-bit words. The decoder
rebuilds the same model from the same counts, so the round trip is exact. Symbols are coded
in slices of ``SLICE`` bytes (the coder wants int32 symbols: a slice bounds that copy), last
slice first, as the coder is a stack.

constriction holds the GIL and decodes with a search per symbol (about 170 MB/s to encode
and 35 MB/s to decode per core on BF16 byte planes), which is why the registry measures it
on sampled blocks unless a full run is asked for.
"""

from __future__ import annotations

import struct

import numpy as np
import zstandard

SLICE = 1 << 22
_HEAD = struct.Struct("<QI")


def compress(data) -> bytes:
    """The bytes of ``data`` (any buffer) as one rANS stream under their own histogram."""
    from constriction import stream  # its submodules are attributes, not importable modules

    Categorical, AnsCoder = stream.model.Categorical, stream.stack.AnsCoder
    symbols = np.frombuffer(data, dtype=np.uint8)
    counts = np.bincount(symbols, minlength=256).astype("<u8")
    table = zstandard.ZstdCompressor(level=3).compress(counts.tobytes())
    coder = AnsCoder()
    if symbols.size:
        model = Categorical(counts.astype(np.float64), perfect=False)
        for start in reversed(range(0, symbols.size, SLICE)):
            coder.encode_reverse(symbols[start : start + SLICE].astype(np.int32), model)
    words = coder.get_compressed().astype("<u4")
    return _HEAD.pack(symbols.size, len(table)) + table + words.tobytes()


def decompress(blob) -> bytes:
    """Inverse of :func:`compress`."""
    from constriction import stream

    Categorical, AnsCoder = stream.model.Categorical, stream.stack.AnsCoder
    blob = memoryview(blob)
    size, table_len = _HEAD.unpack_from(blob)
    start = _HEAD.size + table_len
    out = np.empty(size, dtype=np.uint8)
    if size:
        counts = np.frombuffer(zstandard.ZstdDecompressor().decompress(blob[_HEAD.size : start]), dtype="<u8")
        model = Categorical(counts.astype(np.float64), perfect=False)
        coder = AnsCoder(np.frombuffer(blob[start:], dtype="<u4").astype(np.uint32))
        for first in range(0, size, SLICE):
            n = min(SLICE, size - first)
            out[first : first + n] = coder.decode(model, n)
    return out.tobytes()
