"""The comparison as tables: one long CSV row per (model, recipe, task); Markdown per model.

Markdown, per model: a matrix with a row per recipe and a column per task, each cell
``score (ratio [interval] mark)`` with ✓ within the tolerance of dense, ✗ below it and ? undecided
(‡: the interval is unpaired); ``—`` marks a point that was not run and † a cell with a note
(listed under the table). Then a row per comparison: ratio, interval, verdict (with the
examples that would decide an undecided one), McNemar's p, the examples compared and how the
interval was had ("paired bootstrap (BCa)", "unpaired (no samples), Fieller").
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from kick_core.atomic import atomic_write_text

from kick_models.report.compare import Report, Row

CSV_COLUMNS = (
    "model", "recipe", "method", "axis", "sparsity", "bits", "task", "headline", "metric", "filter",
    "higher_is_better", "score", "stderr", "score_low", "score_high", "dense_score", "ratio_to_dense", "ratio_low",
    "ratio_high", "verdict", "needs_examples", "p_mcnemar", "n_compared", "interval", "tolerance", "confidence",
    "measured_sparsity", "raw_bytes", "compressed_bytes", "codec", "task_version", "n_shot", "limit",
    "n_samples", "notes", "file",
)
MARKS = {"within": "✓", "below": "✗", "undecided": "?"}


def write_csv(report: Report, path: Path) -> Path:
    """Every row, subtasks included (``headline`` says which are top-level), written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for r in report.rows:
        c = r.comparison
        score_low, score_high = r.score_interval or (None, None)
        writer.writerow([
            r.model, r.label, r.method, r.axis, r.sparsity, _blank(r.bits), r.task, r.headline, r.metric,
            r.filter, _blank(r.higher_is_better), r.score, _blank(r.stderr), _blank(score_low), _blank(score_high),
            _blank(r.dense_score), _blank(r.ratio), _blank(r.low), _blank(r.high), _blank(r.verdict),
            _blank(c and c.needs), _blank(c and c.p_value), _blank(c and c.n), _blank(c and c.interval),
            report.tolerance, report.confidence, _blank(r.measured_sparsity), _blank(r.raw_bytes),
            _blank(r.compressed_bytes), _blank(r.codec), _blank(r.version), _blank(r.n_shot),
            _blank(r.limit), _blank(r.n_samples), "; ".join(r.notes), r.path,
        ])
    return atomic_write_text(path, buffer.getvalue())


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
            line.append(_cell(row, notes))
        lines.append("| " + " | ".join(line) + " |")
    text = "\n".join(lines)
    if notes:
        text += "\n\n" + "\n".join(f"† {note}" for note in notes)
    return text


def legend(report: Report) -> str:
    tol, line = report.tolerance, 1 - report.tolerance
    return (f"Cells: score (ratio to dense: score/dense, or dense/score for ↓ metrics, so below 1 is worse; "
            f"[{report.confidence:.0%} interval]; ✓ within {tol:.0%} of dense: the interval's lower bound "
            f"≥ {line:.2f}; ✗ below: its upper bound < {line:.2f}; ? undecided: the interval holds {line:.2f}). "
            "‡ unpaired (no samples): Fieller's interval from lm-eval's standard errors. — not run; † see note.")


def comparisons_table(report: Report, model: str, *, headline_only: bool = True) -> str:
    """A row per compressed (recipe, task): ratio, interval, verdict, p, n and how."""
    rows = [r for r in report.rows_for(model, headline_only=headline_only) if r.axis != "dense"]
    if not rows:
        return ""
    header = ["recipe", "task", "score", "dense", "ratio", f"{report.confidence:.0%} interval", "verdict",
              "McNemar p", "n", "interval from"]
    aligns = ["---", "---", "---:", "---:", "---:", "---:", "---", "---:", "---:", "---"]
    seeded = any(r.seeds for r in rows)
    if seeded:  # calibration repeats: each seed's own ratio, beside the sampling interval of their mean
        header.append("seeds: ratio each")
        aligns.append("---")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(aligns) + "|"]
    for r in rows:
        c = r.comparison
        dense = "—" if r.dense_score is None else fmt_score(r.dense_score)
        if c is None:
            verdict = "not compared" if any(n.startswith("not compared") for n in r.notes) else "—"
            cells = [_ratio(r.ratio, 3), "—", verdict, "—", "—", "—"]
        else:
            verdict = c.verdict + (f": needs ~{c.needs:,}" if c.needs is not None else "")
            cells = [_ratio(r.ratio, 3), _interval(c.low, c.high, 3), verdict, fmt_p(c.p_value),
                     "—" if c.n is None else f"{c.n:,}", c.interval]
        if seeded:
            cells.append(f"{len(r.seeds)}: " + ", ".join(f"{x:.3f}" for x in r.seed_ratios) if r.seeds else "—")
        lines.append("| " + " | ".join([r.label, r.task, fmt_score(r.score), dense, *cells]) + " |")
    return "\n".join(lines)


def _task_header(rows: list[Row], task: str) -> str:
    row = next(r for r in rows if r.task == task)
    arrow = {True: " ↑", False: " ↓"}.get(row.higher_is_better, " ?")
    metric = row.metric if row.filter == "none" else f"{row.metric} ({row.filter})"
    return f"{task} {metric}{arrow}"


def _cell(row: Row | None, notes: list[str]) -> str:
    if row is None:
        return "—"
    text = fmt_score(row.score)
    c = row.comparison
    if row.axis == "dense":
        text += " (dense)"
    elif c is not None:
        interval = f" [{_interval(c.low, c.high, 2)}]" if c.low is not None else ""
        text += f" ({row.ratio:.2f}{interval} {MARKS[c.verdict]}{'' if c.paired else ' ‡'})"
    elif any(n.startswith("not compared") for n in row.notes):
        text += " (not compared)"
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


def fmt_p(value: float | None) -> str:
    """McNemar's p with two significant digits; ``<0.0001`` below that."""
    if value is None:
        return "—"
    return "<0.0001" if value < 1e-4 else f"{value:.2g}"


def _ratio(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _interval(low: float | None, high: float | None, digits: int) -> str:
    return "—" if low is None or high is None else f"{low:.{digits}f}–{high:.{digits}f}"


def _blank(value):
    return "" if value is None else value
