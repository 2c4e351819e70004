"""Write a :class:`~kick_models.report.compare.Report` to a folder: Markdown, CSV, figures."""

from __future__ import annotations

from pathlib import Path

from kick_core.atomic import atomic_write_text
from kick_core.names import model_name

from kick_models.report.compare import Report
from kick_models.report.summary import summary_markdown
from kick_models.report.tables import comparisons_table, legend, markdown_table, write_csv


def write_report(report: Report, folder: Path, *, plots: bool = True, size: str = "compressed") -> list[Path]:
    """``summary.md``, ``results.md``, ``results.csv`` and ``plots/``; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    figures: dict[str, list[Path]] = {}
    if plots:
        from kick_models.report.plots import file_stem, plot_model  # matplotlib only when drawing

        stems: list[str] = []
        for model in report.models:
            stem = file_stem(model)
            stem = stem if stem not in stems else f"{stem}-{len(stems) + 1}"  # two folders of one name
            stems.append(stem)
            figures[model] = plot_model(report, model, folder / "plots", size=size, stem=stem)
    written = [atomic_write_text(folder / "summary.md", summary_markdown(report)),
               atomic_write_text(folder / "results.md", _full_markdown(report, figures, folder)),
               write_csv(report, folder / "results.csv")]
    return written + [p for paths in figures.values() for p in paths]


def _full_markdown(report: Report, figures: dict[str, list[Path]], folder: Path) -> str:
    parts = ["# Compressed vs dense: all results", legend(report)]
    for model in report.models:
        parts += [f"## {model_name(model)}", f"`{model}`", markdown_table(report, model, headline_only=False)]
        details = comparisons_table(report, model, headline_only=False)
        if details:
            parts.append(details)
        parts += [f"![{p.stem}]({p.relative_to(folder).as_posix()})" for p in figures.get(model, []) if p.suffix == ".png"]
    if report.issues:
        parts.append("## Issues\n\n" + "\n".join(f"- **{i.kind}**: {i.message}" for i in report.issues))
    return "\n\n".join(parts) + "\n"

