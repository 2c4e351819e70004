"""Figures of the comparison (matplotlib, PNG and SVG), one set per model.

* ratio to dense against sparsity: one panel per task, one line per method and pattern,
  as LLM-KICK's figures (Jaiswal et al., ICLR 2024, Figs. 1-6);
* ratio to dense against bits, for quantized recipes (Mao et al. 2024);
* ratio to dense against size on disk, when the results carry storage summaries: the
  compressibility-quality frontier of Mao et al. 2024 (dense, pruned and quantized points on
  one set of axes, and the line through those that no smaller file beats, :func:`frontier`).

Every panel has the dense level (1.0) and the tolerance line (5% below dense); every point
has its interval as an error bar (paired bootstrap, or unpaired from lm-eval's standard errors:
see :mod:`.uncertainty`), and its marker is filled where the verdict is *within*, half filled
where *undecided* and hollow where *below*. Lines start at the dense model (sparsity 0, or its
own bit width); N:M recipes (2:4, ...) are unconnected markers, since each pattern is one
sparsity and a line to dense would draw a trend that was never measured. Bits are on a log2
axis (32, 16, 8, 4 equally spaced). Each panel's title gives its task's ``--limit`` when one
was set. Figures are at least wide enough for the title and legend of one panel, and are
saved with a tight bounding box.
"""

from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from pathlib import Path

import matplotlib
# Figures built directly (no pyplot): saving to a file needs no GUI backend, and importing the
# report leaves the process's matplotlib backend as it was.
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from kick_core.atomic import atomic_write_bytes
from kick_core.names import model_name, slug

from kick_models.report.compare import Report, Row

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
DASHES = ("-", "--", ":", "-.")
FORMATS = ("png", "svg")
FILL = {"within": "full", "undecided": "bottom", "below": "none"}
FONTS = {"font.size": 11, "axes.titlesize": 11, "legend.fontsize": 10}


def file_stem(model: str) -> str:
    """The figures' file-name stem: the model's display name as a path component."""
    return slug(model_name(model))


def plot_model(report: Report, model: str, folder: Path, *, size: str = "compressed",
               stem: str | None = None) -> list[Path]:
    """Write every figure that the model's results support; return the files written.

    Files are ``<stem>-ratio-vs-{sparsity,bits,size}.{png,svg}`` (stem: the model's name).
    """
    with matplotlib.rc_context(FONTS):
        return _plot_model(report, model, folder, size, stem or file_stem(model))


def _plot_model(report: Report, model: str, folder: Path, size: str, stem: str) -> list[Path]:
    rows = [r for r in report.rows_for(model) if r.ratio is not None]
    styles = _styles(rows)
    written: list[Path] = []
    for axis in ("sparsity", "bits"):
        if any(r.axis == axis for r in rows):
            fig = _ratio_figure(report, model, rows, axis, styles)
            written += _save(fig, folder / f"{stem}-ratio-vs-{axis}")
    written += _plot_size(report, model, folder / f"{stem}-ratio-vs-size", size, styles)
    return written


def plot_size(report: Report, model: str, stem: Path, *, size: str = "compressed") -> list[Path]:
    """Only the frontier figure (ratio to dense against size on disk), as ``<stem>.{png,svg}``;
    nothing when no compressed row has a size."""
    with matplotlib.rc_context(FONTS):
        rows = [r for r in report.rows_for(model) if r.ratio is not None]
        return _plot_size(report, model, stem, size, _styles(rows))


def _plot_size(report: Report, model: str, stem: Path, size: str, styles: dict) -> list[Path]:
    sized = [r for r in report.rows_for(model) if r.ratio is not None and _size(r, size) is not None]
    if not any(r.axis != "dense" for r in sized):
        return []
    return _save(_size_figure(report, model, sized, size, styles), stem)


