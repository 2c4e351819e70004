"""The element types a safetensors file can name, and the bit layout of each.

The names are those of the safetensors format (``huggingface/safetensors``, ``Dtype``).
Floating-point types carry their IEEE-754-style field widths (sign 1 bit, then exponent,
then mantissa) so that :mod:`compressors.storage.byte_planes` can pull the exponent apart
from the sign and mantissa. Sub-byte types (``F4``, ``F6_*``) are left out on purpose: their
packing is not fixed by the format's header alone, so a file that uses them gets a clear
"unknown dtype" error instead of a guessed answer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DType:
    """One safetensors element type.

    ``kind`` is ``"float"``, ``"int"``, ``"uint"`` or ``"bool"``; ``exponent_bits`` and
    ``mantissa_bits`` are set for floats only.
    """

    name: str
    itemsize: int
    kind: str
    exponent_bits: int = 0
    mantissa_bits: int = 0

    @property
    def bits(self) -> int:
        return 8 * self.itemsize


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType("BOOL", 1, "bool"),
        DType("U8", 1, "uint"),
        DType("I8", 1, "int"),
        DType("U16", 2, "uint"),
        DType("I16", 2, "int"),
        DType("U32", 4, "uint"),
        DType("I32", 4, "int"),
        DType("U64", 8, "uint"),
        DType("I64", 8, "int"),
        DType("F8_E4M3", 1, "float", 4, 3),
        DType("F8_E5M2", 1, "float", 5, 2),
        DType("F16", 2, "float", 5, 10),
        DType("BF16", 2, "float", 8, 7),
        DType("F32", 4, "float", 8, 23),
        DType("F64", 8, "float", 11, 52),
    )
}


def dtype_named(name: str) -> DType:
    """The :class:`DType` called ``name``; ``KeyError`` naming the known ones otherwise."""
    try:
        return DTYPES[name]
    except KeyError:
        raise KeyError(f"dtype {name!r} is not known; known: {', '.join(DTYPES)}") from None
