"""The small-holdout method (challenger.stats.small) against brute-force oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from challenger.stats import paired_bootstrap, studentized_bounds
from challenger.stats.small import METHOD, jackknife_se, t_p_value


def _probabilities(n: int, seed: int, gain: float = 0.0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    shared = rng.normal(0, 1, n)
    a = 1 / (1 + np.exp(-(1.2 * (2 * y - 1) + shared + rng.normal(0, 0.7, n))))
    b = 1 / (1 + np.exp(-((1.2 + gain) * (2 * y - 1) + shared + rng.normal(0, 0.7, n))))
    return y, a, b


@pytest.mark.parametrize("metric", ["log_loss", "brier", "accuracy", "mse", "mae"])
def test_row_mean_metrics_get_exactly_the_paired_t_test(metric: str) -> None:
    """For a mean of per-row values the jackknife SE is s_d/√n: scipy's ttest_rel is the oracle."""
    y, a, b = _probabilities(40, seed=3, gain=0.4)
    if metric in ("mse", "mae"):
        y = y * 3.0 + np.random.default_rng(4).normal(size=y.size)
    r = paired_bootstrap(metric, y, a, b, n_resamples=200, small_sample_units=500)
    assert r.method == METHOD and r.df == 39
    loss = {
        "log_loss": lambda p: -(y * np.log(p) + (1 - y) * np.log(1 - p)),
        "brier": lambda p: (y - p) ** 2,
        "accuracy": lambda p: -((p >= 0.5) == (y == 1)).astype(float),  # a negated score
        "mse": lambda p: (y - p) ** 2,
        "mae": lambda p: np.abs(y - p),
    }[metric]
    oracle = sps.ttest_rel(loss(a), loss(b), alternative="greater")  # champion loses more
    ci = oracle.confidence_interval(0.95)
    assert r.lower == pytest.approx(ci.low, rel=1e-9, abs=1e-12)
    assert r.p_value(0.0) == pytest.approx(oracle.pvalue, rel=1e-9)
    upper = sps.ttest_rel(loss(a), loss(b), alternative="less").confidence_interval(0.95).high
    assert r.upper == pytest.approx(upper, rel=1e-9, abs=1e-12)


def test_auc_jackknife_is_the_brute_force_leave_one_out() -> None:
    """ROC AUC is no row mean: its leave-one-out values come from placements; recompute them."""
    y, a, b = _probabilities(24, seed=5, gain=0.3)
    r = paired_bootstrap("roc_auc", y, a, b, n_resamples=200, small_sample_units=500)
    keep = ~np.eye(y.size, dtype=bool)
    loo = np.array(
        [roc_auc_score(y[m], b[m]) - roc_auc_score(y[m], a[m]) for m in keep], dtype=float
    )
    n = y.size
    oracle_se = math.sqrt((n - 1) / n * float(((loo - loo.mean()) ** 2).sum()))
    assert r.se_jackknife == pytest.approx(oracle_se, rel=1e-9)
    q = sps.t.ppf(0.95, n - 1)
    assert r.lower == pytest.approx(r.delta - q * oracle_se, rel=1e-9)


def _exact_false_promotion_rate(n: int, discordance: float) -> float:
    """Exact size of the studentized lower bound for per-row correctness differences.

    Under the null each row is +1 (only the challenger right), −1 (only the champion right)
    with probability discordance/2 each, else 0. The bound depends only on the counts
    (k₊, k₋, k₀); enumerating every count vector and summing its multinomial probability
    where the library's bound clears 0 gives the rate without any Monte-Carlo error.
    """
    q = sps.t.ppf(0.95, n - 1)
    rejected = []
    for k_plus in range(n + 1):
        for k_minus in range(n - k_plus + 1):
            total = k_plus - k_minus
            d_values = np.repeat([1.0, -1.0, 0.0], [k_plus, k_minus, n - k_plus - k_minus])
            jack = (total - d_values) / (n - 1)  # leave-one-out means, in closed form
            se = jackknife_se(jack)  # the library's; its t quantile is computed once above
            assert se is not None
            if total / n - q * se > 0.0:
                rejected.append((k_plus, k_minus))
                if len(rejected) == 1:  # the same verdict as the library's bound
                    assert studentized_bounds(total / n, jack, 0.05, 0.0).lower > 0.0
    if not rejected:
        return 0.0
    counts = np.array([(p, m, n - p - m) for p, m in rejected])
    half = discordance / 2
    return float(np.exp(sps.multinomial.logpmf(counts, n, [half, half, 1 - discordance])).sum())


@pytest.mark.parametrize("n", [30, 60])
def test_exact_size_by_enumeration_stays_at_the_nominal_level(n: int) -> None:
    rates = [_exact_false_promotion_rate(n, q) for q in (0.05, 0.2, 0.5, 1.0)]
    assert max(rates) <= 0.053, rates
    assert max(rates) >= 0.03, rates  # and it is not uselessly conservative


def test_p_value_and_bounds_agree_for_both_methods() -> None:
    y, a, b = _probabilities(300, seed=8, gain=0.3)
    for units in (0, 500):
        r = paired_bootstrap("roc_auc", y, a, b, n_resamples=2000, small_sample_units=units)
        assert r.method == ("BCa" if units == 0 else METHOD)
        # The p-value at a threshold equal to a bound is the bound's level.
        assert r.p_value(r.lower) == pytest.approx(0.05, abs=0.004)
        assert r.p_value(r.upper, "less") == pytest.approx(0.05, abs=0.004)
        assert r.p_value(r.lower - 0.01) < 0.05 < r.p_value(r.lower + 0.01)


def test_identical_models_have_no_spread_and_decide_nothing() -> None:
    y, a, _ = _probabilities(50, seed=9)
    for units in (0, 500):
        r = paired_bootstrap("log_loss", y, a, a.copy(), n_resamples=200, small_sample_units=units)
        assert (r.delta, r.lower, r.upper) == (0.0, 0.0, 0.0)
        assert r.p_value(0.0) == 1.0 and r.p_value(0.0, "less") == 1.0
        assert r.p_value(-0.01) == 0.0 and r.p_value(-0.01, "less") == 1.0


def test_undefined_leave_one_out_values_fall_back_to_the_bootstrap_se() -> None:
    jack = np.array([0.1, np.nan, 0.2, 0.15])
    assert jackknife_se(jack) is None
    bound = studentized_bounds(0.1, jack, 0.05, fallback_se=0.03)
    assert bound.se == pytest.approx(0.03 * math.sqrt(4 / 3))
    assert t_p_value(0.1, 0.0, 0.0, 3) == 0.0 and t_p_value(0.0, 0.0, 0.0, 3) == 1.0
