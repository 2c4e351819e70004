"""``kick report RESULTS...``: tables, plots and a Markdown summary from lm-eval result files.

    kick report kick-sweep/smollm2 --output kick-report/smollm2
    kick report results/ --metric kick_factoid_qa=exact_match --tolerance 0.05 --confidence 0.95
    kick report hf-results/ --recipe-for /ckpt/wanda50=method=wanda,sparsity=0.5,base=/models/llama

Reads every lm-eval results file under the given files and folders (``--model kick`` ones and
plain ``--model hf`` ones: a checkpoint that ``--model kick`` built or exported is known by its
``kick_recipe.json``, any other counts as dense unless ``--recipe-for`` labels it), compares
each compressed run with its model's dense run, and writes to ``--output``:

    summary.md      model, recipes, tasks, numbers, reach within tolerance, versions, issues
    results.md      the same tables for every task including group subtasks, and every issue
    results.csv     one row per (model, recipe, task), subtasks included
    plots/*.png|svg ratio to dense vs sparsity / bits / size on disk, a panel per task

Each ratio to dense has an interval: paired over examples (bootstrap; McNemar's p for 0/1
metrics) where both runs were evaluated with ``--log_samples``, else unpaired from lm-eval's
standard errors, and so a verdict: within the tolerance, below it, or undecided (with about
how many examples would decide it). Runs on other examples or under another prompt format
(chat template, system instruction, n-shot, ...) are not compared.

Issues (missing dense run, several models, refused comparisons, task versions that differ
from dense, duplicates, points not run) are printed and written, never averaged away;
``--strict`` makes them an error (exit 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kick_core.helptext import plain
from kick_core.values import cast

from kick_models.report.compare import build_report
from kick_models.report.metrics import DEFAULT_TOLERANCE, parse_metric_override
from kick_models.report.results import load_runs, normalise_model
from kick_models.report.stats import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED

DEFAULT_OUTPUT = "kick-report"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kick report", description=plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", help="lm-eval results files or folders (searched recursively)")
    parser.add_argument("--output", "-o", default=DEFAULT_OUTPUT, help=f"folder to write to (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--metric", action="append", default=[], metavar="TASK=METRIC[,FILTER]",
                        help="headline metric of a task (default: the first in its metric_list); repeatable")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="a point is 'within' when its ratio's interval lies at or above 1 - tolerance, "
                             "'below' when it lies under it (default 0.05)")
    parser.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE,
                        help=f"confidence level of the intervals (default {DEFAULT_CONFIDENCE})")
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES,
                        help=f"bootstrap resamples per comparison (default {DEFAULT_RESAMPLES})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"seed of the bootstrap: the same seed gives the same intervals (default {DEFAULT_SEED})")
    parser.add_argument("--recipe-for", action="append", default=[], metavar="PRETRAINED=method=M,KEY=V,...[,base=MODEL]",
                        help="recipe of a --model hf result (e.g. an exported checkpoint) and the model it "
                             "compares with; repeatable")
    parser.add_argument("--size", choices=("compressed", "raw"), default="compressed",
                        help="size on disk in the size plot: best lossless codec (default) or raw tensor bytes")
    parser.add_argument("--no-plots", action="store_true", help="tables and summary only")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="do not print each model's comparisons with dense (they are in summary.md either way)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any issue is found")
    return parser


def parse_recipe_for(text: str) -> tuple[str, dict[str, str | float]]:
    """``"PRETRAINED=method=wanda,sparsity=0.5,base=/m"`` -> ``(PRETRAINED, {...})``."""
    pretrained, sep, rest = text.partition("=")
    recipe: dict[str, str | float] = {}
    for item in rest.split(",") if rest else []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--recipe-for {text!r}: {item!r} is not KEY=VALUE")
        recipe[key.strip()] = cast(value.strip())
    if not sep or not pretrained or "method" not in recipe:
        raise ValueError(f"--recipe-for {text!r} is not PRETRAINED=method=M[,KEY=V...][,base=MODEL]")
    return normalise_model(pretrained), recipe


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        metrics = dict(parse_metric_override(m) for m in args.metric)
        recipes = dict(parse_recipe_for(r) for r in args.recipe_for)
        runs, skipped = load_runs(args.results, metrics, recipes)
        if not runs:
            raise ValueError(f"no lm-eval results files found in {args.results}"
                             + (f" ({len(skipped)} other JSON files skipped)" if skipped else ""))
        report = build_report(runs, args.tolerance, skipped, confidence=args.confidence, resamples=args.resamples,
                              seed=args.seed)
    except (FileNotFoundError, ValueError) as err:
        print(f"kick report: error: {err}", file=sys.stderr)
        return 2
    from kick_models.report.writer import write_report

    written = write_report(report, Path(args.output), plots=not args.no_plots, size=args.size)
    if not args.quiet:  # the answer itself, side by side: score, dense, ratio, interval, verdict
        from kick_core.names import model_name
        from kick_models.report.tables import comparisons_table

        for model in report.models:
            table = comparisons_table(report, model)
            if table:
                print(f"{model_name(model)}: each compressed run against dense\n\n{table}\n")
    print(f"kick report: {len(runs)} result files, {len(report.models)} model(s); wrote:")
    for path in written:
        print(f"  {path}")
    for issue in report.issues:
        print(f"kick report: {issue.kind}: {issue.message}", file=sys.stderr)
    return 1 if args.strict and report.issues else 0


if __name__ == "__main__":
    raise SystemExit(main())
