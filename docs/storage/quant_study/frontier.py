"""The compressibility-quality frontier of the quantization study: bytes on disk after the best
lossless codec against score ratio to dense, per task, with dense and pruned points.

Mao et al. 2024 ("On the Compressibility of Quantized Large Language Models") weigh what a
checkpoint costs in storage against what it costs in quality. Each point here joins

* **quality**: the ratio to dense with its paired 95% interval and verdict, from ``kick report``'s
  own comparison (:func:`kick_models.report.compare.build_report`) of the GPU runs of
  ``run_gpu.sh`` (``results/``: RTN, GPTQ and bitsandbytes int8/NF4, factoid QA on the first 1,000 questions,
  closed-book TriviaQA 956, WikiText-2 62 articles) and, for the pruned points, of the second
  sweep (``docs/sweep/v2/results``: the same model, GPU, float32 protocol, calibration and
  tasks, factoid QA on all 4,000 questions);
* **size**: the same recipe's checkpoint as a user stores it, built from the model's own bf16
  weights (``run.sh``: ``kick storage`` of every RTN, GPTQ, bitsandbytes and pruned checkpoint; the GPTQ W3
  ones in ``results/storage``), in bytes after the best codec measured on *every* checkpoint of
  the figure (each tensor in its best layout). The scored checkpoints were built from a float32
  copy of the model (the sweep's protocol, for CPU/GPU parity): their unquantized tensors (the
  tied 28M-parameter embedding, norms) are float32 on disk, 57 MB more than as stored, which
  is why their own ``--storage`` sizes (in ``quality/``) are not the x axis here.

Recipes are matched as kick report matches runs (:func:`kick_models.report.results.recipe_key`:
the whole recorded recipe). The frontier
line is :func:`kick_models.report.plots.frontier` (by increasing size, each point that scores
higher than every smaller one). Writes ``frontier.png``/``.svg`` and ``frontier.md``::

    python docs/storage/quant_study/frontier.py
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from analyze import HERE, read_storage_json, whole_best

from kick_core.atomic import atomic_write_text
from kick_models.report.compare import Report, Row, build_report
from kick_models.report.metrics import parse_metric_override
from kick_models.report.plots import frontier, plot_size
from kick_models.report.results import load_runs, recipe_key

REPO = HERE.parents[2]
QUALITY = HERE / "results"
PRUNED_QUALITY = REPO / "docs/sweep/v2/results"
STORAGE = (HERE / "rtn.json.gz", HERE / "gptq-w4-sym.json.gz", HERE / "gptq-w4-asym.json.gz",
           HERE / "results/storage/gptq.json.gz", HERE / "bnb.json.gz", HERE / "pruned.json.gz")
TASKS = ("kick_factoid_qa", "kick_icrqa_closed", "kick_ppl")
METRICS = ("kick_icrqa_closed=f1",)
PRUNING_METHODS = ("magnitude", "wanda", "sparsegpt")
STEM = "frontier"


def storage_sizes(paths: list[Path]) -> tuple[dict[str, tuple[str, float, float, str]], list[str]]:
    """``{recipe key: (label, raw bytes, bytes after the best codec, that codec)}``, the best of
    the codecs measured on every checkpoint of ``paths`` (returned second)."""
    models = [m for p in paths for m in read_storage_json(p)["models"]]
    common = set.intersection(*(set(m["summary"]["representations"]["best"]["codecs"]) for m in models)) - {"none"}
    sizes = {}
    for m in models:
        summary = m["summary"]
        recipe = (summary.get("kick") or {}).get("recipe") or {"method": "dense"}
        codec, best = whole_best(m, common)
        sizes[recipe_key(recipe)] = (summary["label"], summary["raw_bytes"], best, codec)
    return sizes, sorted(common)


def quality_rows(path: Path, metrics: dict, keep) -> tuple[Report, list[Row]]:
    runs, _ = load_runs([path], metrics)
    runs = [run for run in runs if keep(run)]
    report = build_report(runs)
    return report, [r for r in report.rows if r.task in TASKS and r.headline]


def sized(rows: list[Row], sizes: dict) -> tuple[list[Row], list[str]]:
    """The rows with the storage grid's size of their recipe; the labels of those without one."""
    out, missing = [], []
    for row in rows:
        size = sizes.get(row.recipe_key)
        if size is None:
            missing.append(row.label)
            continue
        _, raw, best, codec = size
        out.append(dataclasses.replace(row, raw_bytes=raw, compressed_bytes=best, codec=codec))
    return out, sorted(set(missing))


def _ratio(row: Row) -> str:
    if row.axis == "dense":
        return "1 (dense)"
    if row.low is None:
        return f"{row.ratio:.2f}"
    return f"{row.ratio:.2f} [{row.low:.2f}–{row.high:.2f}] {row.verdict}"


