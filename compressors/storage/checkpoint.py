"""Find and read the tensors of a checkpoint: safetensors files, byte-exact, one tensor at a time.

Accepts a Hugging Face model folder (one ``*.safetensors`` file or shards listed in
``model.safetensors.index.json``), a compressed-tensors export (the same, with a
``quantization_config`` in ``config.json``), a checkpoint that ``kick`` built from a recipe
(the same, with the recipe in ``kick_recipe.json``), or a single ``.safetensors`` file.

Why the header is read here rather than through ``safetensors.safe_open``: the analysis needs
the bytes exactly as they lie on disk, for every dtype. The library's NumPy backend cannot
represent BF16 or FP8 (``data type 'bfloat16' not understood``) and its torch backend would
import torch and build a tensor only to turn it back into bytes. The format is an 8-byte
little-endian header length, a JSON header of ``{name: {dtype, shape, data_offsets}}``, then
the data (huggingface/safetensors, "Format"); reading it takes a few lines, lets every tensor
be read in row ranges (bounded memory, sampling without reading the rest), and lets every
problem be reported with the file and tensor it concerns. Pickled ``.bin`` checkpoints are
never read.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compressors.storage.dtypes import DType, dtype_named
from kick_core.provenance import RECIPE_FILE

INDEX_FILE = "model.safetensors.index.json"
#: A header larger than this is treated as corruption, not read into memory.
MAX_HEADER_BYTES = 100 * 1024 * 1024


class StorageInputError(ValueError):
    """A checkpoint the analysis cannot read; the message names the file (and tensor)."""


@dataclass(frozen=True)
class TensorRecord:
    """Where one tensor's bytes lie: ``nbytes`` bytes from absolute file offset ``offset``."""

    file: Path
    name: str
    dtype: DType
    shape: tuple[int, ...]
    offset: int
    nbytes: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def row_length(self) -> int:
        """Elements per row along the last dimension (all elements for 0-/1-D tensors)."""
        return self.shape[-1] if len(self.shape) >= 2 else max(1, self.numel)

    @property
    def rows(self) -> int:
        return self.numel // self.row_length if self.numel else 0

    def read_rows(self, first: int, count: int) -> np.ndarray:
        """Bytes of rows ``first .. first+count-1`` as a fresh uint8 array."""
        row_bytes = self.row_length * self.dtype.itemsize
        size = count * row_bytes
        out = np.empty(size, dtype=np.uint8)
        with open(self.file, "rb") as fh:
            fh.seek(self.offset + first * row_bytes)
            got = fh.readinto(memoryview(out))
        if got != size:
            raise StorageInputError(
                f"{self.file}: tensor {self.name}: read {got} of {size} bytes at row {first}: "
                "the file is shorter than its header says (changed or truncated while reading?)"
            )
        return out


@dataclass
class Checkpoint:
    """The safetensors files of a model and the tensors they hold, in file order."""

    root: Path
    files: list[Path]
    tensors: list[TensorRecord]
    config: dict

    @property
    def raw_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    @property
    def quantization_config(self) -> dict | None:
        qc = self.config.get("quantization_config")
        return qc if isinstance(qc, dict) else None

    @property
    def kick_record(self) -> dict | None:
        """The ``kick_recipe.json`` that ``kick`` writes beside a compressed checkpoint it
        built (cache entry or export): the recipe, calibration and measured sparsity."""
        path = self.root / RECIPE_FILE
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise StorageInputError(f"{path}: not valid JSON: {err}") from None


def open_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Locate the weight files under ``path`` and read and check every header."""
    path = Path(path)
    if path.is_file():
        root, files = path.parent, [path]
    elif path.is_dir():
        root, files = path, _weight_files(path)
    else:
        raise StorageInputError(f"{path}: no such file or folder")
    config = {}
    if (root / "config.json").is_file():
        try:
            config = json.loads((root / "config.json").read_text())
        except json.JSONDecodeError as err:
            raise StorageInputError(f"{root / 'config.json'}: not valid JSON: {err}") from None
    tensors = [record for file in files for record in read_header(file)]
    return Checkpoint(root=root, files=files, tensors=tensors, config=config)


def _weight_files(folder: Path) -> list[Path]:
    index = folder / INDEX_FILE
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise StorageInputError(f"{index}: not a safetensors index (needs a 'weight_map'): {err}") from None
        files = [folder / name for name in dict.fromkeys(weight_map.values())]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise StorageInputError(f"{index}: lists shard(s) that are missing: {', '.join(missing)}")
        return files
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".ckpt"})
        hint = f" (found {', '.join(pickles)}: pickled checkpoints are never read; convert them to safetensors)" if pickles else ""
        raise StorageInputError(f"{folder}: no weights: no *.safetensors file{hint}")
    return files


def read_header(file: Path) -> list[TensorRecord]:
    """The tensors of one safetensors file, checked against the file's size."""
    size = file.stat().st_size
    with open(file, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise StorageInputError(f"{file}: not a safetensors file: {size} bytes, less than the 8-byte header length")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > min(size - 8, MAX_HEADER_BYTES):
            raise StorageInputError(
                f"{file}: header length {header_len} does not fit in a file of {size} bytes: "
                "truncated or not a safetensors file"
            )
        try:
            header = json.loads(fh.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise StorageInputError(f"{file}: corrupt header (not JSON): {err}") from None
    if not isinstance(header, dict):
        raise StorageInputError(f"{file}: corrupt header: a JSON {type(header).__name__}, not an object")
    data_start, data_size = 8 + header_len, size - 8 - header_len
    records = [_record(file, name, entry, data_start, data_size) for name, entry in header.items() if name != "__metadata__"]
    records.sort(key=lambda r: r.offset)
    for before, after in zip(records, records[1:]):
        if after.offset < before.offset + before.nbytes:
            raise StorageInputError(f"{file}: tensor {after.name}: its bytes overlap those of tensor {before.name}")
    return records


def _record(file: Path, name: str, entry, data_start: int, data_size: int) -> TensorRecord:
    where = f"{file}: tensor {name}"
    try:
        dtype_name, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        shape = tuple(int(d) for d in shape)
        begin, end = int(begin), int(end)
    except (KeyError, TypeError, ValueError) as err:
        raise StorageInputError(f"{where}: malformed header entry {entry!r} ({err})") from None
    try:
        dtype = dtype_named(dtype_name)
    except KeyError as err:
        raise StorageInputError(f"{where}: {err.args[0]}") from None
    need = math.prod(shape) * dtype.itemsize
    if min(shape, default=0) < 0 or end - begin != need:
        raise StorageInputError(
            f"{where}: data_offsets [{begin}, {end}) hold {end - begin} bytes but shape {list(shape)} "
            f"of {dtype.name} needs {need}"
        )
    if begin < 0 or end > data_size:
        raise StorageInputError(
            f"{where}: its data ends at byte {end} of the data section but the file holds only "
            f"{data_size} data bytes: truncated file"
        )
    return TensorRecord(file=file, name=name, dtype=dtype, shape=shape, offset=data_start + begin, nbytes=need)
