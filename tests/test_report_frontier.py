"""The compressibility-quality frontier of `kick report` (ratio to dense against size on disk),
on a small sweep folder written here: one model, two tasks, dense, pruned and quantized points
with storage summaries as `kick sweep --storage` records them (``config.kick.storage``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kick_models.report.cli import main
from kick_models.report.compare import build_report
from kick_models.report.plots import frontier
from kick_models.report.results import load_runs

MODEL = "/models/frontier-tiny"
RAW = 270e6
# point: (recipe, compressed bytes, {task: score}); accuracy-like scores, dense 0.40 / 0.60
POINTS = {
    "dense": ({"method": "dense"}, 180e6, {"task_a": 0.40, "task_b": 0.60}),
    "wanda_sparsity-0.5": ({"method": "wanda", "sparsity": 0.5}, 120e6, {"task_a": 0.36, "task_b": 0.30}),
    "wanda_sparsity-0.7": ({"method": "wanda", "sparsity": 0.7}, 90e6, {"task_a": 0.20, "task_b": 0.12}),
    "magnitude_sparsity-0.5": ({"method": "magnitude", "sparsity": 0.5}, 125e6, {"task_a": 0.38, "task_b": 0.20}),
    "rtn_bits-4": ({"method": "rtn", "bits": 4}, 95e6, {"task_a": 0.30, "task_b": 0.57}),
}


def write_sweep(folder: Path) -> Path:
    """One lm-eval results file per point and task, as ``kick sweep`` lays them out."""
    for date, (point, (recipe, compressed, scores)) in enumerate(POINTS.items()):
        for task, score in scores.items():
            storage = {"label": point, "raw_bytes": RAW, "sampled": True,
                       "ratios": {"grouped": {"zstd-3": RAW / compressed, "lz4": RAW / compressed / 1.1}},
                       "best": {"codec": "zstd-3", "representation": "grouped", "ratio": RAW / compressed,
                                "compressed_bytes": compressed}}
            data = {
                "results": {task: {"alias": task, "acc,none": score, "acc_stderr,none": 0.02}},
                "configs": {task: {"task": task, "metric_list": [{"metric": "acc", "aggregation": "mean",
                                                                  "higher_is_better": True}]}},
                "versions": {task: 1.0},
                "n-shot": {task: 0},
                "higher_is_better": {task: {"acc": True}},
                "n-samples": {task: {"original": 500, "effective": 500}},
                "config": {"model": "kick", "model_args": {"pretrained": MODEL, "storage": True},
                           "model_dtype": "torch.bfloat16",
                           "kick": {"recipe": recipe, "storage": storage}},
                "date": 1_700_000_000 + date,
            }
            path = folder / "frontier-tiny" / point / f"{task}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data))
    return folder


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
