"""docs/storage/quant_study/frontier.py: quality rows joined with the storage grid's sizes by
recipe, the codecs every checkpoint was measured with, and the frontier figure of the joined rows."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import sys
from pathlib import Path

from kick_models.report.compare import Report, build_report
from kick_models.report.plots import frontier as frontier_rows
from kick_models.report.plots import plot_size
from kick_models.report.results import load_runs

from frontier_sweep import MODEL, write_sweep

STUDY = Path(__file__).resolve().parents[1] / "docs/storage/quant_study"


def _frontier():
    sys.path.insert(0, str(STUDY))  # frontier.py imports analyze.py from its folder, as when run as a script
    try:
        spec = importlib.util.spec_from_file_location("quant_study_frontier", STUDY / "frontier.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(STUDY))


fr = _frontier()


def storage_model(label, recipe, raw, best):
    """A checkpoint of a ``kick storage --json`` file: what frontier.py reads of it."""
    return {"summary": {"label": label, "raw_bytes": raw, "kick": {"recipe": recipe} if recipe else None,
                        "representations": {"best": {"codecs": {c: {"bytes": b} for c, b in best.items()}}}}}


def test_a_recipe_is_matched_as_kick_report_matches_runs():
    stored = {"method": "rtn", "bits": 4, "group_size": 64, "symmetric": False, "sparsity": 0.0,
              "pattern": "unstructured", "scope": None, "ignore": ["lm_head"]}
    assert fr.recipe_key(dict(reversed(list(stored.items())))) == fr.recipe_key(stored)  # order does not count
    assert fr.recipe_key({**stored, "symmetric": True}) != fr.recipe_key(stored)
    assert fr.recipe_key({**stored, "group_size": -1}) != fr.recipe_key(stored)
    assert fr.recipe_key({"method": "wanda", "sparsity": 0.5}) != fr.recipe_key({"method": "magnitude", "sparsity": 0.5})
    assert fr.recipe_key({"method": "dense", "sparsity": 0.0}) == fr.recipe_key({"method": "none"}) == "dense"


def test_sizes_use_only_the_codecs_every_checkpoint_was_measured_with(tmp_path):
    a, b = tmp_path / "a.json.gz", tmp_path / "b.json"
    a.write_bytes(gzip.compress(json.dumps({"models": [
        storage_model("dense", None, 270e6, {"none": 270e6, "zstd-3": 190e6, "lz4": 230e6, "zipnn": 180e6}),
        storage_model("rtn-w4", {"method": "rtn", "bits": 4, "group_size": 64}, 110e6,
                      {"none": 110e6, "zstd-3": 95e6, "lz4": 90e6, "zipnn": 100e6}),
    ]}).encode()))
    b.write_text(json.dumps({"models": [  # measured without ZipNN (e.g. where it has no wheel)
        storage_model("wanda-0.5", {"method": "wanda", "sparsity": 0.5}, 270e6, {"none": 270e6, "zstd-3": 130e6, "lz4": 150e6}),
    ]}))
    sizes, codecs = fr.storage_sizes([a, b])
    assert codecs == ["lz4", "zstd-3"]
    assert sizes["dense"] == ("dense", 270e6, 190e6, "zstd-3")  # ZipNN's 180 MB is not comparable
    assert sizes[fr.recipe_key({"method": "rtn", "bits": 4, "group_size": 64})][2:] == (90e6, "lz4")
    assert sizes[fr.recipe_key({"method": "wanda", "sparsity": 0.5})][2:] == (130e6, "zstd-3")


def test_joined_rows_take_the_grid_sizes_and_draw_the_frontier_on_them(tmp_path):
    runs, _ = load_runs([write_sweep(tmp_path / "sweep")])
    report = build_report(runs, resamples=200)
    # the sweep recorded (float32-like) sizes 180 / 120 / 90 / 125 / 95 MB; the grid says otherwise
    sizes = {fr.recipe_key({"method": "dense"}): ("dense", 270e6, 150e6, "zstd-3"),
             fr.recipe_key({"method": "wanda", "sparsity": 0.5}): ("w50", 270e6, 100e6, "zstd-3"),
             fr.recipe_key({"method": "wanda", "sparsity": 0.7}): ("w70", 270e6, 80e6, "zstd-3"),
             fr.recipe_key({"method": "rtn", "bits": 4}): ("rtn4", 100e6, 60e6, "lz4")}
    rows, missing = fr.sized(report.rows, sizes)
    assert missing == ["magnitude 50%"]
    assert {r.label: r.compressed_bytes for r in rows if r.task == "task_a"} == {
        "dense": 150e6, "wanda 50%": 100e6, "wanda 70%": 80e6, "rtn 4-bit": 60e6}
    scored = {(r.label, r.task): r for r in report.rows}
    unsized = {"raw_bytes": None, "compressed_bytes": None, "codec": None}
    for row in rows:  # the scores, intervals and verdicts are the report's, untouched
        assert dataclasses.replace(row, **unsized) == dataclasses.replace(scored[row.label, row.task], **unsized)
    # task_a ratios: rtn 0.75 (60 MB), wanda 70% 0.50 (80 MB), wanda 50% 0.90 (100 MB), dense 1.0
    assert [r.label for r in frontier_rows([r for r in rows if r.task == "task_a"])] == ["rtn 4-bit", "wanda 50%", "dense"]
    written = plot_size(Report(rows=rows, issues=[], runs=[], settings=report.settings), MODEL, tmp_path / "frontier")
    assert sorted(p.name for p in written) == ["frontier.png", "frontier.svg"]
    svg = (tmp_path / "frontier.svg").read_text()
    assert "frontier: no smaller file scores higher" in svg and "task_a" in svg and "task_b" in svg
    assert "magnitude" not in svg  # no size, no point


def test_plot_size_writes_nothing_without_a_sized_compressed_row(tmp_path):
    runs, _ = load_runs([write_sweep(tmp_path / "sweep")])
    report = build_report(runs, resamples=200)
    dense_only = [r for r in report.rows if r.axis == "dense"]
    assert plot_size(Report(rows=dense_only, issues=[], runs=[], settings=report.settings), MODEL, tmp_path / "f") == []
