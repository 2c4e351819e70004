"""The compressibility-quality frontier of `kick report` (ratio to dense against size on disk),
on the small sweep folder of ``frontier_sweep.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from kick_models.report.cli import main
from kick_models.report.compare import build_report
from kick_models.report.plots import frontier
from kick_models.report.results import load_runs

from frontier_sweep import write_sweep


@pytest.fixture
def sweep(tmp_path) -> Path:
    return write_sweep(tmp_path / "sweep")


def test_frontier_keeps_the_points_no_smaller_file_beats(sweep):
    runs, _ = load_runs([sweep])
    report = build_report(runs, resamples=200)
    by_task = {task: [r for r in report.rows if r.task == task] for task in ("task_a", "task_b")}
    labels = {task: [r.label for r in frontier(rows)] for task, rows in by_task.items()}
    # task_a: 90 MB wanda 70%, 95 MB rtn, 120 MB wanda 50%, 125 MB magnitude, 180 MB dense
    assert labels["task_a"] == ["wanda 70%", "rtn 4-bit", "wanda 50%", "magnitude 50%", "dense"]
    # task_b: rtn 4-bit (95 MB) beats every larger pruned point; only dense is higher still
    assert labels["task_b"] == ["wanda 70%", "rtn 4-bit", "dense"]
    dense = next(r for r in by_task["task_a"] if r.label == "dense")
    assert dense.compressed_bytes == 180e6 and dense.ratio == 1.0
    assert all(r.low is not None for r in frontier(by_task["task_a"]) if r.label != "dense")  # intervals kept
    assert frontier(by_task["task_a"], size="raw") == [dense]  # every file 270 MB raw: the best ratio alone


def test_report_draws_the_frontier(sweep, tmp_path):
    out = tmp_path / "report"
    assert main([str(sweep), "--output", str(out)]) == 0
    svg = (out / "plots" / "frontier-tiny-ratio-vs-size.svg").read_text()
    assert "frontier: no smaller file scores higher" in svg and "best lossless codec measured" in svg
    assert "task_a" in svg and "task_b" in svg
