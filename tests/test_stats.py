"""`kick report`'s statistics (kick_models/report/stats.py, uncertainty.py) against known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from kick_models.report import stats
from kick_models.report.samples import AGGREGATIONS, Examples
from kick_models.report.uncertainty import Settings, paired

Z95 = 1.959963984540054


def paired_binary(n: int, p_dense: float, lose: float, gain: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense 0/1 outcomes and compressed ones that lose a right answer with probability ``lose``
    and gain a wrong one with probability ``gain``."""
    rng = np.random.default_rng(seed)
    dense = (rng.random(n) < p_dense).astype(float)
    flip = rng.random(n)
    compressed = np.where(dense == 1, (flip >= lose).astype(float), (flip < gain).astype(float))
    return compressed, dense


def monte_carlo_sd(resamples: int, confidence: float, sd: float) -> float:
    """SD of a bootstrap percentile endpoint from ``resamples`` draws of a normal statistic with
    standard deviation ``sd``: sqrt(q (1 - q) / B) / phi(z_q) * sd (the quantile's sampling SD)."""
    q = (1 - confidence) / 2
    return math.sqrt(q * (1 - q) / resamples) / scipy_stats.norm.pdf(scipy_stats.norm.ppf(q)) * sd


@pytest.mark.parametrize("n", [2000, 3000])  # BCa (up to BCA_MAX_EXAMPLES) and percentile
def test_paired_bootstrap_matches_the_delta_method_interval_of_a_ratio_of_means(n):
    compressed, dense = paired_binary(n, p_dense=0.5, lose=0.12, gain=0.04, seed=n)
    ones = np.ones(n)
    low, high, method = stats.paired_ratio_interval(compressed, ones, dense, ones, exponential=False,
                                                    higher_is_better=True, resamples=4000, seed=7)
    assert method == ("BCa" if n <= stats.BCA_MAX_EXAMPLES else "percentile")
    # Delta method for R = mean(x) / mean(y) of paired data, written out from the sample moments:
    # Var(R) ~ (var_x - 2 R cov_xy + R^2 var_y) / (n mean_y^2).
    r = compressed.mean() / dense.mean()
    cov = np.cov(compressed, dense, ddof=1)
    sd = math.sqrt((cov[0, 0] - 2 * r * cov[0, 1] + r ** 2 * cov[1, 1]) / (n * dense.mean() ** 2))
    error = 4 * monte_carlo_sd(4000, 0.95, sd) + sd ** 2  # Monte Carlo error, plus the O(sd^2) skew of a ratio
    assert low == pytest.approx(r - Z95 * sd, abs=error)
    assert high == pytest.approx(r + Z95 * sd, abs=error)


def test_paired_bootstrap_of_continuous_paired_data():
    rng = np.random.default_rng(3)
    n = 2500
    dense = rng.normal(10.0, 2.0, n)
    compressed = 0.95 * dense + rng.normal(0.0, 1.0, n)
    ones = np.ones(n)
    low, high, _ = stats.paired_ratio_interval(compressed, ones, dense, ones, exponential=False,
                                               higher_is_better=True, resamples=4000, seed=1)
    r = compressed.mean() / dense.mean()
    cov = np.cov(compressed, dense, ddof=1)
    sd = math.sqrt((cov[0, 0] - 2 * r * cov[0, 1] + r ** 2 * cov[1, 1]) / (n * dense.mean() ** 2))
    error = 4 * monte_carlo_sd(4000, 0.95, sd) + sd ** 2
    assert (low, high) == (pytest.approx(r - Z95 * sd, abs=error), pytest.approx(r + Z95 * sd, abs=error))


