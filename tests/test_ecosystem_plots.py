"""`kick report`'s figures: nothing clipped on a one-task report, each panel says its own
--limit, bits on a log2 axis, N:M points as unconnected markers."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from kick_models.report import plots
from kick_models.report.cli import main
from kick_models.report.compare import build_report
from kick_models.report.results import load_runs

FIXTURES = Path(__file__).parent / "fixtures" / "results"
SWEEP = FIXTURES / "sweep-smollm2"
SMOL = "/models/SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def sweep():
    runs, skipped = load_runs([SWEEP])
    report = build_report(runs, 0.05, skipped, resamples=200, seed=0)
    rows = [r for r in report.rows_for(SMOL) if r.ratio is not None]
    return report, rows, plots._styles(rows)


def test_one_task_report_keeps_title_and_legend_inside_the_image(tmp_path):
    one = tmp_path / "one"
    shutil.copytree(SWEEP, one)
    for path in one.rglob("*.json"):
        if path.stem != "kick_ppl":
            path.unlink()
    assert main([str(one), "-o", str(tmp_path / "report"), "--quiet"]) == 0
    (png,) = (tmp_path / "report" / "plots").glob("*-ratio-vs-sparsity.png")
    image = matplotlib.image.imread(png)[..., :3]
    edge = 10  # pixels: the tight bounding box leaves a margin all round, so nothing touches the edge
    for border in (image[:edge], image[-edge:], image[:, :edge], image[:, -edge:]):
        assert np.all(border > 0.99), png
    assert image.shape[1] >= 8.0 * 150 * 0.9  # at least the one-panel width (8 in at 150 dpi), less the trim


def test_each_panel_title_names_its_own_limit(sweep, tmp_path):
    report, rows, styles = sweep
    for r in rows:
        r.limit = {"kick_factoid_qa": 100.0, "kick_ppl": 1.0}.get(r.task)
    fig = plots._ratio_figure(report, SMOL, rows, "sparsity", styles)
    titles = {ax.get_title().splitlines()[0] for ax in fig.axes if ax.get_visible() and ax.get_title()}
    assert {"kick_factoid_qa (--limit 100)", "kick_ppl (--limit 1)", "kick_mmlu"} <= titles
    assert "limit" not in fig._suptitle.get_text()


def test_bits_are_on_a_log2_axis(sweep):
    report, rows, styles = sweep
    fig = plots._ratio_figure(report, SMOL, rows, "bits", styles)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
    ticks = sorted(float(t) for t in ax.get_xticks())
    assert {4.0, 8.0} <= set(ticks)
    x4, x8, x_dense = (ax.transData.transform((b, 1.0))[0] for b in (4.0, 8.0, max(ticks)))
    assert abs(x4 - x8) == pytest.approx(abs(x8 - x_dense) / np.log2(max(ticks) / 8), rel=0.01)


def test_n_of_m_points_are_unconnected_markers(sweep):
    report, rows, styles = sweep
    (nm,) = {r.line for r in rows if r.recipe.get("pattern") == "2:4"}
    assert styles[nm][2] == "none"
    fig = plots._ratio_figure(report, SMOL, rows, "sparsity", styles)
    checked = 0
    for ax in fig.axes:
        task = ax.get_title().splitlines()[0].split(" ")[0] if ax.get_title() else None
        (point,) = [(r.sparsity, r.ratio) for r in rows if r.line == nm and r.task == task]
        drawn = [line for line in ax.get_lines() if point in zip(line.get_xdata(), line.get_ydata())]
        assert drawn and all(line.get_linestyle() == "None" for line in drawn)  # markers, no line
        checked += 1
    assert checked == 3  # kick_factoid_qa, kick_mmlu, kick_ppl
