"""The memory-constrained load model: its equations, its rows from an analysis, the command."""

from __future__ import annotations

import json
import math

import pytest

from compressors.storage.analyze import AnalysisOptions, analyze
from compressors.storage.cli import main
from compressors.storage.loadtime import parse_size
from compressors.storage.offload import (
    breakeven_bandwidth,
    breakeven_rows,
    codec_speeds,
    offload_rows,
    pass_time,
    streamed_bytes,
)
from compressors.storage.report import summarize


def test_streamed_bytes_is_what_does_not_fit():
    assert streamed_bytes(1000, 0) == 1000
    assert streamed_bytes(1000, 400) == 600
    assert streamed_bytes(1000, 400, overhead=100) == 700
    assert streamed_bytes(1000, 50, overhead=100) == 1000  # the overhead alone does not fit
    assert streamed_bytes(1000, 5000) == 0
    with pytest.raises(ValueError, match="must not be negative"):
        streamed_bytes(1000, -1)


def test_pass_time_serial_and_pipelined():
    # 600 bytes streamed at 100 B/s; ratio 2 -> 3 s of reading; decode 200 B/s -> 3 s on one core
    assert pass_time(600, 100) == pytest.approx(6.0)  # raw
    assert pass_time(600, 100, compute=0.5) == pytest.approx(6.5)
    assert pass_time(600, 100, 2.0, 200) == pytest.approx(6.0)  # 3 + 3
    assert pass_time(600, 100, 2.0, 200, workers=3) == pytest.approx(4.0)  # 3 + 1
    assert pass_time(600, 100, 2.0, 200, workers=3, overlap="pipelined") == pytest.approx(3.0)
    # n chunks: n max(a, b) + min(a, b) with a = 3/n, b = 1/n
    assert pass_time(600, 100, 2.0, 200, workers=3, overlap="pipelined", chunks=4) == pytest.approx(3.25)
    assert pass_time(0, 100, 2.0, 200) == 0.0
    for bad in (dict(overlap="both"), dict(workers=0), dict(chunks=0)):
        with pytest.raises(ValueError, match="overlap|at least 1"):
            pass_time(600, 100, 2.0, 200, **bad)
    with pytest.raises(ValueError, match="positive"):
        pass_time(600, 0)
    with pytest.raises(ValueError, match="compute -1"):
        pass_time(600, 100, compute=-1)


@pytest.mark.parametrize("overlap", ["serial", "pipelined"])
@pytest.mark.parametrize("workers", [1, 4])
def test_break_even_is_where_the_codec_and_raw_passes_meet(overlap, workers):
    ratio, decode, streamed = 1.5, 4e8, 1e9
    b = breakeven_bandwidth(ratio, decode, workers, overlap)
    assert b == pytest.approx(workers * decode * ((1 - 1 / ratio) if overlap == "serial" else 1))
    codec = lambda bw: pass_time(streamed, bw, ratio, decode, workers=workers, overlap=overlap)  # noqa: E731
    raw = lambda bw: pass_time(streamed, bw)  # noqa: E731
    assert codec(b) == pytest.approx(raw(b))
    assert codec(b / 2) < raw(b / 2) and codec(b * 2) > raw(b * 2)
    assert breakeven_bandwidth(1.0, decode, workers, overlap) is None
    assert breakeven_bandwidth(ratio, math.inf, workers, overlap) == math.inf


def test_parse_size():
    assert parse_size("64MB") == 64e6 and parse_size("1GiB") == 2**30 and parse_size("0") == 0.0
    with pytest.raises(ValueError, match="memory 'lots'"):
        parse_size("lots", "memory")


@pytest.fixture(scope="module")
def tiny_summary(tiny_model_dir):
    return summarize(analyze(tiny_model_dir, AnalysisOptions(codecs=("zstd-1", "lz4"), workers=1), label="tiny",
                             progress=False))


def test_rows_from_an_analysis(tiny_summary):
    raw = tiny_summary["raw_bytes"]
    speeds = {s.codec: s for s in codec_speeds(tiny_summary)}
    assert set(speeds) == {"zstd-1", "lz4"}
    zstd = speeds["zstd-1"]
    entry = tiny_summary["representations"][zstd.representation]["codecs"]["zstd-1"]
    assert zstd.ratio == entry["ratio"] and zstd.decode_Bps == pytest.approx(raw / entry["decompress_s"])
    rows = offload_rows(tiny_summary, [0.0, raw / 2, 2 * raw], [1e5, 1e12])
    assert [(r["memory_bytes"], r["bandwidth_Bps"]) for r in rows] == [
        (m, b) for m in (0.0, raw / 2, 2 * raw) for b in (1e5, 1e12)]
    slow, fast = rows[0], rows[1]
    assert slow["raw_s"] == pytest.approx(raw / 1e5)
    assert slow["codec_s"]["zstd-1"] == pytest.approx(pass_time(raw, 1e5, zstd.ratio, zstd.decode_Bps))
    assert slow["best"] == max(speeds, key=lambda c: speeds[c].ratio)  # slow storage: the smallest file wins
    assert fast["best"] == "raw"  # a terabyte per second: decoding is the cost
    assert rows[2]["streamed_bytes"] == pytest.approx(raw / 2)
    assert all(r["raw_s"] == 0 and r["best"] == "raw" for r in rows[4:])  # everything resident
    (be,) = [r for r in breakeven_rows(tiny_summary) if r["codec"] == "zstd-1"]
    assert be["breakeven_serial_Bps"] == pytest.approx(zstd.decode_Bps * (1 - 1 / zstd.ratio))


def test_command_prints_and_writes_the_load_model(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "report"
    argv = [f"tiny={tiny_model_dir}", "--codecs", "zstd-1,lz4", "--quiet", "--out", str(out), "--memory", "0,100kB",
            "--bandwidth", "1MB/s,1GB/s"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "tiny" in text and "time per pass, serial read and decode on 1 core(s)" in text
    assert "pays off below (pipelined)" in text and "zstd-1 s (×)" in text
    payload = json.loads((out / "storage.json").read_text())
    passes = payload["offload"]["models"]["tiny"]["passes"]
    assert len(passes) == 4 and passes[0]["streamed_bytes"] == payload["models"][0]["summary"]["raw_bytes"]
    assert "| memory MB | bandwidth |" in (out / "offload.md").read_text()
    assert (out / "offload_tiny.png").stat().st_size > 10_000

    again = tmp_path / "again"
    assert main(["--from-json", str(out / "storage.json"), "--memory", "50kB", "--bandwidth", "10MB/s",
                 "--overlap", "pipelined", "--decode-threads", "2", "--out", str(again)]) == 0
    text = capsys.readouterr().out
    assert "pipelined read and decode on 2 core(s)" in text and (again / "offload_tiny.png").is_file()
    assert not (again / "storage.json").exists()  # nothing measured


@pytest.mark.parametrize("argv, message", [
    (["--from-json", "x.json"], "needs --memory"),
    ([], "no checkpoint given"),
    (["--from-json", "absent.json", "--memory", "1GB"], "not the storage.json"),
    (["--from-json", "x.json", "--memory", "much"], "memory 'much'"),
])
def test_command_refuses_bad_load_model_input(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
