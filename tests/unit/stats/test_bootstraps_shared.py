"""paired_bootstraps: several metrics on one stream of draws give each metric's own bootstrap."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from challenger.errors import StatisticsInputError
from challenger.stats.bootstrap import paired_bootstrap, paired_bootstraps
from challenger.stats.resample import MIN_RESAMPLES


def _binary(n: int = 800, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(float)
    s0 = np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1)
    s1 = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    return y, s0, s1


def _same(a: object, b: object) -> None:
    assert type(a) is type(b)
    if isinstance(a, StatisticsInputError):
        assert str(a) == str(b)
        return
    da, db = a.to_dict(), b.to_dict()  # type: ignore[attr-defined]
    for key in ("delta", "lower", "upper", "se", "champion", "challenger"):
        assert da[key] == pytest.approx(db[key], rel=1e-12, abs=1e-15), key
    assert da["n_resamples"] == db["n_resamples"] and da["method"] == db["method"]
    assert np.allclose(a.distribution, b.distribution, rtol=1e-12, atol=1e-15)  # type: ignore[attr-defined]


@pytest.mark.parametrize("pool", [False, True])
@pytest.mark.parametrize("grouped", [False, True])
def test_each_metric_is_its_own_bootstrap(pool: bool, grouped: bool) -> None:
    y, s0, s1 = _binary()
    groups = np.arange(y.size) // 4 if grouped else None
    # Uneven counts: a shorter request takes a prefix of the shared stream, mid-batch too.
    requests = {"roc_auc": 400, "accuracy": 400, "log_loss": 203, "brier": 250, "f1_macro": 301}
    executor = ThreadPoolExecutor(2) if pool else None
    try:
        many = paired_bootstraps(
            requests, y, s0, s1, seed=5, groups=groups, small_sample_units=30, executor=executor
        )
    finally:
        if executor is not None:
            executor.shutdown()
    assert list(many) == list(requests)
    for metric, n in requests.items():
        alone = paired_bootstrap(
            metric, y, s0, s1, n_resamples=n, seed=5, groups=groups, small_sample_units=30
        )
        _same(many[metric], alone)


def test_multiclass_and_regression_metrics() -> None:
    rng = np.random.default_rng(2)
    n, k = 600, 3
    y = rng.integers(0, k, n).astype(float)
    p0 = rng.dirichlet(np.ones(k), n)
    p1 = 0.7 * p0 + 0.3 * np.eye(k)[y.astype(int)]
    requests = {"roc_auc": 300, "log_loss": 300, "balanced_accuracy": 200}
    many = paired_bootstraps(requests, y, p0, p1, seed=1)
    for m, r in requests.items():
        _same(many[m], paired_bootstrap(m, y, p0, p1, n_resamples=r, seed=1))
    t = rng.normal(size=n)
    f0, f1 = t + rng.normal(size=n), t + 0.8 * rng.normal(size=n)
    requests = {"rmse": 300, "mae": 250, "r2": 200}
    many = paired_bootstraps(requests, t, f0, f1, seed=3)
    for m, r in requests.items():
        _same(many[m], paired_bootstrap(m, t, f0, f1, n_resamples=r, seed=3))


def test_a_metric_that_cannot_be_bootstrapped_is_returned_as_its_error() -> None:
    y, s0, s1 = _binary()
    requests = {"accuracy": 300, "brier": MIN_RESAMPLES - 1, "log_loss": 300, "made_up": 300}
    many = paired_bootstraps(requests, y, s0, s1, seed=0)
    for metric, n in requests.items():
        try:
            alone: object = paired_bootstrap(metric, y, s0, s1, n_resamples=n, seed=0)
        except StatisticsInputError as exc:
            alone = exc
        _same(many[metric], alone)
    assert isinstance(many["brier"], StatisticsInputError)
    assert isinstance(many["made_up"], StatisticsInputError)
    assert not isinstance(many["log_loss"], StatisticsInputError)
