"""Byte grouping: split 16- and 32-bit floats into planes that a general-purpose coder likes.

A float's exponent is highly skewed in trained weights (a few values cover most of them)
while its mantissa is close to uniform. Interleaved in memory they hide each other from a
byte-oriented coder; written as separate streams ("planes") the exponent plane compresses
well and the mantissa planes are left alone. Two schemes:

* ``"bytes"``: plain byte transposition, plane *i* holds byte *i* of every value (most
  significant first). This is the byte grouping of ZipNN (Hershcovitch et al., "ZipNN:
  Lossless Compression for AI Models", 2024, Sec. 3). For BF16 the high byte then holds the
  sign and seven exponent bits, and the low byte the last exponent bit and the mantissa.
* ``"fields"`` (the default): exponent and mantissa fully apart, as in DFloat11 (Zhang et
  al., "70% Size, 100% Accuracy", 2025, Sec. 2: the exponent is entropy-coded, sign and
  mantissa stored as they are). Plane 0 holds the exponent field (at most 8 bits, one byte
  per value); the remaining planes hold ``sign || mantissa`` (1 + m bits), most significant
  byte first. BF16 -> exponent + 1 byte; FP16 -> exponent + 2 bytes (the high one holds 3
  bits); FP32 -> exponent + 3 bytes. The planes together have exactly as many bytes as the
  input for BF16 and FP32, and 3/2 as many for FP16 (whose 5-bit exponent and 11-bit sign and
  mantissa do not fall on byte boundaries); a coder squeezes the unused high bits away.

Both are bijections on bit patterns (NaNs, infinities, subnormals, -0 included), so
``merge(split(x)) == x`` byte for byte; the tests check it on random bit patterns.

NumPy does the bit work: no maintained library exposes these transforms as a function
(ZipNN's own package bundles them with its codec and file format).
"""

from __future__ import annotations

import numpy as np

from compressors.storage.dtypes import DType

SCHEMES = ("fields", "bytes")

def groupable(dtype: DType) -> bool:
    """Whether byte grouping applies: 16- and 32-bit floats (BF16, F16, F32)."""
    return dtype.kind == "float" and dtype.itemsize in (2, 4)


def plane_names(dtype: DType, scheme: str) -> list[str]:
    """Names of the planes :func:`split` returns, in order."""
    _check(dtype, scheme)
    if scheme == "bytes":
        return [f"byte{i}" for i in reversed(range(dtype.itemsize))]
    n = _sign_mantissa_bytes(dtype)
    return ["exponent"] + [f"sign_mantissa{i}" for i in reversed(range(n))]


def split(raw: np.ndarray, dtype: DType, scheme: str = "fields") -> list[np.ndarray]:
    """Split the little-endian bytes ``raw`` (uint8) of ``dtype`` values into uint8 planes."""
    _check(dtype, scheme)
    if raw.size % dtype.itemsize:
        raise ValueError(f"{raw.size} bytes are not a whole number of {dtype.name} values")
    cols = raw.reshape(-1, dtype.itemsize)  # cols[:, j] is byte j (bits 8j..8j+7) of every value
    if scheme == "bytes":
        return [np.ascontiguousarray(cols[:, j]) for j in reversed(range(dtype.itemsize))]
    # Byte arithmetic on columns rather than shifts of whole words: a few times faster.
    m, top, low = dtype.mantissa_bits, dtype.itemsize - 1, dtype.mantissa_bits % 8
    j = m // 8  # the byte holding the highest mantissa bits and the lowest exponent bits
    exponent = cols[:, j] >> low
    if (m + dtype.exponent_bits - 1) // 8 > j:  # the exponent continues into byte j+1
        exponent |= cols[:, j + 1] << (8 - low)
    exponent &= (1 << dtype.exponent_bits) - 1
    sign = cols[:, top] >> 7
    head = (cols[:, j] & ((1 << low) - 1)) | (sign << low)  # sign just above the mantissa
    return [exponent, head] + [np.ascontiguousarray(cols[:, i]) for i in reversed(range(j))]


def merge(planes: list[np.ndarray], dtype: DType, scheme: str = "fields") -> np.ndarray:
    """Inverse of :func:`split`: the original little-endian bytes as a uint8 array."""
    _check(dtype, scheme)
    cols = np.empty((planes[0].size, dtype.itemsize), dtype=np.uint8)
    if scheme == "bytes":
        for j, plane in zip(reversed(range(dtype.itemsize)), planes):
            cols[:, j] = plane
        return cols.reshape(-1)
    m, top, low = dtype.mantissa_bits, dtype.itemsize - 1, dtype.mantissa_bits % 8
    j = m // 8
    exponent, head = planes[0], planes[1]
    for i, plane in zip(reversed(range(j)), planes[2:]):
        cols[:, i] = plane
    cols[:, j] = (head & ((1 << low) - 1)) | (exponent << low)
    for k in range(j + 1, dtype.itemsize):  # the exponent's remaining bits
        cols[:, k] = exponent >> (8 * k - m)
    cols[:, top] |= (head >> low) << 7  # the sign
    return cols.reshape(-1)


def _sign_mantissa_bytes(dtype: DType) -> int:
    return (1 + dtype.mantissa_bits + 7) // 8


def _check(dtype: DType, scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"byte grouping scheme {scheme!r} is not known; allowed: {', '.join(SCHEMES)}")
    if not groupable(dtype):
        raise ValueError(f"byte grouping applies to BF16, F16 and F32, not {dtype.name}")
