"""Sparse layouts for pruned weights: what a pruned matrix costs when its zeros are not stored.

* Bitmask + values: one bit per element saying "non-zero", then the non-zero values in
  order. This is compressed-tensors' ``sparse-bitmask`` format (bitmask, values, row
  offsets) without the row offsets, which only speed up row access. It pays off for BF16
  once more than 1/16 of the elements are zero.
* N:M metadata + values: in every group of M consecutive elements along the input (last)
  dimension at most N are non-zero (Mishra et al., "Accelerating Sparse Deep Neural
  Networks", 2021: NVIDIA's 2:4 sparse tensor cores). Exactly N values are kept per group,
  each with its ceil(log2 M)-bit index; 2:4 keeps half the values plus 4 bits of metadata
  per group of four (2 bits per kept value, as the hardware's metadata), 1:2 needs 1 bit per
  kept value and 4:8 3 bits. A group with fewer than N non-zeros pads with zero-valued
  entries at the first free positions.

"Zero" means the all-zero bit pattern (+0.0). A -0.0 (which ``w * mask`` produces for
negative w) is stored as a value like any other, so both layouts stay lossless byte for byte;
pruning code that writes zeros with ``masked_fill``/assignment gives +0.0.

Own code: compressed-tensors 0.19 dropped its sparse compressors ("Sparse compression is no
longer supported") and no maintained library encodes N:M metadata on the CPU.
"""

from __future__ import annotations

import math

import numpy as np

from compressors.storage.dtypes import DType

#: N:M patterns tried, cheapest metadata first (bits per kept value: 1, 2, 3).
NM_PATTERNS = ((1, 2), (2, 4), (4, 8))

_UINT = {1: np.dtype("u1"), 2: np.dtype("<u2"), 4: np.dtype("<u4"), 8: np.dtype("<u8")}


def as_words(raw: np.ndarray, dtype: DType) -> np.ndarray:
    """View little-endian bytes as unsigned integers of the element width (bit patterns)."""
    return raw.view(_UINT[dtype.itemsize])


def nonzero_mask(raw: np.ndarray, dtype: DType) -> np.ndarray:
    """Boolean mask of elements whose bit pattern is not all zero."""
    return as_words(raw, dtype) != 0


# -- bitmask + values -------------------------------------------------------------------


def bitmask_encode(raw: np.ndarray, dtype: DType) -> tuple[np.ndarray, np.ndarray]:
    """``(mask, values)``: the packed non-zero bitmap (1 bit per element) and the non-zero
    values' bytes, both uint8."""
    words = as_words(raw, dtype)
    nz = words != 0
    return np.packbits(nz), np.ascontiguousarray(words[nz]).view(np.uint8)


def bitmask_decode(mask: np.ndarray, values: np.ndarray, dtype: DType, count: int) -> np.ndarray:
    """Inverse of :func:`bitmask_encode` for ``count`` elements: the original bytes."""
    nz = np.unpackbits(mask, count=count).astype(bool)
    words = np.zeros(count, dtype=_UINT[dtype.itemsize])
    words[nz] = values.view(_UINT[dtype.itemsize])
    return words.view(np.uint8)


# -- N:M metadata + values --------------------------------------------------------------


def nm_holds(raw: np.ndarray, dtype: DType, row_length: int, n: int, m: int) -> bool:
    """Whether every group of ``m`` consecutive elements has at most ``n`` non-zeros.

    Groups run along rows of ``row_length`` elements, which must be a multiple of ``m`` (so
    no group straddles two rows); ``raw`` must start at an element index that is a multiple
    of ``m``.
    """
    words = as_words(raw, dtype)
    if row_length % m or words.size % m:
        return False
    return bool((_group_counts(words.reshape(-1, m).T != 0) <= n).all())


def nm_pattern(raw: np.ndarray, dtype: DType, row_length: int) -> tuple[int, int] | None:
    """The first pattern of :data:`NM_PATTERNS` that ``raw`` satisfies, or None."""
    for n, m in NM_PATTERNS:
        if nm_holds(raw, dtype, row_length, n, m):
            return n, m
    return None


def nm_encode(raw: np.ndarray, dtype: DType, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(meta, values)`` of an N:M-sparse buffer (the caller checked :func:`nm_holds`):
    ``meta`` packs ceil(log2 m) bits per kept index, ``values`` holds n values per group."""
    # Work on positions: cols[c] holds position c of every group. m*n vectorised passes
    # over contiguous rows are much faster than np.nonzero or sorting along short rows.
    cols = np.ascontiguousarray(as_words(raw, dtype).reshape(-1, m).T)
    nz = cols != 0
    room = n - _group_counts(nz)  # zeros each group must keep to fill its n slots
    idx = np.zeros((n, cols.shape[1]), dtype=np.uint8)
    values = np.zeros((n, cols.shape[1]), dtype=cols.dtype)
    slot = np.zeros(cols.shape[1], dtype=np.uint8)
    zeros_seen = np.zeros(cols.shape[1], dtype=np.uint8)
    for c in range(m):
        zero = ~nz[c]
        zeros_seen += zero
        keep = nz[c] | (zero & (zeros_seen <= room))  # every non-zero, then the first zeros
        for k in range(n):
            hit = keep & (slot == k)
            np.putmask(idx[k], hit, np.uint8(c))
            np.putmask(values[k], hit, cols[c])
        slot += keep
    return _pack_indices(idx.T.reshape(-1), m), np.ascontiguousarray(values.T).reshape(-1).view(np.uint8)


def nm_decode(meta: np.ndarray, values: np.ndarray, dtype: DType, n: int, m: int, count: int) -> np.ndarray:
    """Inverse of :func:`nm_encode` for ``count`` elements: the original bytes."""
    groups = count // m
    idx = np.ascontiguousarray(_unpack_indices(meta, groups * n, m).reshape(groups, n).T)
    kept = np.ascontiguousarray(values.view(_UINT[dtype.itemsize]).reshape(groups, n).T)
    cols = np.zeros((m, groups), dtype=kept.dtype)
    for k in range(n):
        for c in range(m):
            np.putmask(cols[c], idx[k] == c, kept[k])
    return np.ascontiguousarray(cols.T).reshape(-1).view(np.uint8)


def _group_counts(nz: np.ndarray) -> np.ndarray:
    """Non-zeros per group of an (m, groups) boolean array, as uint8."""
    counts = np.zeros(nz.shape[1], dtype=np.uint8)
    for row in nz:
        counts += row
    return counts


def index_bits(m: int) -> int:
    """Bits per kept index in a group of ``m``."""
    return max(1, math.ceil(math.log2(m)))


def _pack_indices(idx: np.ndarray, m: int) -> np.ndarray:
    b = index_bits(m)
    bits = np.empty((idx.size, b), dtype=np.uint8)
    for k in range(b):
        bits[:, k] = (idx >> (b - 1 - k)) & 1
    return np.packbits(bits)


def _unpack_indices(meta: np.ndarray, count: int, m: int) -> np.ndarray:
    b = index_bits(m)
    bits = np.unpackbits(meta, count=count * b).reshape(count, b)
    idx = np.zeros(count, dtype=np.uint8)
    for k in range(b):
        idx |= bits[:, k] << (b - 1 - k)
    return idx
