"""Order-0 Shannon entropy: the size below which no coder of independent symbols can go.

For a stream of n symbols with empirical frequencies p_i, H = -sum_i p_i log2 p_i bits per
symbol (Shannon, "A Mathematical Theory of Communication", 1948, Thm. 2), and n*H/8 bytes
is the least any code that maps each symbol to a codeword on its own (Huffman, arithmetic
coding with a static model: the entropy stages of zstd, brotli, ZipNN and DFloat11) can reach
on that stream. Coders that model context or match repeated strings (LZ77 in zstd, brotli's
context modelling) are not bound by it and can beat it on structured data, so read it as the
bound of the entropy-coding stage on that byte plane or value stream.

Counts are accumulated with :class:`Histogram` so that a tensor streamed in chunks, or
sampled in blocks, gets the entropy of the whole rather than a sum of per-chunk entropies.
In sampling mode the plug-in estimate is biased low by about (K-1)/(2 n ln 2) bits per symbol
for K occupied symbols and n samples (Miller, 1955): below 0.003 bits for byte planes once a
sample holds 64 Ki bytes.
"""

from __future__ import annotations

import numpy as np


class Histogram:
    """Symbol counts over ``0 .. symbols-1``, accumulated across chunks."""

    def __init__(self, symbols: int = 256):
        self.counts = np.zeros(symbols, dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        """Count the (unsigned integer) ``values``."""
        values = np.ascontiguousarray(values).reshape(-1)
        if self.counts.size == 256 and values.dtype == np.uint8 and values.size > 1:
            # np.bincount widens its input to 8-byte integers, which makes counting bytes
            # slow; count byte pairs instead (half as many elements) and fold the 256 x 256
            # table into the bytes of either position: about ten times faster.
            pairs = np.bincount(values[: values.size // 2 * 2].view(np.uint16), minlength=1 << 16).reshape(256, 256)
            self.counts += pairs.sum(axis=0) + pairs.sum(axis=1)
            if values.size % 2:
                self.counts[values[-1]] += 1
            return
        self.counts += np.bincount(values, minlength=self.counts.size)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def bits_per_symbol(self) -> float:
        """H in bits per symbol (0.0 for an empty histogram)."""
        return entropy_bits(self.counts)


def entropy_bits(counts: np.ndarray) -> float:
    """Order-0 entropy in bits per symbol of a vector of symbol counts."""
    counts = counts[counts > 0].astype(np.float64)
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts / total
    return float(-(p * np.log2(p)).sum())

