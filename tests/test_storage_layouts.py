"""Byte planes, sparse layouts, entropy and packed fields: lossless and right, on random bits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compressors.storage import byte_planes, sparse_layouts
from compressors.storage.dtypes import DTYPES
from compressors.storage.entropy import Histogram, entropy_bits
from compressors.storage.packed import add_fields, packed_bits

RNG = np.random.default_rng(0)
FLOATS = ["BF16", "F16", "F32"]


def random_bits(dtype_name: str, count: int) -> np.ndarray:
    """Random bit patterns: NaNs, infinities, subnormals and -0 all occur."""
    return RNG.integers(0, 256, size=count * DTYPES[dtype_name].itemsize, dtype=np.uint8)


@pytest.mark.parametrize("name", FLOATS)
@pytest.mark.parametrize("scheme", byte_planes.SCHEMES)
def test_byte_planes_round_trip(name, scheme):
    dtype = DTYPES[name]
    raw = random_bits(name, 10_001)
    planes = byte_planes.split(raw, dtype, scheme)
    assert len(planes) == len(byte_planes.plane_names(dtype, scheme))
    assert all(p.dtype == np.uint8 and p.size == 10_001 for p in planes)
    assert np.array_equal(byte_planes.merge(planes, dtype, scheme), raw)


def test_field_planes_hold_the_ieee_fields():
    x = RNG.standard_normal(5000).astype(np.float32) * 1e3
    bits = x.view(np.uint32)
    exponent, *sign_mantissa = byte_planes.split(x.view(np.uint8), DTYPES["F32"], "fields")
    assert np.array_equal(exponent, (bits >> 23) & 0xFF)
    joined = sum(p.astype(np.uint32) << (8 * i) for i, p in enumerate(reversed(sign_mantissa)))
    assert np.array_equal(joined, ((bits >> 31) << 23) | (bits & 0x7FFFFF))
    # BF16 is the top half of FP32: the same exponent, and the sign over 7 mantissa bits.
    bf16 = (bits >> 16).astype(np.uint16)
    exponent16, head = byte_planes.split(bf16.view(np.uint8), DTYPES["BF16"], "fields")
    assert np.array_equal(exponent16, exponent)
    assert np.array_equal(head, ((bf16 >> 15) << 7) | (bf16 & 0x7F))
    h = RNG.standard_normal(5000).astype(np.float16).view(np.uint16)
    e16, hi, lo = byte_planes.split(h.view(np.uint8), DTYPES["F16"], "fields")
    assert np.array_equal(e16, (h >> 10) & 0x1F)
    assert np.array_equal((hi.astype(np.uint16) << 8) | lo, ((h >> 15) << 10) | (h & 0x3FF))


def test_byte_planes_reject_other_dtypes_and_schemes():
    with pytest.raises(ValueError, match="BF16, F16 and F32, not I32"):
        byte_planes.split(random_bits("I32", 4), DTYPES["I32"])
    with pytest.raises(ValueError, match="scheme 'nibbles' is not known; allowed: fields, bytes"):
        byte_planes.split(random_bits("BF16", 4), DTYPES["BF16"], "nibbles")


def sparse_words(name: str, shape: tuple[int, int], density: float) -> np.ndarray:
    words = random_bits(name, math.prod(shape)).view(f"<u{DTYPES[name].itemsize}").reshape(shape)
    words[RNG.random(shape) >= density] = 0
    return words


@pytest.mark.parametrize("name", FLOATS)
def test_bitmask_round_trip_and_size(name):
    dtype = DTYPES[name]
    words = sparse_words(name, (37, 64), 0.3)
    words[0, :3] = 0x8000 if dtype.itemsize == 2 else 0x80000000  # -0.0 is a value, not a zero
    raw = words.reshape(-1).view(np.uint8)
    mask, values = sparse_layouts.bitmask_encode(raw, dtype)
    nonzero = int(np.count_nonzero(words))
    assert mask.size == math.ceil(words.size / 8) and values.size == nonzero * dtype.itemsize
    assert np.array_equal(sparse_layouts.bitmask_decode(mask, values, dtype, words.size), raw)


def nm_sparse(name: str, rows: int, n: int, m: int) -> np.ndarray:
    """Every group of m has at most n non-zeros (sometimes fewer, sometimes none)."""
    words = sparse_words(name, (rows * 16, m), 1.0)
    for group in words:
        group[RNG.choice(m, m - int(RNG.integers(0, n + 1)), replace=False)] = 0
    return words.reshape(rows, 16 * m)


@pytest.mark.parametrize("name", FLOATS)
@pytest.mark.parametrize("n,m", sparse_layouts.NM_PATTERNS)
def test_nm_round_trip_and_metadata_size(name, n, m):
    dtype = DTYPES[name]
    words = nm_sparse(name, 9, n, m)
    raw = words.reshape(-1).view(np.uint8)
    assert sparse_layouts.nm_holds(raw, dtype, words.shape[1], n, m)
    meta, values = sparse_layouts.nm_encode(raw, dtype, n, m)
    groups = words.size // m
    assert meta.size == math.ceil(groups * n * sparse_layouts.index_bits(m) / 8)
    assert values.size == groups * n * dtype.itemsize
    assert np.array_equal(sparse_layouts.nm_decode(meta, values, dtype, n, m, words.size), raw)


def test_nm_metadata_is_the_kept_positions():
    dtype = DTYPES["BF16"]
    words = np.array([[0, 5, 0, 7, 9, 0, 0, 0]], dtype=np.uint16)  # groups: {1, 3} and {0, pad 1}
    meta, values = sparse_layouts.nm_encode(words.view(np.uint8).reshape(-1), dtype, 2, 4)
    assert np.unpackbits(meta)[:8].tolist() == [0, 1, 1, 1, 0, 0, 0, 1]  # 1, 3, 0, 1 in 2 bits
    assert values.view(np.uint16).tolist() == [5, 7, 9, 0]


def test_nm_detection():
    dtype = DTYPES["BF16"]
    words = nm_sparse("BF16", 4, 2, 4)
    words[0, :4] = [1, 2, 0, 0]  # two non-zeros side by side: 2:4 but not 1:2
    two_four = words.reshape(-1).view(np.uint8)
    assert sparse_layouts.nm_pattern(two_four, dtype, 64) == (2, 4)
    dense = sparse_words("BF16", (4, 64), 1.0).reshape(-1).view(np.uint8)
    assert sparse_layouts.nm_pattern(dense, dtype, 64) is None
    assert not sparse_layouts.nm_holds(two_four, dtype, 66, 2, 4)  # groups would straddle rows
    four_eight = nm_sparse("BF16", 4, 4, 8).reshape(-1).view(np.uint8)
    assert sparse_layouts.nm_holds(four_eight, dtype, 128, 4, 8)


def test_entropy_of_known_distributions():
    assert entropy_bits(np.array([10, 0, 0])) == 0.0
    assert entropy_bits(np.array([5, 5])) == pytest.approx(1.0)
    assert entropy_bits(np.array([1, 1, 2])) == pytest.approx(1.5)
    hist = Histogram(256)
    hist.add(np.arange(256, dtype=np.uint8))
    hist.add(np.arange(256, dtype=np.uint8))  # accumulates across chunks
    assert hist.total == 512 and hist.bits_per_symbol() == pytest.approx(8.0)
    assert Histogram().bits_per_symbol() == 0.0


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_packed_fields_match_compressed_tensors_packing(bits):
    torch = pytest.importorskip("torch")
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32

    low = -(1 << (bits - 1))
    values = torch.randint(low, -low, (6, 64), dtype=torch.int8, generator=torch.Generator().manual_seed(bits))
    packed = pack_to_int32(values, bits).numpy()
    hist = Histogram(1 << bits)
    add_fields(hist, packed.view(np.uint8).reshape(-1), packed.shape[1] * 4, bits)
    expected = np.bincount((values.numpy().astype(np.int64) - low).reshape(-1), minlength=1 << bits)
    assert np.array_equal(hist.counts, expected)  # 64 * bits is a multiple of 32: no padding


def test_packed_bits_reads_compressed_tensors_configs():
    group = {"weights": {"num_bits": 4}, "targets": ["Linear"]}
    config = {"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {"g": group}}
    assert packed_bits(config) == 4
    assert packed_bits({**config, "format": "float-quantized"}) is None
    mixed = {**config, "config_groups": {"a": group, "b": {"weights": {"num_bits": 8}}}}
    assert packed_bits(mixed) is None
    assert packed_bits(None) is None
