"""Compare every compressed run with its model's dense run, task by task.

The rows are the numbers of the LLM-KICK figures (Jaiswal et al., ICLR 2024): per model,
recipe and task, the score, the dense score and their ratio (:func:`.metrics.ratio_to_dense`)
with its interval, and a three-way verdict against the tolerance (5%: the paper's "falls more
than 5% below dense"): *within*, *below*, or *undecided* with the examples that would decide
it (:mod:`.uncertainty`). Intervals are paired over examples where both runs logged samples,
unpaired from lm-eval's standard errors otherwise. Nothing is averaged across models, recipes
or task versions. A comparison of runs measured on other examples or under another prompt
(:mod:`.comparable`, :func:`.samples.pair`) is refused; whatever else would make one
doubtful is reported as an :class:`Issue` and noted on the row: a missing dense baseline,
several models in one report, duplicate results, a task version that differs from the dense
run's, library versions that differ between runs, grid points that were not run.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kick_models.report import stats
from kick_models.report.comparable import refusals
from kick_models.report.metrics import DEFAULT_TOLERANCE, ratio_to_dense
from kick_models.report.results import Run, TaskScore
from kick_models.report.samples import Examples, NoSamples, NotComparable, pair, read_examples
from kick_models.report.uncertainty import Comparison, Settings, paired, score_interval, unpaired

# Samples re-computing a score must give the reported one up to float rounding.
SCORE_MATCH_REL = 1e-6

# Recipe keys shown by their own column or format rather than as key=value in labels.
SHOWN_APART = ("method", "sparsity", "pattern", "bits", "ignore")


@dataclass
class Row:
    model: str
    method: str
    label: str  # e.g. "wanda 2:4", "magnitude 50%", "rtn 4-bit"
    line: str  # plot line: the label without the swept value
    axis: str  # dense | sparsity | bits
    recipe: dict[str, Any]
    recipe_key: str
    sparsity: float
    bits: float | None
    task: str
    metric: str
    filter: str
    higher_is_better: bool | None
    score: float
    stderr: float | None
    dense_score: float | None
    ratio: float | None
    comparison: Comparison | None  # interval and verdict; None for dense, refused or undefined ratios
    score_interval: tuple[float, float] | None  # Wilson, for 0/1 metrics with samples
    headline: bool
    version: str | None
    n_shot: int | None
    limit: float | None
    n_samples: int | None
    measured_sparsity: float | None
    raw_bytes: float | None
    compressed_bytes: float | None
    codec: str | None
    path: Path
    notes: list[str] = field(default_factory=list)
    # Calibration repeats averaged into this row (kick sweep --seed): the seeds, and each
    # seed's own ratio to dense (their spread is shown beside the sampling interval).
    seeds: tuple[int, ...] = ()
    seed_ratios: tuple[float, ...] = ()

    @property
    def verdict(self) -> str | None:
        return self.comparison.verdict if self.comparison else None

    @property
    def low(self) -> float | None:
        return self.comparison.low if self.comparison else None

    @property
    def high(self) -> float | None:
        return self.comparison.high if self.comparison else None


@dataclass(frozen=True)
class Issue:
    kind: str
    message: str


@dataclass
class Report:
    rows: list[Row]
    issues: list[Issue]
    runs: list[Run]
    settings: Settings = field(default_factory=Settings)
    skipped: list[Path] = field(default_factory=list)

    @property
    def tolerance(self) -> float:
        return self.settings.tolerance

    @property
    def confidence(self) -> float:
        return self.settings.confidence

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(row.model for row in self.rows))

    def rows_for(self, model: str, *, headline_only: bool = True) -> list[Row]:
        return [r for r in self.rows if r.model == model and (r.headline or not headline_only)]

    def tasks_for(self, model: str, *, headline_only: bool = True) -> list[str]:
        return list(dict.fromkeys(r.task for r in self.rows_for(model, headline_only=headline_only)))

    def runs_for(self, model: str) -> list[Run]:
        return [run for run in self.runs if run.model == model]


def build_report(runs: list[Run], tolerance: float = DEFAULT_TOLERANCE, skipped: list[Path] | None = None, *,
                 confidence: float = stats.DEFAULT_CONFIDENCE, resamples: int = stats.DEFAULT_RESAMPLES,
                 seed: int = stats.DEFAULT_SEED) -> Report:
    """Rows for every (model, recipe, task) and the issues found on the way."""
    settings = Settings(tolerance, confidence, resamples, seed)
    issues: list[Issue] = []
    for run in runs:
        issues += [Issue("metric", message) for message in run.metric_errors]
    if skipped:
        issues.append(Issue("skipped-files", f"{len(skipped)} JSON file(s) are not lm-eval results and were skipped: "
                                              + ", ".join(str(p) for p in skipped[:5]) + (" ..." if len(skipped) > 5 else "")))
    by_model: dict[str, list[Run]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: r.date):
        by_model[run.model].append(run)
    if len(by_model) > 1:
        issues.append(Issue("mixed-models", f"results cover {len(by_model)} models ({', '.join(by_model)}): each is "
                                            "compared with its own dense run; nothing is averaged across models"))
    rows: list[Row] = []
    for model, model_runs in by_model.items():
        rows += _model_rows(model, model_runs, settings, issues)
    _check_library_versions(runs, issues)
    return Report(rows=rows, issues=issues, runs=list(runs), settings=settings, skipped=list(skipped or []))


def _model_rows(model: str, runs: list[Run], settings: Settings, issues: list[Issue]) -> list[Row]:
    # Newest result wins per (recipe, task, calibration seed); runs are sorted by date, so later
    # ones overwrite. Runs of one recipe with other calibration seeds are repeats: averaged.
    found: dict[tuple[str, str], dict[Any, tuple[Run, TaskScore]]] = defaultdict(dict)
    for run in runs:
        for task, score in run.scores.items():
            seeds = found[(run.recipe_key, task)]
            if run.seed in seeds:
                older = seeds[run.seed][0]
                issues.append(Issue("duplicate", f"{model}: {task} of {_describe(run)} is in {older.path} and "
                                                 f"{run.path}: using the newer ({run.path.name})"))
            seeds[run.seed] = (run, score)
    cells = {key: next(iter(seeds.values())) for key, seeds in found.items()}
    repeats = {key: [seeds[s] for s in sorted(seeds, key=str)] for key, seeds in found.items() if len(seeds) > 1}
    labels = _labels(runs)
    dense = {task: cell for (recipe, task), cell in cells.items() if recipe == "dense"}
    tasks = list(dict.fromkeys(task for (_, task), (_, s) in cells.items() if s.headline))
    no_baseline = [t for t in tasks if t not in dense]
    if no_baseline:
        issues.append(Issue("missing-baseline", f"{model}: no dense result for {', '.join(no_baseline)}: their ratios "
                                                "to dense are left empty (run method=dense, or --model hf, on it)"))
    rows = []
    undefined: dict[str, list[str]] = defaultdict(list)
    refused: dict[tuple[str, str], list[str]] = defaultdict(list)
    samples = _SampleCache(issues)
    for (recipe, task), (run, score) in cells.items():
        row = _row(model, run, score, labels[run.recipe_key], dense.get(task))
        row.score_interval = score_interval(samples.get(run, score), settings.confidence)
        if row.higher_is_better is None:
            row.notes.append("direction unknown: taken as higher is better")
            issues.append(Issue("direction-unknown", f"{run.path}: {task} {row.metric} does not say whether higher "
                                                     "is better; taken as higher is better"))
        if task in dense and run.recipe_key != "dense":
            _compare_settings(model, row, score, run, *dense[task], issues)
            if dense[task][1].choice.metric == score.choice.metric:
                if (recipe, task) in repeats:
                    reasons = _compare_repeats(row, repeats[(recipe, task)], *dense[task], settings, samples)
                else:
                    reasons = _compare(row, run, score, *dense[task], settings, samples)
                for reason in reasons:
                    row.notes.append(f"not compared: {reason}")
                    refused[(row.label, reason)].append(task)
                if row.ratio is None and not reasons:
                    row.notes.append("ratio undefined (zero score)")
                    undefined[task].append(f"{row.label} ({row.score:g})")
        rows.append(row)
    for (label, reason), refused_tasks in refused.items():
        refused_tasks.sort(key=lambda t: t not in tasks)  # headline tasks first, then subtasks
        issues.append(Issue("not-comparable", f"{model}: {label} is not compared with dense on {_some(refused_tasks)}: "
                                              f"{reason}"))
    subtasks = sorted(task for task in undefined if task not in tasks)
    for task, points in undefined.items():
        if task in tasks:
            issues.append(Issue("zero-score", f"{model}: {task}: ratio to dense undefined for {', '.join(points)}: a "
                                              f"zero score on one side (dense {dense[task][1].value:g}); more examples?"))
    if subtasks:  # one line for all: a group's subtasks on a few questions each are often 0
        issues.append(Issue("zero-score", f"{model}: {len(subtasks)} subtasks ({', '.join(subtasks[:3])}"
                                          f"{', ...' if len(subtasks) > 3 else ''}) have ratios to dense undefined "
                                          "(a zero score on one side; results.md marks each); more examples?"))
    _check_partial(model, runs, cells, labels, issues)
    order = _recipe_order(runs, labels)
    rows.sort(key=lambda r: (not r.headline, tasks.index(r.task) if r.task in tasks else len(tasks), r.task,
                             order[r.recipe_key]))
    return rows


def _recipe_order(runs: list[Run], labels: dict[str, tuple[str, str]]) -> dict[str, int]:
    """Dense first; then methods as first run; within a plot line, lightest compression first."""
    first: dict[str, int] = {}
    for run in runs:
        first.setdefault(run.method, len(first))
    recipes = {run.recipe_key: run for run in runs}

    def rank(key: str) -> tuple:
        run = recipes[key]
        x = -(run.bits or 0) if run.axis == "bits" else run.sparsity
        return (not run.is_dense, first[run.method], run.axis, _is_nm(run.recipe.get("pattern")), labels[key][1], x)

    return {key: i for i, key in enumerate(sorted(recipes, key=rank))}


def _row(model: str, run: Run, score: TaskScore, names: tuple[str, str], dense: tuple[Run, TaskScore] | None) -> Row:
    """The row of one cell; its ratio to dense (1 for the dense run itself) is set by :func:`_compare`."""
    dense_score = dense[1].value if dense is not None else None
    same_metric = dense is not None and dense[1].choice.metric == score.choice.metric
    return Row(
        model=model,
        method=run.method,
        label=names[0],
        line=names[1],
        axis=run.axis,
        recipe=run.recipe,
        recipe_key=run.recipe_key,
        sparsity=run.sparsity,
        bits=run.bits,
        task=score.task,
        metric=score.choice.metric,
        filter=score.choice.filter,
        higher_is_better=score.choice.higher_is_better,
        score=score.value,
        stderr=score.stderr,
        dense_score=dense_score,
        ratio=1.0 if run.is_dense and same_metric else None,
        comparison=None,
        score_interval=None,
        headline=score.headline,
        version=score.version,
        n_shot=score.n_shot,
        limit=run.limit,
        n_samples=score.n_samples,
        measured_sparsity=run.measured_sparsity,
        raw_bytes=run.size_bytes("raw"),
        compressed_bytes=run.size_bytes("compressed"),
        codec=run.size_codec(),
        path=run.path,
    )


def _compare(row: Row, run: Run, score: TaskScore, dense_run: Run, dense: TaskScore, settings: Settings,
             samples: "_SampleCache") -> list[str]:
    """Set the row's ratio and :class:`Comparison`; return the reasons it is refused instead."""
    reasons = refusals(row.label, run, score, dense_run, dense)
    if reasons:
        return reasons
    mine, theirs = samples.get(run, score), samples.get(dense_run, dense)
    if mine is not None and theirs is not None:
        try:
            mine, theirs = pair(mine, theirs, row.label)
        except NotComparable as err:
            return [str(err)]
    row.ratio = ratio_to_dense(score.value, dense.value, score.choice.higher_is_better)
    if row.ratio is None:
        return []
    hib = score.choice.higher_is_better is not False
    if mine is not None and theirs is not None:
        row.comparison = paired(mine, theirs, row.ratio, hib, settings)
    else:
        why = samples.why(run, score) or f"dense: {samples.why(dense_run, dense)}"
        row.comparison = unpaired(score.value, score.stderr, dense.value, dense.stderr, dense.n_samples, row.ratio,
                                  hib, settings, why)
    return []


