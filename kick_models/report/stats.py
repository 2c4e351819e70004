"""How sure a ratio to dense is: intervals, tests and sample sizes (pure functions on arrays).

A task's score is an aggregate of per-example contributions ``(a_i, b_i)``, as lm-eval's
aggregations (``lm_eval/api/metrics.py``) compute it: ``score = g(sum(a) / sum(b))`` up to a
constant factor, with ``g`` the identity (``mean``: ``a`` the example's value, ``b = 1``;
``bits_per_byte``: ``a = -loglikelihood``, ``b`` its bytes) or ``exp`` (``perplexity``:
``a = -loglikelihood``, ``b = 1``; ``weighted_perplexity``: ``a = -loglikelihood``, ``b`` its
words). ``exponential`` below says which ``g``.

The ratio to dense ``R`` is ``score_c / score_d`` when higher is better and ``score_d / score_c``
when lower is better (perplexity: dense ÷ compressed), so that ``R < 1`` means "worse than
dense" either way and one verdict rule serves both (:func:`verdict`): *within* when the
interval's lower bound is ``>= 1 - tolerance``, *below* when its upper bound is
``< 1 - tolerance``, *undecided* otherwise.

Methods, with their sources:

* :func:`paired_ratio_interval`: the bootstrap over examples (Efron & Tibshirani, *An
  Introduction to the Bootstrap*, 1993, ch. 6 and 14), resampling compressed and dense
  contributions of an example together (a paired bootstrap), through
  :func:`scipy.stats.bootstrap`: the BCa interval (ch. 14.3) up to :data:`BCA_MAX_EXAMPLES`
  examples, the percentile interval (ch. 13.3) above (see there why);
* :func:`fieller_interval`: the interval for a ratio of two independent, normally distributed
  means (Fieller, "Some problems in interval estimation", JRSS B 16, 1954), for runs without
  per-example samples, from lm-eval's standard errors;
* :func:`mcnemar_exact`: McNemar's test for paired 0/1 outcomes (McNemar, Psychometrika 12,
  1947) in its exact form, a two-sided binomial test on the discordant pairs;
* :func:`wilson_interval`: a single proportion's interval (Wilson, JASA 22, 1927);
* :func:`examples_to_decide`: the normal-approximation sample size of a one-sample test,
  ``n = ((z_{1-alpha/2} + z_{power}) * sigma / delta)^2`` (e.g. Chow, Shao & Wang, *Sample Size
  Calculations in Clinical Research*, 2nd ed. 2008, sec. 3.1), on the log ratio, with
  ``delta = log R - log(1 - tolerance)`` and ``sigma`` the per-example standard deviation of
  :func:`log_ratio_influence` (the delta method). For 0/1 outcomes ``sigma`` follows from the
  four paired-outcome rates (both right, only one right, both wrong), as in Connor's sample
  size for paired proportions (Biometrics 43, 1987), whose test of "no difference" is the
  case ``tolerance = 0`` on the difference scale.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 2000  # Efron & Tibshirani (1993) advise at least 1000 for interval endpoints
DEFAULT_SEED = 1234
# The power at which "needs ~N examples" is computed: the usual 80% of sample-size planning.
DECIDING_POWER = 0.8
# Bootstrap resamples are drawn in batches of at most this many values per array, so that
# 2000 resamples of 14,000 MMLU questions need ~100 MB rather than ~1 GB.
BATCH_VALUES = 4_000_000
# BCa's acceleration is a jackknife: n evaluations of the statistic on n - 1 examples, O(n^2)
# work that outweighs the resamples themselves for thousands of examples. Above this many
# examples the percentile interval is used: there a ratio of means' bootstrap distribution is
# close to normal and BCa's corrections move the endpoints by far less than the interval's width.
BCA_MAX_EXAMPLES = 2000
# Fewer examples leave a bootstrap distribution too few distinct resamples (2 examples: 3) to
# hold a 95% interval; such a comparison gets none.
MIN_BOOTSTRAP_EXAMPLES = 10
# BCa's bias correction and jackknife acceleration assume a smooth bootstrap distribution; a
# 0/1 score with few hits piles the resamples onto a few values (1 hit in 40: about a third of
# the resamples score 0), and BCa then moves its endpoints to extreme percentiles (1 against 8
# hits of 40: an upper bound of 1.63 where the percentile interval gives 0.60 and McNemar's
# p is 0.04). Where one value holds more than this share of the resamples, the percentile
# interval is used (Carpenter & Bithell, Stat. Med. 2000, on BCa with discrete data).
BCA_MAX_POINT_MASS = 0.05
# A ratio exactly on the line (e.g. 0.95 at 5%) counts as within despite float rounding, and
# no number of examples decides it.
LINE_SLACK = 1e-12

VERDICTS = ("within", "below", "undecided")


def ratio(a_c, b_c, a_d, b_d, *, exponential: bool, higher_is_better: bool, axis: int = -1):
    """``R`` of compressed contributions ``(a_c, b_c)`` to dense ones ``(a_d, b_d)``, reducing
    ``axis`` (vectorized: a resample per row). ``nan``/``inf`` where a score is zero."""
    m_c = np.sum(a_c, axis=axis) / np.sum(b_c, axis=axis)
    m_d = np.sum(a_d, axis=axis) / np.sum(b_d, axis=axis)
    num, den = (m_c, m_d) if higher_is_better else (m_d, m_c)
    if exponential:
        return np.exp(num - den)
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


def paired_ratio_interval(a_c, b_c, a_d, b_d, *, exponential: bool, higher_is_better: bool,
                          confidence: float = DEFAULT_CONFIDENCE, resamples: int = DEFAULT_RESAMPLES,
                          seed: int = DEFAULT_SEED) -> tuple[float, float, str] | None:
    """``(low, high, method)``: the paired bootstrap interval of :func:`ratio`, or ``None``
    where there is none (fewer than :data:`MIN_BOOTSTRAP_EXAMPLES` examples, or resamples
    with a zero score).

    ``method`` is ``"BCa"`` up to :data:`BCA_MAX_EXAMPLES` examples, else ``"percentile"``;
    also ``"percentile"`` where BCa is undefined or unreliable: a bootstrap distribution without
    spread (e.g. the two models answer every example alike) leaves its bias correction
    infinite, while the percentile interval is then the point itself; one with a point mass
    (:data:`BCA_MAX_POINT_MASS`) misleads it.
    """
    data = [np.asarray(x, dtype=float) for x in (a_c, b_c, a_d, b_d)]
    n = len(data[0])
    if n < MIN_BOOTSTRAP_EXAMPLES:
        return None

    def statistic(a_c, b_c, a_d, b_d, axis=-1):
        return ratio(a_c, b_c, a_d, b_d, exponential=exponential, higher_is_better=higher_is_better, axis=axis)

    common = dict(vectorized=True, paired=True, confidence_level=confidence, batch=max(1, BATCH_VALUES // n))
    with warnings.catch_warnings():
        # degenerate or non-finite resamples are handled below, not warned about
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        method = "BCa" if n <= BCA_MAX_EXAMPLES else "percentile"
        result = stats.bootstrap(data, statistic, n_resamples=resamples, method=method,
                                 rng=np.random.default_rng(seed), **common)
        if method == "BCa" and (not _finite(result.confidence_interval)
                                or _point_mass(result.bootstrap_distribution) > BCA_MAX_POINT_MASS):
            result = stats.bootstrap(data, statistic, n_resamples=0, method="percentile", bootstrap_result=result,
                                     rng=np.random.default_rng(seed), **common)
            method = "percentile"
    low, high = result.confidence_interval
    if not _finite((low, high)):
        return None
    return float(low), float(high), method


def log_ratio_influence(a_c, b_c, a_d, b_d, *, exponential: bool, higher_is_better: bool) -> np.ndarray:
    """Each example's first-order contribution to ``log R`` (the delta method): for a side
    with ``m = sum(a) / sum(b)``, ``log score`` moves by ``(a_i - m b_i) / mean(b)`` per
    example when ``g = exp`` and by that over ``m`` when ``g`` is the identity. Their
    variance over examples, divided by ``n``, approximates ``Var(log R)``."""

    def influence(a, b):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        m = a.sum() / b.sum()
        step = (a - m * b) / b.mean()
        return step if exponential else step / m

    c, d = influence(a_c, b_c), influence(a_d, b_d)
    return c - d if higher_is_better else d - c


def examples_to_decide(log_ratio: float, sd: float, tolerance: float, confidence: float = DEFAULT_CONFIDENCE,
                       power: float = DECIDING_POWER) -> int | None:
    """Examples at which the interval would clear ``1 - tolerance`` with probability ``power``
    if the observed effect held: ``((z_{1-alpha/2} + z_{power}) * sd / delta)^2`` with
    ``delta = log_ratio - log(1 - tolerance)`` and ``sd`` the per-example standard deviation
    of ``log R``'s influence. ``None`` where the ratio sits on the line (no ``n`` decides)."""
    delta = log_ratio - math.log1p(-tolerance)
    if abs(delta) <= LINE_SLACK or not math.isfinite(delta) or not math.isfinite(sd):
        return None
    z = stats.norm.ppf(1 - (1 - confidence) / 2) + stats.norm.ppf(power)
    return max(1, math.ceil((z * sd / delta) ** 2))