@pytest.mark.parametrize("aggregation", ["weighted_perplexity", "bits_per_byte"])
def test_document_bootstrap_of_perplexity_matches_the_influence_variance(aggregation):
    """Perplexity pairs documents: the ratio dense/compressed of exp(sum(-loglik) / sum(words))
    (or of bits per byte); the influence-based SD (used for "needs ~N") must match the bootstrap."""
    rng = np.random.default_rng(11)
    n = 1500
    words = rng.integers(100, 1000, n).astype(float)
    dense_ll = -words * rng.normal(3.0, 0.3, n)
    compressed_ll = dense_ll * (1.04 + rng.normal(0, 0.01, n))
    kind = AGGREGATIONS[aggregation]
    args = (-compressed_ll, words, -dense_ll, words)
    low, high, _ = stats.paired_ratio_interval(*args, exponential=kind.exponential, higher_is_better=False,
                                               resamples=4000, seed=2)
    r = float(stats.ratio(*args, exponential=kind.exponential, higher_is_better=False))
    if kind.exponential:
        assert r == pytest.approx(math.exp(compressed_ll.sum() / words.sum() - dense_ll.sum() / words.sum()))
    else:
        assert r == pytest.approx(dense_ll.sum() / compressed_ll.sum())
    sd_log = np.std(stats.log_ratio_influence(*args, exponential=kind.exponential, higher_is_better=False),
                    ddof=1) / math.sqrt(n)
    error = 4 * monte_carlo_sd(4000, 0.95, r * sd_log) + (r * sd_log) ** 2
    assert low == pytest.approx(r * math.exp(-Z95 * sd_log), abs=error)
    assert high == pytest.approx(r * math.exp(Z95 * sd_log), abs=error)


def test_bootstrap_is_seeded_and_degenerate_cases_fall_back():
    compressed, dense = paired_binary(300, 0.4, 0.1, 0.05, seed=5)
    ones = np.ones(300)
    shape = dict(exponential=False, higher_is_better=True, resamples=500)
    first = stats.paired_ratio_interval(compressed, ones, dense, ones, **shape, seed=9)
    assert stats.paired_ratio_interval(compressed, ones, dense, ones, **shape, seed=9) == first
    assert stats.paired_ratio_interval(compressed, ones, dense, ones, **shape, seed=10) != first
    # the same answers on every example: BCa is undefined, the percentile interval is the point
    assert stats.paired_ratio_interval(dense, ones, dense, ones, **shape) == (1.0, 1.0, "percentile")
    assert stats.paired_ratio_interval(dense[:5], ones[:5], dense[:5], ones[:5], **shape) is None  # too few


def test_few_hits_use_the_percentile_interval_not_bca():
    """1 hit against dense's 8 of 40, none shared (the README main job's case): a third of the
    resamples score 0, BCa put the upper bound at 1.63 while McNemar's p is 0.04; the percentile
    interval, used there, stays under 1. A smooth (continuous) case keeps BCa."""
    compressed, dense, ones = np.zeros(40), np.zeros(40), np.ones(40)
    compressed[0] = 1
    dense[[5, 9, 12, 17, 21, 26, 30, 38]] = 1
    shape = dict(exponential=False, higher_is_better=True)
    low, high, method = stats.paired_ratio_interval(compressed, ones, dense, ones, **shape)
    assert method == "percentile" and low == 0.0 and 0.3 < high < 1.0
    assert stats.mcnemar_exact(1, 8) < 0.05
    rng = np.random.default_rng(3)
    smooth = rng.uniform(0.2, 1.0, 200)
    assert stats.paired_ratio_interval(smooth * rng.uniform(0.7, 1.0, 200), ones[:1].repeat(200), smooth,
                                       ones[:1].repeat(200), **shape)[2] == "BCa"


def test_exact_mcnemar_equals_the_hand_computation():
    # b = 7 pairs only the compressed model gets right, c = 2 only dense: two-sided binomial tail
    # 2 * P(X <= 2 | n = 9, p = 1/2) = 2 * (C(9,0) + C(9,1) + C(9,2)) / 2^9 = 2 * 46 / 512
    assert stats.mcnemar_exact(7, 2) == pytest.approx(92 / 512)
    assert stats.mcnemar_exact(2, 7) == pytest.approx(92 / 512)
    assert stats.mcnemar_exact(0, 0) == 1.0
    assert stats.mcnemar_exact(0, 6) == pytest.approx(2 / 64)


def test_wilson_interval_equals_its_formula():
    # (k + z^2/2) / (n + z^2) ± z / (n + z^2) * sqrt(k (n - k) / n + z^2 / 4), k = 8, n = 10
    k, n, z = 8, 10, Z95
    centre, half = (k + z * z / 2) / (n + z * z), z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
    assert stats.wilson_interval(8, 10) == (pytest.approx(centre - half), pytest.approx(centre + half))
    assert stats.wilson_interval(8, 10) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))