def _compare_repeats(row: Row, repeats: list[tuple[Run, TaskScore]], dense_run: Run, dense: TaskScore,
                     settings: Settings, samples: "_SampleCache") -> list[str]:
    """The mean over calibration seeds, against dense: its ratio, and the sampling interval of
    that mean (each example's value averaged over the seeds, paired with dense by bootstrap
    over examples; unpaired, from the mean standard error, where samples are missing), with
    every seed's own ratio kept for the spread. The paper averages three runs (Jaiswal et al.
    2024, Sec. 3); the spread says how much calibration alone moves a ratio."""
    reasons = [reason for run, score in repeats for reason in refusals(row.label, run, score, dense_run, dense)]
    if reasons:
        return list(dict.fromkeys(reasons))
    hib = dense.choice.higher_is_better
    row.seeds = tuple(run.seed for run, _ in repeats)
    row.seed_ratios = tuple(r for r in (ratio_to_dense(score.value, dense.value, hib) for _, score in repeats)
                            if r is not None)
    row.score = sum(score.value for _, score in repeats) / len(repeats)
    row.notes.append(f"mean of {len(repeats)} calibration seeds ({', '.join(map(str, row.seeds))})")
    theirs = samples.get(dense_run, dense)
    mine = [samples.get(run, score) for run, score in repeats]
    if theirs is not None and all(m is not None for m in mine):
        try:
            aligned = [pair(m, theirs, row.label)[0] for m in mine]
        except NotComparable as err:
            return [str(err)]
        mean = Examples(theirs.keys, theirs.doc_hashes, theirs.prompt_hashes,
                        np.mean([m.a for m in aligned], axis=0), np.mean([m.b for m in aligned], axis=0),
                        aligned[0].aggregation)
        row.score = mean.score()
        row.ratio = ratio_to_dense(row.score, dense.value, hib)
        if row.ratio is not None:
            comparison = paired(mean, theirs, row.ratio, hib is not False, settings)
            # McNemar's test is for one model's 0/1 outcomes; a mean over seeds is not 0/1
            row.comparison = dataclasses.replace(comparison, p_value=None)
        return []
    row.ratio = ratio_to_dense(row.score, dense.value, hib)
    if row.ratio is not None:
        errors = [score.stderr for _, score in repeats]
        # the seeds score the same examples, so their sampling errors are not independent: the
        # mean's standard error is taken as the seeds' mean one (no credit for averaging)
        stderr = None if any(e is None for e in errors) else sum(errors) / len(errors)
        why = next((samples.why(run, score) for run, score in repeats if samples.why(run, score)), None) \
            or f"dense: {samples.why(dense_run, dense)}"
        row.comparison = unpaired(row.score, stderr, dense.value, dense.stderr, dense.n_samples, row.ratio,
                                  hib is not False, settings, why)
    return []