def table(rows: list[Row], tasks: list[str]) -> str:
    by_recipe: dict[str, dict[str, Row]] = {}
    for r in rows:
        by_recipe.setdefault(r.label, {})[r.task] = r
    ordered = sorted(by_recipe.items(), key=lambda kv: -next(iter(kv[1].values())).compressed_bytes)
    lines = ["| recipe | MB (best codec) | " + " | ".join(tasks) + " |", "|---|---:|" + "---|" * len(tasks)]
    for label, cells in ordered:
        any_row = next(iter(cells.values()))
        size = f"{any_row.compressed_bytes / 1e6:.1f} ({any_row.codec})"
        lines.append(f"| {label} | {size} | " + " | ".join(_ratio(cells[t]) if t in cells else "—" for t in tasks) + " |")
    return "\n".join(lines)


def findings(rows: list[Row], tasks: list[str]) -> list[str]:
    """Per task: the frontier, and the smallest checkpoint judged within 5% of dense."""
    out = []
    for task in tasks:
        task_rows = [r for r in rows if r.task == task]
        n = {r.n_samples for r in task_rows if r.n_samples}
        front = frontier(task_rows)
        out.append(f"**{task}** (n = {', '.join(f'{v:,}' for v in sorted(n))}; {len(task_rows) - 1} compressed points): "
                   "frontier " + "; ".join(f"{r.label} {r.compressed_bytes / 1e6:.1f} MB → {_ratio(r)}" for r in front))
        within = sorted((r for r in task_rows if r.verdict == "within"), key=lambda r: r.compressed_bytes)
        if within:
            r = within[0]
            out.append(f"{task}: smallest checkpoint judged *within* 5% of dense: {r.label}, "
                       f"{r.compressed_bytes / 1e6:.1f} MB ({r.compressed_bytes / next(d for d in task_rows if d.axis == 'dense').compressed_bytes:.0%} "
                       f"of dense's {next(d for d in task_rows if d.axis == 'dense').compressed_bytes / 1e6:.1f} MB), {_ratio(r)}")
        else:
            out.append(f"{task}: no compressed checkpoint is judged *within* 5% of dense")
        # counted, not the best one picked: the highest of ~40 noisy ratios is biased upwards
        counts = []
        for p in sorted((r for r in task_rows if r.method in PRUNING_METHODS and r.low is not None),
                        key=lambda r: -r.compressed_bytes):
            smaller = [q for q in task_rows if q.axis == "bits" and q.compressed_bytes <= p.compressed_bytes
                       and q.low is not None]
            above = sum(q.low > p.high for q in smaller)
            below = sum(q.high < p.low for q in smaller)
            counts.append(f"{p.label} ({p.compressed_bytes / 1e6:.1f} MB, {_ratio(p)}): {above} of {len(smaller)} "
                          f"above it, intervals apart" + (f", {below} below" if below else ""))
        if counts:
            out.append(f"{task}: quantized checkpoints no larger than each pruned one: " + "; ".join(counts))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder for frontier.md and the figure")
    args = parser.parse_args(argv)
    metrics = dict(parse_metric_override(m) for m in METRICS)
    sizes, codecs = storage_sizes([p for p in STORAGE if p.exists()])
    report, rows = quality_rows(QUALITY, metrics, lambda run: True)
    _, pruned = quality_rows(PRUNED_QUALITY, metrics, lambda run: (run.is_dense or run.method in PRUNING_METHODS)
                             and bool(set(run.scores) & set(TASKS)))
    rows, missing = sized(rows + [r for r in pruned if r.axis != "dense"], sizes)
    if missing:
        print(f"frontier.py: no storage measurement for {', '.join(missing)}: left out", file=sys.stderr)
    model = rows[0].model
    rows = [dataclasses.replace(r, model=model) for r in rows]
    tasks = [t for t in TASKS if any(r.task == t for r in rows)]
    joined = Report(rows=rows, issues=[], runs=[], settings=report.settings)
    written = plot_size(joined, model, args.out / STEM)
    cells = table(rows, tasks)
    text = "\n".join([
        "# Compressibility-quality frontier (SmolLM2-135M-Instruct)",
        "",
        "Written by `frontier.py` (its docstring says how points are joined). x: bytes of the checkpoint as "
        f"stored (bf16 source) after the best of {', '.join(codecs)} (the codecs measured on every checkpoint); "
        "y: score ratio to dense with its paired 95% interval; verdict within / below / undecided at 5% "
        "below dense. Quantized points: `results/` (GPU, factoid QA on the first 1,000 questions); pruned "
        "points: `docs/sweep/v2/results` (same protocol, factoid QA on all 4,000)."
        + (" A dash: not run yet (`run_gpu.sh` resumes: finished points are skipped)." if "—" in cells else ""),
        "",
        *(f"- {line}" for line in findings(rows, tasks)),
        "",
        f"![frontier]({STEM}.png)",
        "",
        cells,
        "",
    ])
    atomic_write_text(args.out / f"{STEM}.md", text)
    print("wrote " + ", ".join(str(p) for p in [args.out / f"{STEM}.md", *written]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
