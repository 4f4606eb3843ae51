"""Unit tests for challenger.stats.power: a real power calculation, checked by brute force."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.power import TTestPower

from challenger.stats import PairedBootstrap, paired_bootstrap, rows_needed, units_for_power

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]


def _classification(n: int, seed: int, *, gain: float = 0.2, rate: float = 0.4) -> Arrays:
    """Labels and two correlated probability scores; the champion's are rounded (ties)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(float)
    signal, shared = 2.0 * y - 1.0, rng.normal(size=n)
    champion = 1.0 / (1.0 + np.exp(-(signal + 0.7 * shared + 0.7 * rng.normal(size=n))))
    challenger = 1.0 / (
        1.0 + np.exp(-((1.0 + gain) * signal + 0.7 * shared + 0.7 * rng.normal(size=n)))
    )
    return y, np.round(champion, 2), challenger


def _result(delta: float, se: float, n_rows: int = 1000) -> PairedBootstrap:
    return PairedBootstrap(
        "roc_auc", True, 0.8, 0.8 + delta, delta, delta - 1.645 * se, delta + 1.645 * se,
        0.95, se, n_rows, 2000, "BCa", tuple(float(q) for q in range(101)),
    )  # fmt: skip


def test_rows_needed_is_statsmodels_power_of_the_paired_effect() -> None:
    result = _result(delta=0.01, se=0.01)
    effect = 0.01 / (0.01 * math.sqrt(1000))
    oracle = TTestPower().solve_power(
        effect_size=effect, alpha=0.05, power=0.8, alternative="larger"
    )
    assert rows_needed(result, 0.0) == math.ceil(oracle)
    # Close to the normal approximation n · ((z_α + z_β) se / gap)², never the bound's z alone.
    z = sps.norm.ppf(0.95) + sps.norm.ppf(0.8)
    assert rows_needed(result, 0.0) == pytest.approx(1000 * z**2, rel=0.01)
    stronger = rows_needed(result, 0.0, power=0.9)
    assert stronger is not None and stronger > math.ceil(oracle)
    # The distance to the threshold is what must be detected.
    assert rows_needed(result, 0.005) == pytest.approx(4 * 1000 * z**2, rel=0.01)
    assert rows_needed(result, 0.02, bound="upper") == math.ceil(oracle)


def test_rows_needed_is_always_more_than_the_holdout_and_none_when_nothing_would_decide() -> None:
    # BCa can straddle a threshold that a symmetric test would clear: still more rows.
    assert rows_needed(_result(delta=0.05, se=0.01), 0.0) == 1001
    assert rows_needed(_result(delta=0.01, se=0.01), 0.01) is None  # on the threshold
    assert rows_needed(_result(delta=0.01, se=0.01), 0.02) is None  # wrong side
    assert rows_needed(_result(delta=0.01, se=0.0), 0.0) is None  # no spread


def test_groups_are_converted_to_rows_at_their_average_size() -> None:
    grouped = dataclasses.replace(_result(delta=0.01, se=0.01, n_rows=4000), n_groups=1000)
    rows = rows_needed(grouped, 0.0)
    assert rows is not None and rows == pytest.approx(
        4 * rows_needed(_result(0.01, 0.01), 0.0), rel=0.001
    )


def test_the_recommended_size_has_the_stated_power() -> None:
    """Brute force: draw paired differences of the observed effect at the recommended size
    and count how often a one-sided t-test at α = 5 % rejects."""
    sd, gap = 1.0, 0.2
    n = units_for_power(gap / sd, 0.05, 0.8)
    size = math.ceil(n)
    rng = np.random.default_rng(0)
    d = rng.normal(gap, sd, size=(4000, size))
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(size))
    power = float(np.mean(t > sps.t.ppf(0.95, size - 1)))
    assert power == pytest.approx(0.8, abs=0.025)


def test_tiny_effects_fall_back_to_the_normal_approximation() -> None:
    z = sps.norm.ppf(0.95) + sps.norm.ppf(0.8)
    assert units_for_power(1e-5, 0.05, 0.8) == pytest.approx((z / 1e-5) ** 2)


def test_rows_needed_matches_a_larger_holdout() -> None:
    """Taking the estimate at its word: a holdout that big does clear the threshold."""
    y, s0, s1 = _classification(300, seed=19, gain=0.5)
    small = paired_bootstrap("roc_auc", y, s0, s1, n_resamples=500)
    assert small.delta > 0
    needed = rows_needed(small, 0.0)
    assert needed is not None and needed > 300
    big = paired_bootstrap("roc_auc", *_classification(needed, seed=20, gain=0.5))
    assert big.lower > 0.0