def _ratio_figure(report: Report, model: str, rows: list[Row], axis: str, styles: dict):
    tasks = list(dict.fromkeys(r.task for r in rows if r.axis == axis))
    fig, axes = _panels(len(tasks))
    for ax, task in zip(axes, tasks):
        task_rows = [r for r in rows if r.task == task]
        dense = next((r for r in task_rows if r.axis == "dense"), None)
        start = _x(dense, axis) if dense is not None else None
        for line, points in _lines(task_rows, axis).items():
            xs = [_x(r, axis) for r in points]
            ys = [r.ratio for r in points]
            if start is not None and styles[line][2] != "none":
                ax.plot([start, xs[0]], [1.0, ys[0]], color=styles[line][0], ls=styles[line][2], lw=1.2, alpha=0.5)
            _line(ax, xs, points, styles[line])
        if start is not None:
            ax.plot([start], [1.0], marker="*", ms=13, color="black", ls="none", zorder=5)
        _reference_lines(ax, report.tolerance, [r for r in task_rows if r.axis in (axis, "dense")])
        _panel_title(ax, task_rows)
        if axis == "sparsity":
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
            ax.set_xlabel("sparsity (share of weights set to zero)")
        else:
            # log2: each halving of the bits is one step, so 8 and 4 do not crowd next to 32
            ax.set_xscale("log", base=2)
            ticks = sorted({_x(r, axis) for r in task_rows if r.axis in (axis, "dense") and _x(r, axis) > 0})
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.set_xlim(max(ticks) * 1.3, min(ticks) / 1.3)  # inverted: fewer bits to the right, as sparsity
            ax.set_xlabel("bits per weight (log scale)")
    name = "sparsity" if axis == "sparsity" else "bits per weight"
    _finish(fig, axes, f"{model_name(model)}: score relative to dense vs {name}", styles, rows,
            report.tolerance, report.confidence, axis)
    return fig


def _size_figure(report: Report, model: str, rows: list[Row], size: str, styles: dict):
    tasks = list(dict.fromkeys(r.task for r in rows))
    fig, axes = _panels(len(tasks))
    for ax, task in zip(axes, tasks):
        task_rows = [r for r in rows if r.task == task]
        by_line: dict[str, list[Row]] = defaultdict(list)
        for r in task_rows:
            if r.axis != "dense":
                by_line[r.line].append(r)
        for line, points in by_line.items():
            points.sort(key=lambda r: -_size(r, size))
            _line(ax, [_size(r, size) / 1e6 for r in points], points, styles[line])
        dense = next((r for r in task_rows if r.axis == "dense"), None)
        if dense is not None:
            ax.plot([_size(dense, size) / 1e6], [1.0], marker="*", ms=13, color="black", ls="none", zorder=5)
        front = frontier(task_rows, size)
        if len(front) > 1:
            ax.plot([_size(r, size) / 1e6 for r in front], [r.ratio for r in front], color="0.5", lw=6, alpha=0.3,
                    solid_capstyle="round", zorder=1)
        _reference_lines(ax, report.tolerance, task_rows)
        _panel_title(ax, task_rows)
        ax.invert_xaxis()  # smaller files to the right, as more compression elsewhere
        ax.set_xlabel("size on disk, MB (best lossless codec measured)" if size == "compressed"
                      else "size of the tensors, MB")
    _finish(fig, axes, f"{model_name(model)}: score relative to dense vs size on disk", styles,
            rows, report.tolerance, report.confidence, "size")
    return fig


def frontier(rows: list[Row], size: str = "compressed") -> list[Row]:
    """The rows of one task that no smaller file beats: by increasing size, each row whose
    ratio to dense is higher than that of every smaller one (point estimates; ties in size
    keep the higher ratio). Rows without a size or a ratio are left out."""
    points = sorted((r for r in rows if r.ratio is not None and _size(r, size) is not None),
                    key=lambda r: (_size(r, size), -r.ratio))
    front: list[Row] = []
    for row in points:
        if not front or row.ratio > front[-1].ratio:
            front.append(row)
    return front


def _panels(count: int):
    cols = min(3, count)
    rows = math.ceil(count / cols)
    # one panel still gets the width its title and two legend columns need
    fig = Figure(figsize=(max(4.4 * cols, 8.0), 3.6 * rows + 1.2))
    axes = fig.subplots(rows, cols, squeeze=False)
    flat = list(axes.flat)
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def _lines(rows: list[Row], axis: str) -> dict[str, list[Row]]:
    lines: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.axis == axis:
            lines[r.line].append(r)
    for points in lines.values():
        points.sort(key=lambda r: _x(r, axis) * (-1 if axis == "bits" else 1))
    return lines


def _line(ax, xs: list[float], points: list[Row], style: tuple) -> None:
    color, marker, dash = style
    if dash != "none":
        ax.plot(xs, [r.ratio for r in points], color=color, ls=dash, lw=1.8)
    for x, r in zip(xs, points):
        if r.low is not None and r.high is not None:
            ax.errorbar([x], [r.ratio], yerr=[[r.ratio - r.low], [r.high - r.ratio]], color=color, lw=1.2, capsize=3,
                        ls="none", zorder=3)
        ax.plot([x], [r.ratio], marker=marker, ms=7, color=color, mfc=color, mfcalt="white",
                fillstyle=FILL.get(r.verdict, "full"), mew=1.5, ls="none", zorder=4)


