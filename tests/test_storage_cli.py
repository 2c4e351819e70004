"""The load-time model, the command and its files, and the summary for evaluation results."""

from __future__ import annotations

import csv
import json

import pytest

from compressors.storage import summarize_folder
from compressors.storage.cli import main
from compressors.storage.codecs import CODECS, Codec
from compressors.storage.loadtime import (
    breakeven_bandwidth,
    format_bandwidth,
    load_time,
    measure_read_bandwidth,
    parse_bandwidth,
)


def test_load_time_and_break_even():
    raw, packed, decode = 1000.0, 600.0, 2.0
    assert load_time(packed, decode, 100.0) == pytest.approx(8.0)
    assert load_time(packed, decode, 100.0, threads=4) == pytest.approx(6.5)
    b = breakeven_bandwidth(raw, packed, decode)
    assert b == pytest.approx(200.0)
    assert load_time(packed, decode, b) == pytest.approx(raw / b)  # equal at the break-even point
    assert load_time(packed, decode, b / 2) < raw / (b / 2)  # slower storage: compression pays
    assert load_time(packed, decode, b * 2) > raw / (b * 2)
    assert breakeven_bandwidth(raw, packed, decode, threads=4) == pytest.approx(800.0)
    assert breakeven_bandwidth(raw, raw, decode) is None and breakeven_bandwidth(raw, packed, 0.0) == float("inf")
    assert (format_bandwidth(None), format_bandwidth(float("inf")), format_bandwidth(2.5e9)) == ("never", "always", "2.5 GB/s")


def test_parse_bandwidth():
    assert parse_bandwidth("500MB/s") == 5e8
    assert parse_bandwidth("1.5 GB/s") == 1.5e9
    assert parse_bandwidth("200MiB/s") == 200 * 2**20
    assert parse_bandwidth("3e9") == 3e9 and parse_bandwidth(7) == 7.0
    for bad in ("fast", "-1GB/s", "0"):
        with pytest.raises(ValueError, match="bandwidth"):
            parse_bandwidth(bad)


def test_measure_read_bandwidth(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 3_000_000)
    measured = measure_read_bandwidth([path], block=1 << 20)
    assert measured["bytes"] == 3_000_000 and measured["bytes_per_s"] > 0
    assert measure_read_bandwidth([path], max_bytes=1 << 20, block=1 << 20)["bytes"] == 1 << 20


