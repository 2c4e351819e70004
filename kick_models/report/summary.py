"""A Markdown summary to paste into a leaderboard submission or a pull request.

Per model: what was evaluated (model, recipes with their calibration, tasks with metric,
version, n-shot and limit), the numbers (:func:`.tables.markdown_table`), how far each method
goes before it falls more than the tolerance below dense (the reading of LLM-KICK's figures),
the library versions, and every issue found.
"""

from __future__ import annotations

from collections import defaultdict

from kick_models.report.compare import Report, Row, library_versions
from kick_models.report.plots import model_name
from kick_models.report.tables import legend, markdown_table

VERSION_ORDER = ("lm-eval", "llm-kick", "torch", "transformers", "llmcompressor", "compressed-tensors")


def summary_markdown(report: Report) -> str:
    parts = []
    for model in report.models:
        parts.append(_model_section(report, model))
    if report.issues:
        parts.append("### Issues\n\n" + "\n".join(f"- **{i.kind}**: {i.message}" for i in report.issues))
    return "\n\n".join(parts) + "\n"


def _model_section(report: Report, model: str) -> str:
    rows = report.rows_for(model)
    runs = report.runs_for(model)
    dense_run = next((run for run in runs if run.is_dense), None)
    details = []
    if dense_run is not None and dense_run.model_dtype:
        details.append(dense_run.model_dtype.replace("torch.", ""))
    params = next((run.num_parameters for run in runs if run.num_parameters), None)
    if params:
        details.append(f"{params / 1e6:,.1f}M parameters")
    lines = [f"## {model_name(model)}: score relative to dense", "",
             f"- **Model**: `{model}`" + (f" ({', '.join(details)})" if details else "")]
    lines.append(f"- **Recipes**: {_recipes(rows, runs)}")
    lines.append(f"- **Tasks**: {_tasks(rows)}")
    versions = library_versions(runs)
    ordered = [n for n in VERSION_ORDER if n in versions] + sorted(n for n in versions if n not in VERSION_ORDER)
    lines.append("- **Versions**: " + ", ".join(f"{n} {versions[n]}" for n in ordered))
    lines += ["", markdown_table(report, model), "", legend(report)]
    reach = _reach_table(rows, report.tolerance)
    if reach:
        lines += ["", f"**How far each method stays within {report.tolerance:.0%} of dense**:", "", reach]
    return "\n".join(lines)


def _recipes(rows: list[Row], runs) -> str:
    """``line at x1, x2 [calibration ...]`` per plot line, in table order."""
    calibration = {run.path: run.calibration for run in runs}
    points: dict[str, list[str]] = defaultdict(list)
    notes: dict[str, str] = {}
    for r in rows:
        point = f"{r.sparsity:.0%}" if r.axis == "sparsity" else f"{r.bits:g}-bit" if r.axis == "bits" else ""
        if point and point not in points[r.line]:
            points[r.line].append(point)
        points.setdefault(r.line, [])
        cal = calibration.get(r.path)
        if cal and r.line not in notes:
            shown = [f"{k} {v}" for k, v in cal.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
            notes[r.line] = " [calibration: " + ", ".join(shown) + "]"
    return "; ".join(line + (f" at {', '.join(p)}" if p else "") + notes.get(line, "") for line, p in points.items())


def _tasks(rows: list[Row]) -> str:
    seen = {}
    for r in rows:
        if r.task in seen:
            continue
        arrow = {True: "↑", False: "↓"}.get(r.higher_is_better, "?")
        bits = [f"{r.metric}{'' if r.filter == 'none' else f' ({r.filter})'} {arrow}"]
        if r.version is not None:
            bits.append(f"v{r.version}")
        if r.n_shot is not None:
            bits.append(f"{r.n_shot}-shot")
        if r.n_samples is not None:
            bits.append(f"{r.n_samples} examples")
        if r.limit is not None:
            bits.append(f"limit {r.limit:g}")
        seen[r.task] = f"{r.task} ({', '.join(bits)})"
    return "; ".join(seen.values())


def _reach_table(rows: list[Row], tolerance: float) -> str:
    """Per plot line and task: the heaviest compression that (with all lighter ones) stays within."""
    lines: dict[str, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.axis in ("sparsity", "bits") and r.ratio is not None:
            lines[r.line][r.task].append(r)
    if not lines:
        return ""
    tasks = list(dict.fromkeys(r.task for r in rows if r.axis != "dense"))
    out = ["| method | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for line, per_task in lines.items():
        cells = []
        for task in tasks:
            points = sorted(per_task.get(task, []), key=lambda r: r.sparsity if r.axis == "sparsity" else -(r.bits or 0))
            cells.append(_reach(points))
        out.append(f"| {line} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _reach(points: list[Row]) -> str:
    if not points:
        return "—"

    def at(r: Row) -> str:
        return f"{r.sparsity:.0%}" if r.axis == "sparsity" else f"{r.bits:g}-bit"

    held = None
    for r in points:
        if not r.within:
            return (f"within up to {at(held)}; below from {at(r)}" if held else f"below from {at(r)}")
        held = r
    return f"within at all tested (up to {at(held)})"