def fieller_interval(num: float, se_num: float, den: float, se_den: float,
                     confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float] | None:
    """Fieller's interval for ``num / den`` with independent normal errors: the ``theta`` with
    ``(num - theta den)^2 <= z^2 (se_num^2 + theta^2 se_den^2)``, i.e.

        theta = (num den ± z sqrt(se_num^2 den^2 + se_den^2 num^2 - z^2 se_num^2 se_den^2))
                / (den^2 - z^2 se_den^2).

    ``None`` when ``den`` is not clearly above zero (``z se_den >= den``): the set is then
    unbounded. Scores are never negative, so neither is their ratio: a lower end below 0 (a
    score near 0 with a normal error around it) is cut at 0."""
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    vn, vd = se_num ** 2, se_den ** 2
    scale = den ** 2 - z ** 2 * vd
    if den <= 0 or scale <= 0:
        return None
    half = z * math.sqrt(vn * den ** 2 + vd * num ** 2 - z ** 2 * vn * vd)
    low, high = (num * den - half) / scale, (num * den + half) / scale
    return (max(low, 0.0) if num >= 0 else low), high


def mcnemar_exact(only_compressed: int, only_dense: int) -> float:
    """Two-sided exact McNemar p: ``binomtest(b, b + c, 1/2)`` on the discordant pairs (``b``
    examples only the compressed model gets right, ``c`` only dense); 1 when there are none."""
    if only_compressed + only_dense == 0:
        return 1.0
    return float(stats.binomtest(only_compressed, only_compressed + only_dense, 0.5).pvalue)


def wilson_interval(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``successes / n``."""
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def verdict(low: float | None, high: float | None, tolerance: float) -> str:
    """``"within"`` (``low >= 1 - tolerance``), ``"below"`` (``high < 1 - tolerance``) or
    ``"undecided"`` (the interval straddles the line, or there is no interval)."""
    line = 1 - tolerance
    if low is not None and low >= line - LINE_SLACK:
        return "within"
    if high is not None and high < line - LINE_SLACK:
        return "below"
    return "undecided"


def _point_mass(values: np.ndarray) -> float:
    """The largest share of ``values`` held by one value."""
    _, counts = np.unique(np.asarray(values), return_counts=True)
    return float(counts.max()) / counts.sum()


def _finite(values) -> bool:
    return all(math.isfinite(float(v)) for v in values)