class _SampleCache:
    """Each run's examples per task, read once (a dense run's serve every recipe), and why
    there are none; samples that do not give the reported score are an issue."""

    def __init__(self, issues: list[Issue]) -> None:
        self._found: dict[tuple, Examples | str] = {}
        self._issues = issues

    def get(self, run: Run, score: TaskScore) -> Examples | None:
        found = self._lookup(run, score)
        return found if isinstance(found, Examples) else None

    def why(self, run: Run, score: TaskScore) -> str | None:
        found = self._lookup(run, score)
        return None if isinstance(found, Examples) else found

    def _lookup(self, run: Run, score: TaskScore) -> Examples | str:
        key = (run.path, score.task, score.choice.metric, score.choice.filter)
        if key not in self._found:
            self._found[key] = self._read(run, score)
        return self._found[key]

    def _read(self, run: Run, score: TaskScore) -> Examples | str:
        if not run.sample_files:
            return "no samples"
        try:
            examples = read_examples(run.sample_files, score.leaves, score.choice.metric, score.choice.filter,
                                     score.aggregation)
        except NoSamples as err:
            return f"samples unusable: {err}"
        recomputed = examples.score()
        if not math.isclose(recomputed, score.value, rel_tol=SCORE_MATCH_REL, abs_tol=1e-12):
            self._issues.append(Issue("samples-mismatch", f"{run.path}: {score.task} {score.choice.metric} from its "
                                                          f"samples is {recomputed:.6g}, the file says "
                                                          f"{score.value:.6g}: compared unpaired"))
            return "samples do not give the score"
        return examples