def _reference_lines(ax, tolerance: float, rows: list[Row]) -> None:
    ax.axhline(1.0, color="0.55", lw=1)
    ax.axhline(1 - tolerance, color="tab:red", lw=1.2, ls="--")
    ratios = [v for r in rows for v in (r.ratio, r.low, r.high) if v is not None] + [1.0, 1 - tolerance]
    low, high = min(ratios), max(ratios)
    pad = max(0.03, 0.08 * (high - low))
    ax.set_ylim(low - pad, high + pad)
    ax.grid(True, alpha=0.3)


def _panel_title(ax, rows: list[Row]) -> None:
    row = rows[0]
    lower = row.higher_is_better is False
    metric = row.metric if row.filter == "none" else f"{row.metric}, {row.filter}"
    limits = sorted({r.limit for r in rows if r.limit is not None})
    limit = f" (--limit {', '.join(f'{v:g}' for v in limits)})" if limits else ""
    ax.set_title(f"{row.task}{limit}\n{metric} ({'lower' if lower else 'higher'} is better)")
    ax.set_ylabel("dense ÷ compressed" if lower else "compressed ÷ dense")


def _finish(fig, axes, title: str, styles: dict, rows: list[Row], tolerance: float, confidence: float,
            axis: str) -> None:
    shown = {r.line for r in rows if (r.axis == axis) or (axis == "size" and r.axis != "dense")}
    handles = [Line2D([], [], marker="*", ms=12, color="black", ls="none", label="dense")]
    handles += [Line2D([], [], color=c, marker=m, ls=d, lw=1.8, label=line)
                for line, (c, m, d) in styles.items() if line in shown]
    handles.append(Line2D([], [], color="tab:red", ls="--", label=f"{tolerance:.0%} below dense"))
    if axis == "size":
        handles.append(Line2D([], [], color="0.5", lw=6, alpha=0.3, label="frontier: no smaller file scores higher"))
    handles.append(Line2D([], [], color="0.3", marker="|", ms=14, mew=1.2, ls="none",
                          label=f"bar: {confidence:.0%} interval"))
    handles.append(Line2D([], [], color="0.3", marker="o", fillstyle="bottom", mfc="0.3", mfcalt="white", ls="none",
                          label="filled: within, half: undecided, hollow: below"))
    columns = min(4 if len(axes) > 1 else 2, len(handles))
    fig.suptitle(title, fontsize=13)
    fig.legend(handles=handles, loc="lower center", ncol=columns, frameon=False)
    legend_rows = math.ceil(len(handles) / columns)
    fig.tight_layout(rect=(0, 0.05 + 0.045 * legend_rows, 1, 0.97))


def _styles(rows: list[Row]) -> dict[str, tuple[str, str, str]]:
    """One colour and marker per method, one dash per line within a method; N:M lines get no
    line (``"none"``): their points are markers only."""
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    methods = list(dict.fromkeys(r.method for r in rows if r.axis != "dense"))
    styles, per_method = {}, defaultdict(int)
    for r in rows:
        if r.axis == "dense" or r.line in styles:
            continue
        i = methods.index(r.method)
        if _is_n_of_m(r):
            styles[r.line] = (colors[i % len(colors)], MARKERS[i % len(MARKERS)], "none")
            continue
        styles[r.line] = (colors[i % len(colors)], MARKERS[i % len(MARKERS)], DASHES[per_method[r.method] % len(DASHES)])
        per_method[r.method] += 1
    return styles


def _x(row: Row, axis: str) -> float:
    return row.sparsity if axis == "sparsity" else (row.bits or 0.0)


def _size(row: Row, which: str) -> float | None:
    return row.compressed_bytes if which == "compressed" else row.raw_bytes


def _is_n_of_m(row: Row) -> bool:
    return re.fullmatch(r"\d+:\d+", str(row.recipe.get("pattern", ""))) is not None


def _save(fig, stem: Path) -> list[Path]:
    paths = []
    for fmt in FORMATS:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=150, bbox_inches="tight", pad_inches=0.15)
        paths.append(atomic_write_bytes(stem.with_suffix(f".{fmt}"), buffer.getvalue()))
    return paths
