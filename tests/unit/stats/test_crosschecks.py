"""Unit tests for challenger.stats.crosschecks, checked against sklearn, scipy and statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from sklearn import metrics as skm
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from challenger.errors import StatisticsInputError
from challenger.stats import (
    delong_test,
    mcnemar_midp,
)
from challenger.stats.crosschecks import McNemarResult

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


def _delong_reference(y: np.ndarray, s0: np.ndarray, s1: np.ndarray) -> tuple[float, float]:
    """O(n1·n0) DeLong (1988): placement values from all pairs, then the covariance."""
    v10, v01 = [], []
    for s in (s0, s1):
        pos, neg = s[y == 1][:, None], s[y == 0][None, :]
        kernel = (pos > neg) + 0.5 * (pos == neg)
        v10.append(kernel.mean(axis=1))
        v01.append(kernel.mean(axis=0))
    n1, n0 = len(v10[0]), len(v01[0])
    s10, s01 = np.cov(v10), np.cov(v01)
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / n1 + (
        s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]
    ) / n0
    return float(v10[1].mean() - v10[0].mean()), math.sqrt(var)


def test_mcnemar_midp_hand_computed() -> None:
    # b = 1, c = 5: P(X ≤ 1) = 7/64, P(X = 1) = 6/64, mid-p = 2·7/64 − 6/64 = 1/8.
    champ = np.array([True] * 1 + [False] * 5 + [True] * 10 + [False] * 4)
    chal = np.array([False] * 1 + [True] * 5 + [True] * 10 + [False] * 4)
    result = mcnemar_midp(champ, chal)
    assert (result.b, result.c) == (1, 5)
    assert result.p_value == pytest.approx(0.125, abs=1e-15)


@pytest.mark.parametrize(("b", "c"), [(3, 11), (20, 9), (40, 62), (0, 4)])
def test_mcnemar_midp_is_exact_p_minus_point_probability(b: int, c: int) -> None:
    champ = np.r_[np.ones(b), np.zeros(c), np.ones(7)].astype(bool)
    chal = np.r_[np.zeros(b), np.ones(c), np.ones(7)].astype(bool)
    exact = sm_mcnemar([[7, b], [c, 0]], exact=True).pvalue
    point = sps.binom.pmf(min(b, c), b + c, 0.5)
    result = mcnemar_midp(champ, chal)
    assert result.p_value == pytest.approx(exact - point, rel=1e-12)
    assert result.p_value < exact


def test_mcnemar_without_disagreement_or_balanced() -> None:
    same = np.array([True, False, True])
    assert mcnemar_midp(same, same) == McNemarResult(0, 0, 1.0)
    assert mcnemar_midp(np.array([True, False]), np.array([False, True])).p_value == 1.0
    with pytest.raises(StatisticsInputError, match="same length"):
        mcnemar_midp(same, same[:2])


def test_delong_matches_pairwise_reference_and_sklearn() -> None:
    y, s0, s1 = _classification(300, seed=17)
    result = delong_test(y, s0, s1)
    delta, se = _delong_reference(y, s0, s1)
    assert result.auc_champion == pytest.approx(skm.roc_auc_score(y, s0), abs=1e-14)
    assert result.auc_challenger == pytest.approx(skm.roc_auc_score(y, s1), abs=1e-14)
    assert result.delta == pytest.approx(delta, abs=1e-14)
    assert result.se == pytest.approx(se, rel=1e-10)
    assert result.z == pytest.approx(delta / se, rel=1e-10)
    assert result.p_value == pytest.approx(2 * sps.norm.sf(abs(delta / se)), rel=1e-10)


def test_delong_identical_models_and_validation() -> None:
    y, s0, _ = _classification(100, seed=18)
    same = delong_test(y, s0, s0)
    assert (same.delta, same.z, same.p_value) == (0.0, 0.0, 1.0)
    with pytest.raises(StatisticsInputError, match="negative labels"):
        delong_test(np.r_[np.ones(99), 0.0], s0, s0)


def test_corrected_resampled_ttest_is_wider_than_the_naive_one() -> None:
    from scipy.stats import ttest_rel

    from challenger.stats import corrected_resampled_ttest

    a = np.array([0.80, 0.82, 0.79, 0.81, 0.80])
    b = a + np.array([0.010, 0.004, 0.012, 0.006, 0.008])
    res = corrected_resampled_ttest(a, b, n_train=800, n_test=200)
    naive = ttest_rel(b, a)
    assert res.mean_difference == pytest.approx(0.008)
    assert res.df == 4
    # Same statistic as the naive paired t-test when the correction term vanishes...
    d = b - a
    expected_t = d.mean() / np.sqrt((1 / 5 + 200 / 800) * d.var(ddof=1))
    assert res.t == pytest.approx(expected_t)
    # ...and more conservative than it, as Nadeau & Bengio intend.
    assert res.p_value > naive.pvalue
    with pytest.raises(ValueError, match="at least 2 folds"):
        corrected_resampled_ttest([0.8], [0.9], 10, 10)
