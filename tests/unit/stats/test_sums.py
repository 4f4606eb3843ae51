"""Unit tests for challenger.stats.sums, checked against sklearn, scipy and statsmodels."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sklearn import metrics as skm

from challenger import metrics
from challenger.stats import (
    metric_value,
    sums,
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


def _regression(n: int, seed: int) -> Arrays:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 3.0 + 2.0 * x + rng.normal(size=n)
    return y, 3.0 + 1.6 * x + 0.3 * rng.normal(size=n), 3.0 + 1.9 * x + 0.3 * rng.normal(size=n)


SKLEARN: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "roc_auc": skm.roc_auc_score,
    "accuracy": lambda y, s: skm.accuracy_score(y, (s >= 0.5).astype(float)),
    "balanced_accuracy": lambda y, s: skm.balanced_accuracy_score(y, (s >= 0.5).astype(float)),
    "f1_macro": lambda y, s: skm.f1_score(
        y, (s >= 0.5).astype(float), average="macro", labels=[0.0, 1.0], zero_division=0
    ),
    "log_loss": skm.log_loss,
    "brier": skm.brier_score_loss,
    "mse": skm.mean_squared_error,
    "mape": skm.mean_absolute_percentage_error,
    "rmse": skm.root_mean_squared_error,
    "mae": skm.mean_absolute_error,
    "r2": skm.r2_score,
}


def _data_for(metric: str, n: int = 300, seed: int = 0) -> Arrays:
    if metrics.info(metric).family == "classification":
        return _classification(n, seed)
    return _regression(n, seed)


def _leave_out(units: np.ndarray) -> list[np.ndarray]:
    return [units != u for u in np.unique(units)]


def test_every_metric_has_a_sklearn_reference() -> None:
    assert set(metrics.primary_metrics()) == set(SKLEARN)
    assert {"roc_auc", "accuracy", "log_loss", "brier", "rmse", "mae"} <= set(
        metrics.primary_metrics()
    )
    assert (
        not metrics.info("log_loss").higher_is_better and metrics.info("roc_auc").higher_is_better
    )


@pytest.mark.parametrize("metric", sorted(metrics.primary_metrics()))
def test_metric_value_equals_sklearn(metric: str) -> None:
    y, champion, challenger = _data_for(metric, n=400, seed=3)
    for score in (champion, challenger):
        assert metric_value(metric, y, score) == pytest.approx(
            SKLEARN[metric](y, score), rel=1e-12, abs=1e-15
        )


def test_log_loss_clips_certain_wrong_predictions_like_sklearn() -> None:
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    p = np.array([1.0, 0.0, 1.0, 0.0, 0.5])
    assert metric_value("log_loss", y, p) == pytest.approx(skm.log_loss(y, p), rel=1e-12)


def test_accuracy_threshold() -> None:
    y = np.array([0.0, 1.0, 1.0, 0.0])
    s = np.array([0.2, 0.35, 0.9, 0.4])  # predictions at 0.5: 0 0 1 0; at 0.3: 0 1 1 1
    assert metric_value("accuracy", y, s) == 0.75
    assert metric_value("accuracy", y, s, threshold=0.3) == 0.75
    assert metric_value("accuracy", y, s, threshold=0.38) == 0.5  # 0 0 1 1
    assert metric_value("balanced_accuracy", y, s, threshold=0.3) == 0.75


@pytest.mark.parametrize("metric", ["r2", "rmse", "balanced_accuracy", "log_loss", "f1_macro"])
@pytest.mark.parametrize("grouped", [False, True])
def test_sum_metric_jackknife_equals_recomputing(metric: str, grouped: bool) -> None:
    y, s0, s1 = _data_for(metric, n=90, seed=2)
    rng = np.random.default_rng(2)
    units = rng.integers(0, 13, size=y.size) if grouped else np.arange(y.size)
    codes = np.unique(units, return_inverse=True)[1] if grouped else None
    n_units = int(np.unique(units).size)
    sign = metrics.sign(metric)
    result = sums.sum_comparison(
        metric, y, s0, s1, codes, n_units, sign, 0.5, np.random.default_rng(0), 10, 10
    )
    slow = [
        sign * (SKLEARN[metric](y[k], s1[k]) - SKLEARN[metric](y[k], s0[k]))
        for k in _leave_out(units)
    ]
    np.testing.assert_allclose(result.jackknife, slow, rtol=1e-10, atol=1e-13)
