"""Unit tests for challenger.stats, checked against sklearn, scipy and statsmodels."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps
from sklearn import metrics as skm

from challenger import metrics
from challenger.errors import DataError, StatisticsInputError
from challenger.stats import (
    PairedBootstrap,
    auc,
    paired_bootstrap,
    resample,
    rows_needed,
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


def _data_for(metric: str, n: int = 300, seed: int = 0) -> Arrays:
    if metrics.info(metric).family == "classification":
        return _classification(n, seed)
    return _regression(n, seed)


def _auc_statistic(y: np.ndarray, a: np.ndarray, b: np.ndarray, axis: int = -1) -> Any:
    """Vectorised ROC AUC difference by midranks: an independent reference."""

    def auc(score: np.ndarray) -> Any:
        ranks = sps.rankdata(score, axis=-1)
        n_pos = y.sum(axis=-1)
        n_neg = y.shape[-1] - n_pos
        return ((ranks * y).sum(axis=-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)

    return auc(b) - auc(a)


def _accuracy_statistic(y: np.ndarray, a: np.ndarray, b: np.ndarray, axis: int = -1) -> Any:
    return ((b >= 0.5) == (y == 1)).mean(axis=-1) - ((a >= 0.5) == (y == 1)).mean(axis=-1)


def _log_loss_statistic(y: np.ndarray, a: np.ndarray, b: np.ndarray, axis: int = -1) -> Any:
    def loss(p: np.ndarray) -> Any:
        return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=-1)

    return loss(a) - loss(b)  # oriented: champion loss − challenger loss


def _rmse_statistic(y: np.ndarray, a: np.ndarray, b: np.ndarray, axis: int = -1) -> Any:
    return np.sqrt(((y - a) ** 2).mean(axis=-1)) - np.sqrt(((y - b) ** 2).mean(axis=-1))


SCIPY_STATISTICS = {
    "roc_auc": _auc_statistic,
    "accuracy": _accuracy_statistic,
    "log_loss": _log_loss_statistic,
    "rmse": _rmse_statistic,
}


def _scipy_bound(
    data: Arrays, metric: str, alternative: str, n_resamples: int, seed: int, **kw: Any
) -> Any:
    return sps.bootstrap(
        data,
        SCIPY_STATISTICS[metric],
        paired=True,
        vectorized=True,
        method="BCa",
        confidence_level=0.95,
        alternative=alternative,
        n_resamples=n_resamples,
        rng=seed,
        **kw,
    )


@pytest.mark.parametrize("metric", sorted(SCIPY_STATISTICS))
def test_bca_on_the_same_resamples_equals_scipy(metric: str) -> None:
    """Given our bootstrap distribution, scipy (brute-force jackknife, its own z0 and
    quantiles) must produce the same bounds: this isolates the BCa arithmetic and the
    closed-form jackknife from Monte-Carlo error."""
    data = _data_for(metric, n=250, seed=11)
    y, s0, s1 = data
    rng = np.random.default_rng(1)
    if metric == "roc_auc":
        comp = auc.auc_comparison(y, s0, s1, None, y.size, rng, 1000, 100)
    else:
        sign = metrics.sign(metric)
        comp = sums.sum_comparison(metric, y, s0, s1, None, y.size, sign, 0.5, rng, 1000, 100)
    lower, upper, method = resample.bca_bounds(comp.delta, comp.bootstrap, comp.jackknife, 0.05)
    assert method == "BCa"
    previous = SimpleNamespace(bootstrap_distribution=comp.bootstrap)
    ref_low = _scipy_bound(data, metric, "greater", 0, 0, bootstrap_result=previous)
    ref_up = _scipy_bound(data, metric, "less", 0, 0, bootstrap_result=previous)
    assert lower == pytest.approx(ref_low.confidence_interval.low, abs=1e-12)
    assert upper == pytest.approx(ref_up.confidence_interval.high, abs=1e-12)


@pytest.mark.parametrize(("metric", "seed"), [("roc_auc", 0), ("log_loss", 1), ("accuracy", 2)])
def test_bounds_agree_with_independent_scipy_bootstrap(metric: str, seed: int) -> None:
    """Independent resamples: the bounds differ only by Monte-Carlo error.

    With B = 4000 the 5 % quantile of a smooth bootstrap distribution has a Monte-Carlo
    standard deviation of about sqrt(.05·.95/B)/φ(1.645) ≈ 0.033 se, and z0 another
    ≈ 0.04 se, so two independent runs differ by about 0.075 se (measured over 20 seeds:
    0.06–0.10 se; accuracy's lattice of 1/n steps is at the upper end). 0.4 se is ≥ 4 such
    standard deviations; a wrong jackknife, z0 sign or orientation shifts bounds by far more.
    """
    data = _data_for(metric, n=300, seed=seed)
    ours = paired_bootstrap(metric, *data, n_resamples=4000, seed=seed)
    low = _scipy_bound(data, metric, "greater", 4000, 100 + seed)
    up = _scipy_bound(data, metric, "less", 4000, 200 + seed)
    assert ours.method == "BCa"
    assert ours.delta == pytest.approx(float(SCIPY_STATISTICS[metric](*data)), abs=1e-12)
    assert abs(ours.lower - low.confidence_interval.low) < 0.4 * ours.se
    assert abs(ours.upper - up.confidence_interval.high) < 0.4 * ours.se
    assert ours.se == pytest.approx(low.standard_error, rel=0.08)


def test_result_fields_and_json() -> None:
    y, s0, s1 = _classification(300, seed=4)
    result = paired_bootstrap("roc_auc", y, s0, s1, n_resamples=500, seed=1)
    assert isinstance(result, PairedBootstrap)
    assert result.champion == pytest.approx(skm.roc_auc_score(y, s0))
    assert result.challenger == pytest.approx(skm.roc_auc_score(y, s1))
    assert result.delta == pytest.approx(result.challenger - result.champion, abs=1e-15)
    assert result.lower < result.delta < result.upper
    assert (result.n_rows, result.n_resamples, result.n_groups) == (300, 500, None)
    assert len(result.quantiles) == 101 and list(result.quantiles) == sorted(result.quantiles)
    assert json.loads(json.dumps(result.to_dict()))["quantiles"] == list(result.quantiles)
    field = "delta"
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(result, field, 0.0)


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss", "accuracy"])
def test_deterministic_and_independent_of_batch_size(metric: str) -> None:
    data = _classification(300, seed=6)
    first = paired_bootstrap(metric, *data, n_resamples=600, seed=42)
    assert paired_bootstrap(metric, *data, n_resamples=600, seed=42) == first
    other = paired_bootstrap(metric, *data, n_resamples=600, seed=42, batch_size=7)
    assert other.lower == pytest.approx(first.lower, abs=1e-12)
    assert other.upper == pytest.approx(first.upper, abs=1e-12)
    assert paired_bootstrap(metric, *data, n_resamples=600, seed=43).lower != first.lower


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss", "brier", "accuracy", "f1_macro"])
def test_clearly_better_challenger_has_positive_lower_bound(metric: str) -> None:
    y, champion, challenger = _classification(400, seed=8, gain=1.5)
    better = paired_bootstrap(metric, y, champion, challenger, n_resamples=1000)
    assert better.delta > 0 and better.lower > 0
    worse = paired_bootstrap(metric, y, challenger, champion, n_resamples=1000)
    assert worse.delta == pytest.approx(-better.delta) and worse.upper < 0


def test_losses_are_oriented() -> None:
    y, champion, challenger = _regression(300, seed=9)
    result = paired_bootstrap("rmse", y, champion, challenger, n_resamples=500)
    assert result.challenger < result.champion  # natural orientation: lower rmse
    assert result.delta == pytest.approx(result.champion - result.challenger)
    assert result.delta > 0 and not result.higher_is_better


@pytest.mark.parametrize("metric", sorted(metrics.primary_metrics()))
def test_identical_models_give_zero_delta_and_bounds(metric: str) -> None:
    y, score, _ = _data_for(metric, n=200, seed=10)
    result = paired_bootstrap(metric, y, score, score.copy(), n_resamples=300)
    assert result.delta == 0.0 and result.lower == 0.0 and result.upper == 0.0
    assert result.se == 0.0 and result.method == "percentile"
    assert rows_needed(result, 0.0) is None


def test_cluster_bootstrap_resamples_whole_groups() -> None:
    """Nine identical copies of each row, grouped: exactly the row bootstrap of the unique
    rows (same draws, the copies always move together). Ignoring the groups pretends to
    have nine times the data and gives an interval about three times too narrow."""
    y, s0, s1 = _classification(150, seed=12)
    s0 = s0 + np.arange(y.size) * 1e-9  # distinct scores, so the AUC row order is unique
    order = np.lexsort((s0, y))  # negatives then positives, each by champion score
    y, s0, s1 = y[order], s0[order], s1[order]
    copies = 9
    group = np.repeat(np.arange(y.size), copies)
    dup = (np.repeat(y, copies), np.repeat(s0, copies), np.repeat(s1, copies))
    for metric in ("roc_auc", "accuracy", "log_loss"):
        unique = paired_bootstrap(metric, y, s0, s1, n_resamples=400, seed=3, batch_size=50)
        grouped = paired_bootstrap(
            metric, *dup, groups=group, n_resamples=400, seed=3, batch_size=50
        )
        naive = paired_bootstrap(metric, *dup, n_resamples=400, seed=3)
        assert grouped.n_groups == y.size and grouped.n_rows == copies * y.size
        assert grouped.quantiles == pytest.approx(unique.quantiles, abs=1e-12)
        assert (grouped.lower, grouped.upper) == pytest.approx(
            (unique.lower, unique.upper), abs=1e-12
        )
        assert 2.4 < grouped.se / naive.se < 3.6


def test_group_labels_can_be_strings() -> None:
    y, s0, s1 = _classification(200, seed=13)
    groups = np.array([f"user-{i % 40}" for i in range(y.size)])
    result = paired_bootstrap("roc_auc", y, s0, s1, groups=groups, n_resamples=300)
    assert result.n_groups == 40 and np.isfinite([result.lower, result.upper]).all()


def test_resamples_without_a_positive_are_dropped_or_refused() -> None:
    rng = np.random.default_rng(14)
    y = np.zeros(100)
    y[:3] = 1.0
    s0, s1 = rng.random(100), rng.random(100)
    result = paired_bootstrap("roc_auc", y, s0, s1, n_resamples=1000)
    assert 900 <= result.n_resamples < 1000  # (97/100)^100 ≈ 5 % of resamples lack a positive
    y2 = np.zeros(60)
    y2[:2] = 1.0
    with pytest.raises(StatisticsInputError, match="undefined in"):
        paired_bootstrap("roc_auc", y2, s0[:60], s1[:60], n_resamples=1000)


def test_large_holdout_runs_in_batches() -> None:
    y, s0, s1 = _classification(20_000, seed=15)
    result = paired_bootstrap("roc_auc", y, s0, s1, n_resamples=200)
    assert result.lower < result.delta < result.upper


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metric": "f1"}, "Unknown metric"),
        ({"score_challenger": np.full(50, 0.5)}, "same length"),
        ({"score_champion": np.r_[np.nan, np.full(99, 0.5)]}, "NaN or infinite"),
        ({"y_true": np.r_[2.0, np.zeros(99)]}, "only 0 and 1"),
        ({"y_true": np.zeros(100)}, "positive labels"),
        ({"metric": "log_loss", "score_champion": np.full(100, 1.5)}, r"in \[0, 1\]"),
        ({"y_true": np.array(["a"] * 100)}, "numeric"),
        ({"confidence": 0.4}, "confidence"),
        ({"n_resamples": 10}, "n_resamples"),
        ({"groups": np.arange(100) % 5}, "at least 10 groups"),
        ({"groups": np.arange(50)}, "one entry per row"),
    ],
)
def test_invalid_inputs_raise_clear_errors(kwargs: dict[str, Any], match: str) -> None:
    y, s0, s1 = _classification(100, seed=16)
    args: dict[str, Any] = {
        "metric": "roc_auc",
        "y_true": y,
        "score_champion": s0,
        "score_challenger": s1,
    }
    args.update(kwargs)
    with pytest.raises(StatisticsInputError, match=match) as info:
        paired_bootstrap(**args)
    assert isinstance(info.value, ValueError) and isinstance(info.value, DataError)


def test_too_few_rows() -> None:
    with pytest.raises(ValueError, match="at least 10 rows"):
        paired_bootstrap("accuracy", np.ones(5), np.ones(5), np.ones(5))


def test_bca_falls_back_to_percentile_when_degenerate() -> None:
    boot = np.linspace(-1.0, 1.0, 201)
    jack = np.linspace(-0.1, 0.1, 50)
    assert resample.bca_bounds(0.0, boot, jack, 0.05)[2] == "BCa"
    # Observed Δ outside the bootstrap distribution: z0 would be infinite.
    lower, upper, method = resample.bca_bounds(5.0, boot, jack, 0.05)
    assert method == "percentile"
    assert (lower, upper) == pytest.approx((np.percentile(boot, 5), np.percentile(boot, 95)))
    # Constant jackknife: the acceleration is 0/0.
    assert resample.bca_bounds(0.0, boot, np.zeros(50), 0.05)[2] == "percentile"
    assert resample.bca_bounds(0.0, boot, np.r_[np.nan, jack], 0.05)[2] == "percentile"
