"""A Markdown summary to paste into a leaderboard submission or a pull request.

Per model: what was evaluated (model, recipes with their calibration, tasks with metric,
version, n-shot and limit), the numbers (:func:`.tables.markdown_table`), how far each method
stays within the tolerance of dense by the three-way verdicts (the reading of LLM-KICK's
figures, with the uncertainty that a point estimate hides), every comparison with its interval
(:func:`.tables.comparisons_table`), the library versions, and every issue found.
"""

from __future__ import annotations

from collections import defaultdict

from kick_core.names import model_name

from kick_models.report.compare import Report, Row, library_versions
from kick_models.report.tables import comparisons_table, legend, markdown_table

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
    intervals = _intervals(rows)
    if intervals:
        lines.append(f"- **Intervals** ({report.confidence:.0%}): {intervals}")
    lines += ["", markdown_table(report, model), "", legend(report)]
    reach = _reach_table(rows)
    if reach:
        lines += ["", f"**How far each method stays within {report.tolerance:.0%} of dense** "
                      f"({report.confidence:.0%} intervals; undecided: the interval holds the line):", "", reach]
    details = comparisons_table(report, model)
    if details:
        lines += ["", "**Each comparison**:", "", details]
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


def _intervals(rows: list[Row]) -> str:
    """How the comparisons' intervals were had: paired, unpaired (no samples), none."""
    compared = [r.comparison for r in rows if r.comparison is not None]
    paired = sum(c.paired and c.low is not None for c in compared)
    unpaired = sum(not c.paired and c.low is not None for c in compared)
    parts = []
    if paired:
        parts.append(f"{paired} paired (bootstrap over examples; McNemar's p for 0/1 metrics)")
    if unpaired:
        parts.append(f"{unpaired} unpaired (no samples: Fieller's, from lm-eval's standard errors; "
                     "run lm_eval with --log_samples to pair)")
    if len(compared) > paired + unpaired:
        parts.append(f"{len(compared) - paired - unpaired} none (see each comparison), so undecided")
    return "; ".join(parts)


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


def _reach_table(rows: list[Row]) -> str:
    """Per plot line and task, the verdicts from the lightest compression to the heaviest."""
    lines: dict[str, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.axis in ("sparsity", "bits") and r.verdict is not None:
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
    """Runs of one verdict, lightest first: ``within up to 30%; undecided at 50%; below from 70%``."""
    if not points:
        return "—"

    def at(r: Row) -> str:
        return f"{r.sparsity:.0%}" if r.axis == "sparsity" else f"{r.bits:g}-bit"

    runs: list[tuple[str, list[Row]]] = []
    for r in points:
        if runs and runs[-1][0] == r.verdict:
            runs[-1][1].append(r)
        else:
            runs.append((r.verdict, [r]))
    if len(runs) == 1 and runs[0][0] == "within":
        return f"within at all tested (up to {at(points[-1])})"
    parts = []
    for i, (verdict, run) in enumerate(runs):
        if i == 0 and verdict == "within":
            parts.append(f"within up to {at(run[-1])}")
        elif i == len(runs) - 1 and verdict == "below":
            parts.append(f"below from {at(run[0])}")
        else:
            parts.append(f"{verdict} at {', '.join(at(r) for r in run)}")
    return "; ".join(parts)