def test_fieller_interval():
    # no error in the denominator: (num ± z se_num) / den
    assert stats.fieller_interval(0.27, 0.02, 0.30, 0.0) == (pytest.approx((0.27 - Z95 * 0.02) / 0.30),
                                                             pytest.approx((0.27 + Z95 * 0.02) / 0.30))
    # both endpoints solve (num - theta den)^2 = z^2 (se_num^2 + theta^2 se_den^2)
    low, high = stats.fieller_interval(0.18, 0.017, 0.30, 0.0205)
    for theta in (low, high):
        assert (0.18 - theta * 0.30) ** 2 == pytest.approx(Z95 ** 2 * (0.017 ** 2 + theta ** 2 * 0.0205 ** 2))
    assert low < 0.6 < high
    assert stats.fieller_interval(0.1, 0.05, 0.05, 0.03) is None  # denominator not clearly above 0: unbounded
    # 1/100 against 15/100: the normal interval of the numerator reaches below 0, a ratio cannot
    low, high = stats.fieller_interval(0.01, (0.01 * 0.99 / 100) ** 0.5, 0.15, (0.15 * 0.85 / 100) ** 0.5)
    assert low == 0.0 and 0.2 < high < 0.3


def test_verdict_is_three_way_and_the_line_counts_as_within():
    assert stats.verdict(0.95, 1.02, 0.05) == "within"
    assert stats.verdict(1 - 0.05 - 1e-15, 1.0, 0.05) == "within"  # on the line up to rounding
    assert stats.verdict(0.80, 0.949, 0.05) == "below"
    assert stats.verdict(0.90, 0.99, 0.05) == "undecided"
    assert stats.verdict(None, None, 0.05) == "undecided"


def test_examples_to_decide_by_hand():
    # delta = ln(0.97 / 0.95) = 0.0208340; (z_0.975 + z_0.8) = 1.959964 + 0.841621 = 2.801585
    # n = (2.801585 * 0.5 / 0.0208340)^2 = 4520.7 -> 4521
    assert stats.examples_to_decide(math.log(0.97), 0.5, 0.05) == 4521
    assert stats.examples_to_decide(math.log(0.95), 0.5, 0.05) is None  # on the line: no n decides


def examples(values: np.ndarray) -> Examples:
    keys = tuple(("t", i) for i in range(len(values)))
    hashes = tuple(str(i) for i in range(len(values)))
    return Examples(keys, hashes, hashes, values.astype(float), np.ones(len(values)), AGGREGATIONS["mean"])


def test_a_verdict_moves_from_undecided_to_within_as_examples_grow():
    settings = Settings(tolerance=0.05, resamples=1000, seed=3)
    # 120 questions, dense right on 72; compressed loses 3 of them and gains 1: ratio 70/72 = 0.972
    dense = np.r_[np.ones(72), np.zeros(48)]
    compressed = dense.copy()
    compressed[[0, 1, 2, 100]] = [0, 0, 0, 1]
    ratio = compressed.mean() / dense.mean()
    assert ratio == pytest.approx(70 / 72)
    small = paired(examples(compressed), examples(dense), ratio, True, settings)
    assert small.verdict == "undecided" and small.paired and small.n == 120
    assert small.needs is not None and small.needs > 120
    # the same outcomes repeated keep the effect and its spread: a third of the suggested size is
    # still undecided, the suggested size decides
    third = math.ceil(small.needs / 3 / 120)
    assert paired(examples(np.tile(compressed, third)), examples(np.tile(dense, third)), ratio, True,
                  settings).verdict == "undecided"
    times = math.ceil(small.needs / 120)
    large = paired(examples(np.tile(compressed, times)), examples(np.tile(dense, times)), ratio, True, settings)
    assert large.verdict == "within" and large.needs is None and large.low >= 0.95
    assert large.p_value == pytest.approx(stats.mcnemar_exact(
        int(np.sum((compressed == 1) & (dense == 0))) * times, int(np.sum((compressed == 0) & (dense == 1))) * times))


def test_settings_refuse_bad_values():
    with pytest.raises(ValueError, match="confidence=1.5"):
        Settings(confidence=1.5)
    with pytest.raises(ValueError, match="tolerance=-0.1"):
        Settings(tolerance=-0.1)
    with pytest.raises(ValueError, match="resamples=0"):
        Settings(resamples=0)