def _some(items: list[str], shown: int = 3) -> str:
    items = list(dict.fromkeys(items))
    return ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown else "")


def _compare_settings(model: str, row: Row, score: TaskScore, run: Run, dense_run: Run, dense: TaskScore,
                      issues: list[Issue]) -> None:
    """Differences that are flagged but do not stop the comparison (refusals: :mod:`.comparable`)."""
    checks = [
        ("version-mismatch", "task version", score.version, dense.version),
        ("setting-mismatch", "metric", f"{score.choice.metric},{score.choice.filter}",
         f"{dense.choice.metric},{dense.choice.filter}"),
    ]
    for kind, what, mine, theirs in checks:
        if mine != theirs:
            row.notes.append(f"{what} {mine} vs dense {theirs}")
            issues.append(Issue(kind, f"{model}: {row.task} of {row.label}: {what} {mine} differs from the dense "
                                      f"run's {theirs} ({run.path.name} vs {dense_run.path.name}): not comparable as is"))


def _check_partial(model: str, runs: list[Run], cells: dict, labels: dict[str, tuple[str, str]],
                   issues: list[Issue]) -> None:
    """Grid points not run: every recipe of the model should have every headline task."""
    tasks = list(dict.fromkeys(t for (_, t), (_, s) in cells.items() if s.headline))
    for recipe in dict.fromkeys(run.recipe_key for run in runs):
        missing = [t for t in tasks if (recipe, t) not in cells]
        if missing and recipe != "dense":
            issues.append(Issue("missing-point", f"{model}: {labels[recipe][0]} has no result for "
                                                 f"{', '.join(missing)} (partial sweep?)"))


