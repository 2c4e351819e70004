"""The load-model validation's smoke mode, its throttle and its chunking."""

from __future__ import annotations

import json
import os
import time

import pytest

from bench import storage_offload
from compressors.storage.checkpoint import open_checkpoint

pytestmark = pytest.mark.bench


def test_throttle_never_reads_faster_than_its_bandwidth(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(400_000))
    reader = storage_offload.ThrottledReader(4e6)  # 0.1 s for the whole file
    fd = os.open(path, os.O_RDONLY)
    try:
        start = time.perf_counter()
        data = b"".join(reader.read(fd, offset, 50_000) for offset in range(0, 400_000, 50_000))
        elapsed = time.perf_counter() - start
    finally:
        os.close(fd)
    assert data == path.read_bytes()
    assert elapsed >= 0.1 * 0.999


def test_chunks_end_at_the_memory_sizes(tiny_model_dir):
    records = open_checkpoint(tiny_model_dir).tensors
    total = sum(r.nbytes for r in records)
    boundaries = [total * 0.3, total * 0.7]
    chunks = storage_offload.cut(records, 4096, boundaries)
    assert sum(c.length for c in chunks) == total and max(c.length for c in chunks) <= 4096
    for memory in boundaries:
        streamed = storage_offload.streamed(chunks, memory)
        read = sum(chunks[i].length for i in streamed)
        assert total - memory <= read < total - memory + 4  # to the element (at most 4 bytes)


def test_smoke_mode(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "offload.json"
    assert storage_offload.main(["--smoke", str(tiny_model_dir), "--json", str(out)]) == 0
    assert "largest |measured / predicted - 1|" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["command"].startswith("python bench/storage_offload.py --smoke") and result["machine"]["cores"] >= 1
    assert set(result["codecs"]) == {"zstd-1", "lz4:grouped"}
    assert all(c["ratio"] > 1 and c["decode_MBps"] > 0 for c in result["codecs"].values())
    points = result["points"]
    # 2 memories x 2 bandwidths x (raw + 2 codecs x 2 overlaps)
    assert len(points) == 2 * 2 * 5
    assert {(p["codec"], p["overlap"]) for p in points} == {
        ("raw", "-"), *((c, o) for c in ("zstd-1", "lz4:grouped") for o in ("serial", "pipelined"))}
    for p in points:
        assert p["streamed_bytes_measured"] == pytest.approx(p["streamed_bytes_model"], abs=4)
        assert p["predicted_s"] > 0 and p["error"] == pytest.approx(p["measured_s"] / p["predicted_s"] - 1)
        if p["codec"] == "raw":  # the throttle is the floor of a raw pass
            assert p["measured_s"] >= p["streamed_bytes_measured"] / p["bandwidth_Bps"] * 0.999
            assert p["decode_s_in_pass"] == 0.0 and "predicted_in_pass_decode_s" not in p
        else:
            assert 0 < p["decode_s_in_pass"] < p["measured_s"] and p["predicted_in_pass_decode_s"] > 0
    assert result["max_abs_error"] == max(abs(p["error"]) for p in points)


def test_unknown_codec_is_refused(tiny_model_dir, capsys):
    with pytest.raises(SystemExit):
        storage_offload.main(["--smoke", str(tiny_model_dir), "--codecs", "zstd-1,lzma"])
    assert "unknown lzma" in capsys.readouterr().err
