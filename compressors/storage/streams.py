"""The byte streams one chunk of one tensor is coded as: plain, byte-grouped, and sparse layouts.

A *stream* is a list of named uint8 *parts*, each coded on its own:

============  ===========================================================================
``plain``     the bytes as stored (for packed integer weights: the packed bytes)
``grouped``   byte planes of 16/32-bit floats (:mod:`compressors.storage.byte_planes`)
``bitmask``   non-zero bitmap + non-zero values, values byte-grouped where possible
``nm``        N:M index metadata + kept values, values byte-grouped where possible
============  ===========================================================================

Which streams a tensor gets is decided once, from its first chunk (:func:`plan_layouts`):
sparse layouts only for float tensors, the bitmask when at least ``sparse_min`` of the
elements are zero, N:M when a pattern of :data:`~compressors.storage.sparse_layouts.NM_PATTERNS`
holds. Every layout is undone right after it is built, which gives its decode time for the
load-time model and, with ``verify``, the check that it is lossless.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from compressors.storage import byte_planes, sparse_layouts
from compressors.storage.checkpoint import TensorRecord
from compressors.storage.codecs import LosslessError

STREAMS = ("plain", "grouped", "bitmask", "nm")


@dataclass(frozen=True)
class LayoutPlan:
    """The streams chosen for one tensor."""

    grouping: str | None  # byte-grouping scheme, None when it does not apply
    bitmask: bool
    nm: tuple[int, int] | None

    def names(self) -> list[str]:
        chosen = {"plain": True, "grouped": self.grouping is not None, "bitmask": self.bitmask, "nm": self.nm is not None}
        return [name for name in STREAMS if chosen[name]]


@dataclass
class Stream:
    """Parts of one stream of one chunk, with the CPU seconds to build and to undo the layout."""

    name: str
    parts: list[tuple[str, np.ndarray]]
    prepare_s: float = 0.0
    restore_s: float = 0.0


def plan_layouts(
    raw: np.ndarray, record: TensorRecord, layouts: tuple[str, ...], grouping: str, sparse_min: float
) -> LayoutPlan:
    """Choose the streams of ``record`` from the bytes ``raw`` of its first chunk."""
    dtype = record.dtype
    group = grouping if "grouped" in layouts and byte_planes.groupable(dtype) else None
    if dtype.kind != "float" or raw.size == 0:
        return LayoutPlan(group, False, None)
    zeros = 1.0 - np.count_nonzero(sparse_layouts.nonzero_mask(raw, dtype)) / (raw.size // dtype.itemsize)
    bitmask = "bitmask" in layouts and zeros >= sparse_min
    nm = sparse_layouts.nm_pattern(raw, dtype, record.row_length) if "nm" in layouts and zeros >= sparse_min else None
    return LayoutPlan(group, bitmask, nm)


def build_streams(raw: np.ndarray, record: TensorRecord, plan: LayoutPlan, verify: bool) -> list[Stream]:
    """The streams of ``plan`` for one chunk (whole rows) of ``record``.

    ``nm`` is left out when its pattern does not hold in this chunk; the caller then drops
    the layout for the whole tensor.
    """
    where = f"{record.file}: tensor {record.name}"
    dtype, count = record.dtype, raw.size // record.dtype.itemsize
    streams = [Stream("plain", [("raw", raw)])]

    def values_parts(values: np.ndarray) -> list[tuple[str, np.ndarray]]:
        if plan.grouping is None:
            return [("values", values)]
        planes = byte_planes.split(values, dtype, plan.grouping)
        return [(f"values.{n}", p) for n, p in zip(byte_planes.plane_names(dtype, plan.grouping), planes)]

    def values_of(parts: list[tuple[str, np.ndarray]]) -> np.ndarray:
        arrays = [p for _, p in parts]
        return arrays[0] if plan.grouping is None else byte_planes.merge(arrays, dtype, plan.grouping)

    if plan.grouping is not None:
        t0 = time.thread_time()
        planes = byte_planes.split(raw, dtype, plan.grouping)
        t1 = time.thread_time()
        restored = byte_planes.merge(planes, dtype, plan.grouping)
        t2 = time.thread_time()
        _check(verify, restored, raw, where, "grouped")
        names = byte_planes.plane_names(dtype, plan.grouping)
        streams.append(Stream("grouped", list(zip(names, planes)), t1 - t0, t2 - t1))

    if plan.bitmask:
        t0 = time.thread_time()
        mask, values = sparse_layouts.bitmask_encode(raw, dtype)
        parts = [("mask", mask), *values_parts(values)]
        t1 = time.thread_time()
        restored = sparse_layouts.bitmask_decode(mask, values_of(parts[1:]), dtype, count)
        t2 = time.thread_time()
        _check(verify, restored, raw, where, "bitmask")
        streams.append(Stream("bitmask", parts, t1 - t0, t2 - t1))

    if plan.nm is not None and sparse_layouts.nm_holds(raw, dtype, record.row_length, *plan.nm):
        n, m = plan.nm
        t0 = time.thread_time()
        meta, values = sparse_layouts.nm_encode(raw, dtype, n, m)
        parts = [("meta", meta), *values_parts(values)]
        t1 = time.thread_time()
        restored = sparse_layouts.nm_decode(meta, values_of(parts[1:]), dtype, n, m, count)
        t2 = time.thread_time()
        _check(verify, restored, raw, where, f"{n}:{m}")
        streams.append(Stream("nm", parts, t1 - t0, t2 - t1))
    return streams


def _check(verify: bool, restored: np.ndarray, raw: np.ndarray, where: str, layout: str) -> None:
    if verify and not np.array_equal(restored, raw):
        raise LosslessError(f"{where}: the {layout} layout did not restore the original bytes")