def _labels(runs: list[Run]) -> dict[str, tuple[str, str]]:
    """Per recipe: (point label, plot-line label), naming only the keys that vary in a method."""
    recipes = {run.recipe_key: run for run in runs}
    varying: dict[str, set[str]] = defaultdict(set)
    by_method: dict[str, list[Run]] = defaultdict(list)
    for run in recipes.values():
        by_method[run.method].append(run)
    for method, group in by_method.items():
        keys = {k for run in group for k in run.recipe}
        # None means "not applicable" (e.g. scope for N:M): it does not make a key vary.
        varying[method] = {k for k in keys if k not in SHOWN_APART
                           and len({repr(run.recipe.get(k)) for run in group if run.recipe.get(k) is not None}) > 1}
    labels = {}
    for key, run in recipes.items():
        if run.is_dense:
            labels[key] = ("dense", "dense")
            continue
        extra = [f"{k}={_fmt(run.recipe.get(k))}" for k in sorted(varying[run.method])]
        pattern = run.recipe.get("pattern")
        nm = _is_nm(pattern)
        sparse = [pattern] if nm else ([f"{run.sparsity:.0%} sparse"] if run.sparsity else [])
        if run.axis == "sparsity":
            point = [run.method, pattern if nm else f"{run.sparsity:.0%}", *extra]
            line = [pattern if nm else "unstructured", *extra]
        else:
            point = [run.method, f"{_fmt(run.recipe.get('bits'))}-bit", *sparse, *extra]
            line = [*sparse, *extra]
        labels[key] = (" ".join(point), run.method + (f" ({', '.join(line)})" if line else ""))
    return labels


def _is_nm(pattern: Any) -> bool:
    return isinstance(pattern, str) and ":" in pattern


def _describe(run: Run) -> str:
    return "dense" if run.is_dense else ", ".join(f"{k}={_fmt(v)}" for k, v in run.recipe.items() if k != "ignore")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))
    return str(value)


def _check_library_versions(runs: list[Run], issues: list[Issue]) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for run in runs:
        for name, version in run.versions.items():
            seen[name].add(version)
    differing = {name: sorted(v) for name, v in seen.items() if len(v) > 1}
    if differing:
        issues.append(Issue("versions-differ", "library versions differ between runs: "
                                               + "; ".join(f"{n} {', '.join(v)}" for n, v in sorted(differing.items()))))


def library_versions(runs: list[Run]) -> dict[str, str]:
    """Each library's version across runs (several joined with ' / ' when they differ)."""
    seen: dict[str, list[str]] = defaultdict(list)
    for run in runs:
        for name, version in run.versions.items():
            if version not in seen[name]:
                seen[name].append(version)
    return {name: " / ".join(v) for name, v in seen.items()}
