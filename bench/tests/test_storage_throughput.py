"""The storage benchmark's smoke mode runs and reports what it promises."""

from __future__ import annotations

import json

import pytest

from bench import storage_throughput

pytestmark = pytest.mark.bench


def test_benchmark_smoke_mode(tiny_model_dir, tmp_path, capsys):
    bench = vars(storage_throughput)
    out = tmp_path / "bench.json"
    assert bench["main"](["--smoke", str(tiny_model_dir), "--workers", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1. overhead" in text and "3. every codec sampled" in text and "4. default analysis" in text
    result = json.loads(out.read_text())
    units = [r["unit"] for r in result["blocksize"]]
    assert "5. zstd-19" in text and units[0].startswith("whole") and units[1:3] == ["64 KiB blocks", "16 KiB blocks"]
    assert all(r["compress_MBps"] > 0 and r["ratio"] > 0.9 for r in result["blocksize"])
    assert [r["codec"] for r in result["overhead"]] == ["zstd-1", "lz4"]
    assert all(r["raw_MBps"] > 0 and r["overhead"] > 0 for r in result["overhead"])
    assert [r["workers"] for r in result["scaling"]] == [1, 2]
    assert {(r["representation"], r["codec"]) for r in result["sampling"]} == {
        (rep, c) for rep in ("plain", "grouped") for c in ("zstd-1", "lz4")
    }
    assert all(0 < r["read_fraction"] < 1 and abs(r["rel_error"]) < 0.2 for r in result["sampling"])
    zstd3, default, full_pass, blocks = result["cost"]
    assert zstd3["x_zstd3"] == 1.0 and default["x_zstd3"] > full_pass["x_zstd3"] > 0
    assert blocks["cpu_s"] == pytest.approx(default["cpu_s"] - full_pass["cpu_s"])
    assert result["estimate_7b"]["cpu_s"] > 0 and result["estimate_7b"]["sampled_bytes"] == 8 << 20
    assert result["ratios"]["plain"]["zstd-19"]["mode"] == "sampled" and result["machine"]["cores"] >= 1
    assert result["command"].startswith("python bench/storage_throughput.py --smoke")


def test_benchmark_runs_only_the_parts_asked_for(tiny_model_dir, tmp_path, capsys):
    bench = vars(storage_throughput)
    out = tmp_path / "bench.json"
    assert bench["main"](["--smoke", str(tiny_model_dir), "--parts", "scaling", "--scaling-workers", "2",
                          "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2. full analysis" in text and "1. overhead" not in text and "3. sampling" not in text
    result = json.loads(out.read_text())
    assert set(result) == {"benchmark", "command", "machine", "codecs", "checkpoint", "scaling"}
    assert [r["workers"] for r in result["scaling"]] == [2] and result["scaling"][0]["wall_s"] > 0
