"""The comparison as tables: one long CSV row per (model, recipe, task); Markdown per model.

Markdown: one table per model, a row per recipe and a column per task, each cell
``score (ratio to dense, mark)`` with ✓ for within the tolerance of dense and ✗ for further
below; ``—`` marks a point that was not run and † a cell with a note (listed under the table).
"""

from __future__ import annotations

import csv
from pathlib import Path

from kick_models.report.compare import Report, Row

CSV_COLUMNS = (
    "model", "recipe", "method", "axis", "sparsity", "bits", "task", "headline", "metric", "filter",
    "higher_is_better", "score", "stderr", "dense_score", "ratio_to_dense", "within_tolerance",
    "measured_sparsity", "raw_bytes", "compressed_bytes", "codec", "task_version", "n_shot", "limit",
    "n_samples", "notes", "file",
)


def write_csv(report: Report, path: Path) -> Path:
    """Every row, subtasks included (``headline`` says which are top-level)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for r in report.rows:
            writer.writerow([
                r.model, r.label, r.method, r.axis, r.sparsity, _blank(r.bits), r.task, r.headline, r.metric,
                r.filter, _blank(r.higher_is_better), r.score, _blank(r.stderr), _blank(r.dense_score),
                _blank(r.ratio), _blank(r.within), _blank(r.measured_sparsity), _blank(r.raw_bytes),
                _blank(r.compressed_bytes), _blank(r.codec), _blank(r.version), _blank(r.n_shot),
                _blank(r.limit), _blank(r.n_samples), "; ".join(r.notes), r.path,
            ])
    return path


def markdown_table(report: Report, model: str, *, headline_only: bool = True) -> str:
    """A recipe x task table of ``score (ratio mark)`` for one model."""
    rows = report.rows_for(model, headline_only=headline_only)
    tasks = report.tasks_for(model, headline_only=headline_only)
    recipes = list(dict.fromkeys(r.label for r in rows))
    cells = {(r.label, r.task): r for r in rows}
    sizes = any(r.raw_bytes is not None for r in rows)
    header = ["recipe", *(["size MB (lossless)"] if sizes else []), *(_task_header(rows, t) for t in tasks)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    notes: list[str] = []
    for recipe in recipes:
        line = [recipe]
        if sizes:
            any_row = next(r for r in rows if r.label == recipe)
            line.append(_size(any_row))
        for task in tasks:
            row = cells.get((recipe, task))
            line.append(_cell(row, report.tolerance, notes))
        lines.append("| " + " | ".join(line) + " |")
    text = "\n".join(lines)
    if notes:
        text += "\n\n" + "\n".join(f"† {note}" for note in notes)
    return text


def legend(report: Report) -> str:
    tol = report.tolerance
    return (f"Cells: score (ratio to dense: score/dense, or dense/score for ↓ metrics; ✓ within {tol:.0%} of dense, "
            f"i.e. ratio ≥ {1 - tol:.2f}; ✗ more than {tol:.0%} below). — not run; † see note.")


def _task_header(rows: list[Row], task: str) -> str:
    row = next(r for r in rows if r.task == task)
    arrow = {True: " ↑", False: " ↓"}.get(row.higher_is_better, " ?")
    metric = row.metric if row.filter == "none" else f"{row.metric} ({row.filter})"
    return f"{task} {metric}{arrow}"


def _cell(row: Row | None, tolerance: float, notes: list[str]) -> str:
    if row is None:
        return "—"
    text = fmt_score(row.score)
    if row.axis == "dense":
        text += " (dense)"
    elif row.ratio is not None:
        text += f" ({row.ratio:.2f} {'✓' if row.within else '✗'})"
    if row.notes:
        notes.append(f"{row.label}, {row.task}: {'; '.join(row.notes)}")
        text += " †"
    return text


def _size(row: Row) -> str:
    if row.raw_bytes is None:
        return "—"
    text = f"{row.raw_bytes / 1e6:,.1f}"
    if row.compressed_bytes is not None:
        text += f" ({row.compressed_bytes / 1e6:,.1f})"
    return text


def fmt_score(value: float) -> str:
    """Three significant-looking digits: 0.412, 17.12, 45,574.9."""
    if abs(value) >= 100:
        return f"{value:,.1f}"
    if abs(value) >= 10:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _blank(value):
    return "" if value is None else value
