"""Reading checkpoints: byte-exact tensors, and clear errors for every kind of bad input."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from compressors.storage.checkpoint import StorageInputError, open_checkpoint, read_header
from compressors.storage.cli import main


def write_raw(path, header: dict, data: bytes) -> None:
    """A safetensors file with exactly this header and data (no checks: to build bad files)."""
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)


def good_header() -> dict:
    return {
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "BF16", "shape": [4], "data_offsets": [24, 32]},
        "__metadata__": {"format": "pt"},
    }


def test_reads_records_in_file_order(tmp_path):
    write_raw(tmp_path / "model.safetensors", good_header(), bytes(range(32)))
    (a, b) = open_checkpoint(tmp_path).tensors
    assert (a.name, a.dtype.name, a.shape, a.row_length, a.rows) == ("a", "F32", (2, 3), 3, 2)
    assert (b.name, b.shape, b.row_length, b.rows, b.nbytes) == ("b", (4,), 4, 1, 8)
    assert a.read_rows(1, 1).tobytes() == bytes(range(12, 24))
    assert b.read_rows(0, 1).tobytes() == bytes(range(24, 32))


def test_raw_bytes_equal_the_safetensors_library(tiny_model_dir):
    torch = pytest.importorskip("torch")
    from safetensors import safe_open

    checkpoint = open_checkpoint(tiny_model_dir)
    with safe_open(checkpoint.files[0], framework="pt") as lib:
        assert sorted(lib.keys()) == sorted(r.name for r in checkpoint.tensors)
        for record in checkpoint.tensors:
            expected = lib.get_tensor(record.name).contiguous().view(torch.uint8).numpy().reshape(-1)
            assert np.array_equal(record.read_rows(0, record.rows), expected), record.name


def test_sharded_folder_uses_the_index(tmp_path):
    write_raw(tmp_path / "part-1.safetensors", {"x": {"dtype": "I8", "shape": [2], "data_offsets": [0, 2]}}, b"\1\2")
    write_raw(tmp_path / "part-2.safetensors", {"y": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"\3")
    write_raw(tmp_path / "stray.safetensors", {"z": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"\4")
    index = {"weight_map": {"x": "part-1.safetensors", "y": "part-2.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert [r.name for r in open_checkpoint(tmp_path).tensors] == ["x", "y"]
    index["weight_map"]["w"] = "part-3.safetensors"
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(StorageInputError, match="lists shard.*part-3.safetensors"):
        open_checkpoint(tmp_path)


def test_truncated_file_names_file_and_tensor(tmp_path):
    path = tmp_path / "model.safetensors"
    write_raw(path, good_header(), bytes(range(32)))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(StorageInputError, match=rf"{path}: tensor b: .*ends at byte 32 .* only 27 data bytes: truncated"):
        open_checkpoint(tmp_path)


def test_truncated_header_and_tiny_file(tmp_path):
    path = tmp_path / "model.safetensors"
    write_raw(path, good_header(), bytes(range(32)))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(StorageInputError, match=rf"{path}: header length \d+ does not fit in a file of 40 bytes"):
        read_header(path)
    path.write_bytes(b"\1\2\3")
    with pytest.raises(StorageInputError, match=rf"{path}: not a safetensors file: 3 bytes"):
        read_header(path)


def test_corrupt_header(tmp_path):
    path = tmp_path / "model.safetensors"
    blob = b'{"a": {"dtype": "F32", "shape": [1], "data_of'
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + b"\0" * 4)
    with pytest.raises(StorageInputError, match=rf"{path}: corrupt header \(not JSON\)"):
        read_header(path)
    write_raw(path, {"a": {"dtype": "F32", "shape": [1]}}, b"\0" * 4)
    with pytest.raises(StorageInputError, match=rf"{path}: tensor a: malformed header entry"):
        read_header(path)
    write_raw(path, {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4)
    with pytest.raises(StorageInputError, match=r"tensor a: data_offsets \[0, 4\) hold 4 bytes but shape \[2\] of F32 needs 8"):
        read_header(path)
    header = {"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, "b": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}}
    write_raw(path, header, b"\0" * 4)
    with pytest.raises(StorageInputError, match="tensor b: its bytes overlap those of tensor a"):
        read_header(path)


def test_unknown_dtype_names_file_tensor_and_known_dtypes(tmp_path):
    path = tmp_path / "model.safetensors"
    header = good_header()
    header["b"]["dtype"] = "F4"
    write_raw(path, header, bytes(32))
    with pytest.raises(StorageInputError, match=rf"{path}: tensor b: dtype 'F4' is not known; known: BOOL, U8"):
        open_checkpoint(path)


def test_folder_without_weights(tmp_path):
    with pytest.raises(StorageInputError, match=rf"{tmp_path}: no weights: no \*.safetensors file$"):
        open_checkpoint(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(StorageInputError, match="found pytorch_model.bin: pickled checkpoints are never read"):
        open_checkpoint(tmp_path)
    with pytest.raises(StorageInputError, match="no such file or folder"):
        open_checkpoint(tmp_path / "missing")


def test_command_reports_bad_input_with_exit_status_2(tmp_path, capsys):
    path = tmp_path / "model.safetensors"
    header = good_header()
    header["a"]["dtype"] = "Q4_K"
    write_raw(path, header, bytes(32))
    assert main([str(tmp_path), "--quiet", "--codecs", "lz4"]) == 2
    assert f"error: {path}: tensor a: dtype 'Q4_K' is not known" in capsys.readouterr().err


def test_checkpoint_built_by_kick_carries_its_recipe(tmp_path):
    from compressors.storage import summarize_folder

    write_raw(tmp_path / "model.safetensors", good_header(), bytes(range(32)))
    assert open_checkpoint(tmp_path).kick_record is None
    recipe = {"method": "wanda", "sparsity": 0.5, "pattern": "2:4", "scope": None, "ignore": ["lm_head"]}
    (tmp_path / "kick_recipe.json").write_text(json.dumps({"key": "k", "recipe": recipe, "report": {"big": 1}}))
    assert open_checkpoint(tmp_path).kick_record["recipe"] == recipe
    assert summarize_folder(tmp_path, codecs=["lz4"], full=True)["recipe"] == recipe
    (tmp_path / "kick_recipe.json").write_text("{")
    with pytest.raises(StorageInputError, match="kick_recipe.json: not valid JSON"):
        open_checkpoint(tmp_path).kick_record