def test_command_writes_table_json_csv_markdown_and_plots(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "report"
    argv = [f"tiny={tiny_model_dir}", str(tiny_model_dir), "--codecs", "zstd-1,lz4", "--quiet", "--out", str(out),
            "--json", str(tmp_path / "all.json"), "--csv", str(tmp_path / "totals.csv"), "--measure-bandwidth",
            "--bandwidth", "100MB/s,1GB/s"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "tiny: " in text and "entropy bound" in text and "pays off below" in text and "comparison" in text
    payload = json.loads((out / "storage.json").read_text())
    assert payload == json.loads((tmp_path / "all.json").read_text())
    (first, second) = payload["models"]
    assert first["summary"]["label"] == "tiny" and second["summary"]["label"] == tiny_model_dir.name
    assert first["summary"]["representations"]["grouped"]["codecs"]["zstd-1"]["ratio"] > 1.0
    assert first["measured_bandwidth"]["bytes"] > 0 and len(first["analysis"]["tensors"]) > 10
    rows = list(csv.DictReader((out / "storage_totals.csv").open()))
    assert len(rows) == 2 * 3 * 3  # models x representations (plain, grouped, best) x codecs (none, zstd-1, lz4)
    assert {r["codec"] for r in rows} == {"none", "zstd-1", "lz4"}
    tensors = list(csv.DictReader((out / "storage_tensors.csv").open()))
    assert {r["stream"] for r in tensors} == {"plain", "grouped"} and "exponent=" in tensors[-1]["parts_entropy_bits"]
    assert (tmp_path / "totals.csv").read_text() == (out / "storage_totals.csv").read_text()
    markdown = (out / "storage.md").read_text()
    assert "| codec |" in markdown and "Practical choice (the best ratio of the codecs that" in markdown
    assert first["practical"]["usable_MBps"] == {"compress": 10.0, "decompress": 100.0}
    assert "practical choice: " in text and "\npractical choice (the best ratio" in text
    for png in ("ratios.png", "load_time_tiny.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(argv) == 0  # the journal makes the rerun resume, with the same numbers
    again = json.loads((out / "storage.json").read_text())
    assert again["models"][0]["analysis"]["tensors"] == first["analysis"]["tensors"]


def test_command_exit_status_for_bad_options_and_lossy_codecs(tiny_model_dir, monkeypatch, capsys):
    assert main([str(tiny_model_dir), "--blocks", "0", "--quiet"]) == 2
    assert "error: blocks 0: must be a positive integer" in capsys.readouterr().err
    assert main([str(tiny_model_dir), "--full", "--sampled", "all", "--quiet"]) == 2
    assert "error: --full and --sampled exclude each other" in capsys.readouterr().err
    assert main([str(tiny_model_dir), "--bandwidth", "fast", "--quiet"]) == 2
    capsys.readouterr()
    for bad in ("10MB/s", "fast,100MB/s", "10MB/s,0"):
        assert main([str(tiny_model_dir), "--usable", bad, "--quiet"]) == 2
        assert f"{bad!r}" in capsys.readouterr().err
    monkeypatch.setitem(CODECS, "snappy", Codec("snappy", bytes, lambda b: b"\0" + bytes(b)[1:], "a lossy stand-in"))
    assert main([str(tiny_model_dir), "--codecs", "snappy", "--quiet"]) == 1
    assert "NOT LOSSLESS" in capsys.readouterr().err


def _codec_entry(ratio: float, compress: float, decompress: float) -> dict:
    return {"ratio": ratio, "ratio_ci95": None, "mode": "full", "compress_MBps": compress, "decompress_MBps": decompress}


def test_practical_choice_is_the_best_ratio_at_usable_speeds():
    from compressors.storage.report import practical_choice, practical_table, practical_text

    summary = {"label": "m", "representations": {
        "plain": {"codecs": {"none": _codec_entry(1.0, 1e5, 1e5), "zstd-3": _codec_entry(1.2, 150, 400),
                             "lz4": _codec_entry(1.1, 300, 900), "zstd-19": _codec_entry(1.45, 2, 400),
                             "ans": _codec_entry(1.5, 110, 30)}},
        "grouped": {"codecs": {"none": _codec_entry(1.0, 800, 800), "zstd-3": _codec_entry(1.4, 130, 350),
                               "lz4": _codec_entry(1.05, 250, 500), "zstd-19": _codec_entry(1.48, 3, 300),
                               "ans": _codec_entry(1.52, 100, 33)}}}}
    default = practical_choice(summary)
    assert (default["pick"]["codec"], default["pick"]["representation"], default["pick"]["ratio"]) == ("zstd-3", "grouped", 1.4)
    assert default["pick"]["tool"] == CODECS["zstd-3"].tool and default["best_at_any_speed"]["codec"] == "ans"
    text = practical_text(default)
    assert "zstd level 3" in text and "on byte planes" in text and "at any speed: ans grouped, 1.520" in text
    slow_ok = practical_choice(summary, {"compress": 1.0, "decompress": 10.0})
    assert slow_ok["pick"]["codec"] == "ans" and slow_ok["best_at_any_speed"] is None
    assert "the same" in practical_table([summary], [slow_ok])
    decode_bound = practical_choice(summary, {"compress": 1.0, "decompress": 350.0})
    assert decode_bound["pick"]["codec"] == "zstd-19" and decode_bound["pick"]["representation"] == "plain"
    none = practical_choice(summary, {"compress": 1e4, "decompress": 1e4})
    assert none["pick"] is None and practical_text(none).startswith("practical choice: none: no codec measured")


def test_a_missing_codec_package_is_one_line_and_out_of_the_defaults(tiny_model_dir, monkeypatch, capsys):
    from compressors.storage.codecs import default_codecs

    monkeypatch.setitem(CODECS, "ghost", Codec("ghost", bytes, bytes, "ghost", requires="no_such_package_for_kick",
                                               install="pip install ghost"))
    assert main([str(tiny_model_dir), "--codecs", "zstd-1,ghost", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: codec 'ghost' is unavailable: import no_such_package_for_kick failed")
    assert err.count("\n") == 1 and "Traceback" not in err and "ghost" not in default_codecs()


def test_full_and_sampled_runs_label_every_row(tiny_model_dir, capsys):
    assert main([str(tiny_model_dir), "--codecs", "zstd-1,zstd-19", "--layouts", "plain,grouped", "--blocks", "3",
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "zstd-19 sampled: 3 draws of chunks (up to 64 MiB)" in text and "sampled, 3 blocks" in text
    ratios, speeds = (block.splitlines()[2:] for block in text.split("\n\n")[1:3])  # after the headline
    assert [line.split()[0] for line in ratios] == ["none", "zstd-1", "zstd-19", "entropy"]
    assert all(line.endswith(("full", "sampled, 3 blocks")) for line in ratios)
    assert [line.split()[3] for line in speeds] == ["full", "full", "sampled,"]
    assert main([str(tiny_model_dir), "--codecs", "zstd-1,zstd-19", "--layouts", "plain", "--full", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "full run: every codec on every byte" in text and "sampled" not in text


def test_summarize_folder_is_small_and_json_ready(tiny_model_dir):
    summary = summarize_folder(tiny_model_dir)
    text = json.dumps(summary)
    assert len(text) < 4000
    assert summary["raw_bytes"] > 0 and summary["dtypes"] == {"F32": summary["raw_bytes"]}
    assert set(summary["ratios"]["grouped"]) == {"zstd-3", "lz4"}
    assert summary["best"]["ratio"] == max(max(r.values()) for r in summary["ratios"].values() if r)
    assert summary["sampled"] and summary["best"]["ratio_ci95"] and "zstd-3, lz4 sampled: 8 draws" in summary["measured"]
    census = summarize_folder(tiny_model_dir, blocks=100)  # more draws than the tiny model has chunks: each once
    assert census["measured"].startswith("full run") and census["best"]["ratio_ci95"] is None
    full = summarize_folder(tiny_model_dir, codecs=["zstd-1"], full=True, workers=1)
    assert not full["sampled"] and full["best"]["codec"] == "zstd-1" and full["best"]["ratio_ci95"] is None
