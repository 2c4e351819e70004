"""Packed integer weights of compressed-tensors exports: which tensors, how many bits, what values.

compressed-tensors' ``pack-quantized`` format (the one llmcompressor writes for GPTQ/RTN
W4A16 and W8A16 with ``save_compressed=True``) stores each quantized Linear's weight as
``<module>.weight_packed``: int32 words holding B-bit fields (value + 2^(B-1), unsigned),
densely, least significant bits first, each row starting a fresh word
(``compressed_tensors.compressors.pack_quantized.helpers.pack_to_int32``). The packed bytes
are what lies on disk; the stream of B-bit values is what an entropy coder of quantized
weights would code, so its order-0 entropy is the bound reported for these tensors.

When ``B * columns`` is not a multiple of 32, the last word of each row carries up to 31
padding bits; they are counted as (zero) fields, which moves the bound by at most
31/(B * columns) of a row.
"""

from __future__ import annotations

import numpy as np

from compressors.storage.checkpoint import TensorRecord
from compressors.storage.entropy import Histogram

PACKED_SUFFIX = ".weight_packed"
#: Rows of packed bytes unpacked to bits at a time (the bits take 8x the space).
_BATCH_BYTES = 1 << 20


def packed_bits(quantization_config: dict | None) -> int | None:
    """The weights' bit width of a ``pack-quantized`` compressed-tensors config, or None
    (not that format, or groups with different widths: then no value stream is derived)."""
    if not quantization_config or quantization_config.get("quant_method") != "compressed-tensors":
        return None
    groups = (quantization_config.get("config_groups") or {}).values()
    formats = {quantization_config.get("format")} | {g.get("format") for g in groups if g.get("format")}
    if "pack-quantized" not in formats:
        return None
    bits = {int(g["weights"]["num_bits"]) for g in groups if (g.get("weights") or {}).get("num_bits")}
    return bits.pop() if len(bits) == 1 else None


def is_packed(record: TensorRecord, bits: int | None) -> bool:
    """Whether ``record`` is a packed weight whose fields we can read."""
    return bits is not None and record.dtype.name == "I32" and record.name.endswith(PACKED_SUFFIX)


def add_fields(hist: Histogram, raw: np.ndarray, row_bytes: int, bits: int) -> None:
    """Count the ``bits``-wide fields of whole rows of packed bytes ``raw`` into ``hist``."""
    mask = (1 << bits) - 1
    if 8 % bits == 0:  # fields never straddle bytes: shift them out of every byte
        for k in range(8 // bits):
            hist.add((raw >> (bits * k)) & mask)
        return
    rows = raw.reshape(-1, row_bytes)
    per_row = (row_bytes * 8) // bits
    weights = (1 << np.arange(bits)).astype(np.uint16)
    step = max(1, _BATCH_BYTES // row_bytes)  # unpacking takes 8 bytes per packed byte
    for first in range(0, rows.shape[0], step):
        stream = np.unpackbits(rows[first : first + step], axis=1, bitorder="little")[:, : per_row * bits]
        hist.add(stream.reshape(-1, bits).astype(np.uint16) @ weights)

