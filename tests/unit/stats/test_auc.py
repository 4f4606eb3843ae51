"""Unit tests for challenger.stats.auc, checked against sklearn, scipy and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from challenger.stats import (
    auc,
)

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


def _leave_out(units: np.ndarray) -> list[np.ndarray]:
    return [units != u for u in np.unique(units)]


def test_weighted_auc_per_resample_equals_sklearn_sample_weight() -> None:
    """The cumulative-sum statistic is sklearn's weighted AUC, ties included, either class
    being the larger one (the implementation swaps roles when positives outnumber)."""
    rng = np.random.default_rng(7)
    for rate in (0.3, 0.7):
        y = (rng.random(250) < rate).astype(float)
        s0 = np.round(rng.random(250) + 0.3 * y, 1)  # heavy ties
        s1 = rng.random(250) + 0.5 * y  # no ties: the single-gather path
        layout = auc._auc_layout(y, s0, s1)
        assert layout.le0 is not None and layout.le1 is None
        weights = rng.integers(0, 4, size=(6, y.size))
        auc0, auc1 = auc._auc_batch(layout, weights.astype(np.int32))
        rows = layout.order
        for k, w in enumerate(weights):
            assert auc0[k] == pytest.approx(skm.roc_auc_score(y[rows], s0[rows], sample_weight=w))
            assert auc1[k] == pytest.approx(skm.roc_auc_score(y[rows], s1[rows], sample_weight=w))


@pytest.mark.parametrize("grouped", [False, True])
def test_auc_jackknife_equals_recomputing_without_each_unit(grouped: bool) -> None:
    y, champion, _ = _classification(120, seed=5)
    rng = np.random.default_rng(5)
    units = rng.integers(0, 17, size=y.size) if grouped else np.arange(y.size)
    codes = np.unique(units, return_inverse=True)[1] if grouped else None
    fast = auc._auc_jackknife(y, champion, codes)
    slow = [skm.roc_auc_score(y[keep], champion[keep]) for keep in _leave_out(units)]
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-14)
