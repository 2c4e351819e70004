"""From a compressed and a dense score to a ratio with an interval, a verdict and a p-value.

Paired where both runs logged samples (:func:`paired`): the bootstrap over examples of the
ratio, the exact McNemar test for 0/1 metrics, and for an undecided cell the examples that
would decide it. Unpaired otherwise (:func:`unpaired`): Fieller's interval for the ratio of
two independent means from lm-eval's standard errors; perplexity has none (lm-eval writes
``N/A``), so such a cell has no interval and stays undecided. The methods are in :mod:`.stats`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kick_models.report import stats
from kick_models.report.metrics import DEFAULT_TOLERANCE
from kick_models.report.samples import Examples


@dataclass(frozen=True)
class Settings:
    """The report's statistical settings (``kick report --tolerance --confidence ...``)."""

    tolerance: float = DEFAULT_TOLERANCE
    confidence: float = stats.DEFAULT_CONFIDENCE
    resamples: int = stats.DEFAULT_RESAMPLES
    seed: int = stats.DEFAULT_SEED

    def __post_init__(self) -> None:
        if not 0 <= self.tolerance < 1:
            raise ValueError(f"tolerance={self.tolerance!r} is not allowed: give a fraction in [0, 1), e.g. 0.05")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence={self.confidence!r} is not allowed: give a fraction in (0, 1), e.g. 0.95")
        if self.resamples < 1:
            raise ValueError(f"resamples={self.resamples!r} is not allowed: give a positive number, e.g. 2000")


@dataclass(frozen=True)
class Comparison:
    """The interval of a ratio to dense and what it decides."""

    low: float | None
    high: float | None
    verdict: str  # within | below | undecided (stats.verdict)
    interval: str  # how it was had: "paired bootstrap (BCa)", "unpaired (no samples), Fieller", ...
    paired: bool
    n: int | None  # examples compared (per run)
    p_value: float | None = None  # exact McNemar, paired 0/1 metrics
    needs: int | None = None  # examples that would decide an undecided cell at the observed effect


def paired(compressed: Examples, dense: Examples, ratio: float, higher_is_better: bool,
           settings: Settings) -> Comparison:
    """``compressed`` and ``dense`` aligned example by example (:func:`.samples.pair`)."""
    arrays = (compressed.a, compressed.b, dense.a, dense.b)
    shape = dict(exponential=dense.aggregation.exponential, higher_is_better=higher_is_better)
    found = stats.paired_ratio_interval(*arrays, **shape, confidence=settings.confidence,
                                        resamples=settings.resamples, seed=settings.seed)
    low, high, method = found if found is not None else (None, None, None)
    verdict = stats.verdict(low, high, settings.tolerance)
    needs = None
    if verdict == "undecided" and ratio > 0:
        sd = float(np.std(stats.log_ratio_influence(*arrays, **shape), ddof=1))
        needs = stats.examples_to_decide(math.log(ratio), sd, settings.tolerance, settings.confidence)
    p_value = None
    if compressed.binary and dense.binary:
        only_compressed = int(np.sum((compressed.a == 1) & (dense.a == 0)))
        only_dense = int(np.sum((compressed.a == 0) & (dense.a == 1)))
        p_value = stats.mcnemar_exact(only_compressed, only_dense)
    if method:
        how = f"paired bootstrap ({method})"
    elif len(dense.a) < stats.MIN_BOOTSTRAP_EXAMPLES:
        how = f"none (paired, fewer than {stats.MIN_BOOTSTRAP_EXAMPLES} examples)"
    else:
        how = "none (paired; bootstrap undefined: a zero score in resamples)"
    return Comparison(low, high, verdict, how, True, len(dense.a), p_value, needs)


def unpaired(score: float, stderr: float | None, dense: float, dense_stderr: float | None, n: int | None,
             ratio: float, higher_is_better: bool, settings: Settings, why: str) -> Comparison:
    """Fieller's interval from the two runs' standard errors; ``why`` says why not paired."""
    if stderr is None or dense_stderr is None:
        return Comparison(None, None, "undecided", f"none (unpaired: {why}, no stderr)", False, n)
    num, se_num, den, se_den = (score, stderr, dense, dense_stderr) if higher_is_better else \
        (dense, dense_stderr, score, stderr)
    found = stats.fieller_interval(num, se_num, den, se_den, settings.confidence)
    low, high = found if found is not None else (None, None)
    verdict = stats.verdict(low, high, settings.tolerance)
    needs = None
    if verdict == "undecided" and n and ratio > 0 and score > 0 and dense > 0:
        # per-example SD of log R from the delta method: Var(log s) ~ se^2 / s^2, times n
        sd = math.sqrt(n * ((stderr / score) ** 2 + (dense_stderr / dense) ** 2))
        needs = stats.examples_to_decide(math.log(ratio), sd, settings.tolerance, settings.confidence)
    how = f"unpaired ({why}), Fieller" if found is not None else f"none (unpaired: {why}; Fieller unbounded)"
    return Comparison(low, high, verdict, how, False, n, None, needs)


def score_interval(examples: Examples | None, confidence: float) -> tuple[float, float] | None:
    """Wilson's interval of a 0/1 metric's score from its samples; ``None`` otherwise."""
    if examples is None or not examples.binary:
        return None
    return stats.wilson_interval(int(examples.a.sum()), len(examples.a), confidence)
