"""Metrics that are functions of sums of per-row features (all but ROC AUC), and the value of any metric.

Features are stored as (k, n) arrays so that row sums are numpy's pairwise sums (as in sklearn);
a bootstrap resample is then one matrix product of its row weights with the features."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike

from challenger.errors import StatisticsInputError
from challenger.stats.inputs import (
    FloatArray,
    IntArray,
    paired_metric,
    prepare,
    validate_classes,
)
from challenger.stats.resample import Comparison, count_batches


def _correct(y: FloatArray, score: FloatArray, threshold: float) -> FloatArray:
    return np.asarray((score >= threshold) == (y == 1.0), dtype=np.float64)


def _features_accuracy(y: FloatArray, score: FloatArray, threshold: float) -> FloatArray:
    return np.stack([np.ones_like(y), _correct(y, score, threshold)])


def _features_balanced(y: FloatArray, score: FloatArray, threshold: float) -> FloatArray:
    correct = _correct(y, score, threshold)
    return np.stack([y, 1.0 - y, correct * y, correct * (1.0 - y)])


def _features_log_loss(y: FloatArray, score: FloatArray, threshold: float) -> FloatArray:
    # Same clipping as sklearn.metrics.log_loss: each class probability to [eps, 1 - eps].
    eps = float(np.finfo(np.float64).eps)
    p1 = np.clip(score, eps, 1.0 - eps)
    p0 = np.clip(1.0 - score, eps, 1.0 - eps)
    loss = -np.where(y == 1.0, np.log(p1), np.log(p0))
    return np.stack([np.ones_like(y), loss])


def _features_squared(y: FloatArray, score: FloatArray, threshold: float) -> FloatArray:
    return np.stack([np.ones_like(y), (y - score) ** 2])


def _features_absolute(y: FloatArray, score: FloatArray, threshold: float) -> FloatArray:
    return np.stack([np.ones_like(y), np.abs(y - score)])


def _features_ape(y: FloatArray, score: FloatArray, threshold: float) -> FloatArray:
    return np.stack([np.ones_like(y), np.abs((y - score) / y)])


def _features_r2(y: FloatArray, score: FloatArray, threshold: float) -> FloatArray:
    # Centring y leaves SST unchanged and avoids cancellation in Σy² − (Σy)²/n.
    centred = y - y.mean()
    return np.stack([np.ones_like(y), centred, centred**2, (y - score) ** 2])


def _onehot(codes: IntArray, n_classes: int) -> FloatArray:
    """(n_classes, n) indicator of each row's class."""
    return np.asarray(
        np.arange(n_classes, dtype=np.int64)[:, None] == codes[None, :], dtype=np.float64
    )


def _features_f1(truth: IntArray, predicted: IntArray, n_classes: int) -> FloatArray:
    """Per-class [tp (k rows), fp (k rows), fn (k rows)] indicators, shape (3k, n)."""
    actual, guessed = _onehot(truth, n_classes), _onehot(predicted, n_classes)
    hit = actual * guessed
    return np.concatenate([hit, guessed - hit, actual - hit])


def _features_f1_binary(y: FloatArray, score: FloatArray, threshold: float) -> FloatArray:
    predicted = np.asarray(score >= threshold, dtype=np.int64)
    return _features_f1(y.astype(np.int64), predicted, 2)


def _features_accuracy_multi(y: FloatArray, proba: FloatArray, threshold: float) -> FloatArray:
    correct = np.asarray(np.argmax(proba, axis=1) == y.astype(np.int64), dtype=np.float64)
    return np.stack([np.ones_like(y), correct])


def _features_balanced_multi(y: FloatArray, proba: FloatArray, threshold: float) -> FloatArray:
    """[rows of class c (k rows), correct rows of class c (k rows)], shape (2k, n)."""
    truth = y.astype(np.int64)
    actual = _onehot(truth, proba.shape[1])
    correct = np.asarray(np.argmax(proba, axis=1) == truth, dtype=np.float64)
    return np.concatenate([actual, actual * correct])


def _features_f1_multi(y: FloatArray, proba: FloatArray, threshold: float) -> FloatArray:
    return _features_f1(y.astype(np.int64), np.argmax(proba, axis=1), proba.shape[1])


def _features_log_loss_multi(y: FloatArray, proba: FloatArray, threshold: float) -> FloatArray:
    # As sklearn.metrics.log_loss (checked against 1.9): every probability is clipped to
    # [eps, 1 - eps], rows are not renormalised, and a row's loss is −log of its clipped
    # true-class probability.
    eps = float(np.finfo(np.float64).eps)
    chosen = np.take_along_axis(proba, y.astype(np.int64)[:, None], axis=1)[:, 0]
    loss = -np.log(np.clip(chosen, eps, 1.0 - eps))
    return np.stack([np.ones_like(y), loss])


def _features_brier_multi(y: FloatArray, proba: FloatArray, threshold: float) -> FloatArray:
    onehot = _onehot(y.astype(np.int64), proba.shape[1]).T
    return np.stack([np.ones_like(y), ((onehot - proba) ** 2).sum(axis=1)])


def _value_mean(sums: FloatArray) -> FloatArray:
    return np.asarray(sums[..., 1] / sums[..., 0], dtype=np.float64)


def _value_rmse(sums: FloatArray) -> FloatArray:
    return np.asarray(np.sqrt(sums[..., 1] / sums[..., 0]), dtype=np.float64)


def _value_balanced(sums: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (sums[..., 2] / sums[..., 0] + sums[..., 3] / sums[..., 1]))


def _value_balanced_multi(sums: FloatArray) -> FloatArray:
    """Mean over classes of correct_c / rows_c (NaN when a class has no row)."""
    k = sums.shape[-1] // 2
    return np.asarray(np.mean(sums[..., k:] / sums[..., :k], axis=-1), dtype=np.float64)


def _value_f1_macro(sums: FloatArray) -> FloatArray:
    """Mean over classes of 2tp / (2tp + fp + fn); a class neither present nor predicted
    scores 0 (``f1_score(..., labels=range(k), zero_division=0)``)."""
    k = sums.shape[-1] // 3
    tp, fp, fn = sums[..., :k], sums[..., k : 2 * k], sums[..., 2 * k :]
    denominator = 2.0 * tp + fp + fn
    safe = np.where(denominator > 0.0, denominator, 1.0)
    f1 = np.where(denominator > 0.0, 2.0 * tp / safe, 0.0)
    return np.asarray(np.mean(f1, axis=-1), dtype=np.float64)


def _value_r2(sums: FloatArray) -> FloatArray:
    total = sums[..., 2] - sums[..., 1] ** 2 / sums[..., 0]
    return np.asarray(1.0 - sums[..., 3] / total, dtype=np.float64)


@dataclass(frozen=True)
class _SumMetric:
    features: Callable[[FloatArray, FloatArray, float], FloatArray]
    value: Callable[[FloatArray], FloatArray]


_SUM_METRICS: Final[dict[str, _SumMetric]] = {
    "accuracy": _SumMetric(_features_accuracy, _value_mean),
    "balanced_accuracy": _SumMetric(_features_balanced, _value_balanced),
    "log_loss": _SumMetric(_features_log_loss, _value_mean),
    "brier": _SumMetric(_features_squared, _value_mean),
    "mse": _SumMetric(_features_squared, _value_mean),
    "rmse": _SumMetric(_features_squared, _value_rmse),
    "mae": _SumMetric(_features_absolute, _value_mean),
    "r2": _SumMetric(_features_r2, _value_r2),
    "mape": _SumMetric(_features_ape, _value_mean),
    "f1_macro": _SumMetric(_features_f1_binary, _value_f1_macro),
}


#: Multiclass forms: scores are (n, k) probability matrices, ``y`` class codes 0..k−1.
_MULTICLASS_SUM_METRICS: Final[dict[str, _SumMetric]] = {
    "accuracy": _SumMetric(_features_accuracy_multi, _value_mean),
    "balanced_accuracy": _SumMetric(_features_balanced_multi, _value_balanced_multi),
    "log_loss": _SumMetric(_features_log_loss_multi, _value_mean),
    "brier": _SumMetric(_features_brier_multi, _value_mean),
    "f1_macro": _SumMetric(_features_f1_multi, _value_f1_macro),
}


def _sum_metric(metric: str, multiclass: bool) -> _SumMetric:
    return (_MULTICLASS_SUM_METRICS if multiclass else _SUM_METRICS)[metric]


def _auc_counts(y: FloatArray, score: FloatArray) -> tuple[int, int, int]:
    """Return (2·U, n_pos, n_neg), U the Mann–Whitney count with ties counting half."""
    negatives = np.sort(score[y == 0.0])
    positives = score[y == 1.0]
    below = np.searchsorted(negatives, positives, side="left")
    below_or_tied = np.searchsorted(negatives, positives, side="right")
    twice_u = int(below.sum(dtype=np.int64) + below_or_tied.sum(dtype=np.int64))
    return twice_u, int(positives.size), int(negatives.size)


def metric_value(metric: str, y_true: ArrayLike, score: ArrayLike, threshold: float = 0.5) -> float:
    """Compute a metric in its natural orientation on one model's holdout predictions.

    Args:
        metric: A primary metric of the catalogue (:func:`challenger.metrics.primary_metrics`).
        y_true: Labels (0/1 for binary, class codes 0..k−1 for multiclass) or targets
            (regression).
        score: Probability of class 1 (binary), an (n, k) matrix of class probabilities
            with columns in code order (multiclass; an (n, 2) matrix is reduced to its
            column 1), or the prediction (regression).
        threshold: Binary accuracy, balanced accuracy and macro F1 predict class 1 where
            ``score >= threshold``; multiclass predictions are the argmax of each row.

    Returns:
        The same value as the corresponding ``sklearn.metrics`` function (``roc_auc_score``,
        ``accuracy_score``, ``balanced_accuracy_score``, ``log_loss``,
        ``brier_score_loss``, ``f1_score(average="macro", labels=range(k),
        zero_division=0)``, ``mean_squared_error``, ``root_mean_squared_error``,
        ``mean_absolute_error``, ``r2_score``, ``mean_absolute_percentage_error``) up to
        floating-point rounding. Multiclass: ROC AUC is ``roc_auc_score(y, P,
        multi_class="ovr", average="macro")``, log loss ``log_loss(y, P, labels=range(k))``
        and Brier the multiclass form mean_i Σ_c (1[y_i = c] − P_ic)² (binary Brier stays
        the positive-class form mean_i (y_i − p_i)², half the multiclass form of [1 − p, p]).

    Raises:
        StatisticsInputError: Unknown metric, mismatched lengths or class counts, non-finite
            values, labels other than 0/1 (binary) or codes outside 0..k−1 (multiclass),
            probabilities outside [0, 1] or rows not summing to 1, a missing class (ROC AUC,
            balanced accuracy) or a constant target (R²).
    """
    paired_metric(metric)
    y, s, _ = prepare(metric, y_true, score, score, names=("score", "score"))
    if y.size == 0:
        raise StatisticsInputError("`y_true` is empty; score the models on at least one row.")
    multiclass = s.ndim == 2
    validate_classes(metric, y, None, 1, s.shape[1] if multiclass else None)
    if metric == "roc_auc":
        if multiclass:
            aucs = []
            for label in range(s.shape[1]):
                twice_u, n_pos, n_neg = _auc_counts((y == label).astype(np.float64), s[:, label])
                aucs.append(twice_u / (2.0 * n_pos * n_neg))
            return float(np.mean(aucs))
        twice_u, n_pos, n_neg = _auc_counts(y, s)
        return twice_u / (2.0 * n_pos * n_neg)
    if metric == "r2" and np.ptp(y) == 0.0:
        raise StatisticsInputError("r2 is undefined for a constant `y_true`; use mse or mae.")
    spec = _sum_metric(metric, multiclass)
    sums = spec.features(y, s, threshold).sum(axis=1)
    return float(spec.value(sums))


@dataclass(frozen=True)
class SumRequest:
    """One sum metric to bootstrap: its prepared arrays, orientation and resample count."""

    metric: str
    y: FloatArray
    s0: FloatArray
    s1: FloatArray
    sign: float
    threshold: float
    n_resamples: int


def sum_comparison(
    metric: str,
    y: FloatArray,
    s0: FloatArray,
    s1: FloatArray,
    codes: IntArray | None,
    n_units: int,
    sign: float,
    threshold: float,
    rng: np.random.Generator,
    n_resamples: int,
    batch_size: int,
) -> Comparison:
    request = SumRequest(metric, y, s0, s1, sign, threshold, n_resamples)
    return sum_comparisons((request,), codes, n_units, rng, batch_size)[0]


def _unit_features(
    request: SumRequest, codes: IntArray | None, n_units: int
) -> tuple[_SumMetric, FloatArray, FloatArray]:
    spec = _sum_metric(request.metric, request.s0.ndim == 2)
    per_model = []
    for score in (request.s0, request.s1):
        rows = spec.features(request.y, score, request.threshold)
        if codes is None:
            per_model.append(rows)
        else:
            per_model.append(
                np.stack([np.bincount(codes, weights=f, minlength=n_units) for f in rows])
            )
    return spec, per_model[0], per_model[1]


def sum_comparisons(
    requests: Sequence[SumRequest],
    codes: IntArray | None,
    n_units: int,
    rng: np.random.Generator,
    batch_size: int,
) -> list[Comparison]:
    """Bootstrap several sum metrics of the same rows on one stream of resamples.

    The resample counts are drawn once, for the largest request; a request of fewer
    resamples takes the first ones. The stream does not depend on the batch size, so each
    result is what its own :func:`sum_comparison` with an identically seeded generator
    gives (up to rounding in the products of a shorter last batch): the draws, which are
    most of the time, are shared instead of repeated per metric.
    """
    prepared = [_unit_features(r, codes, n_units) for r in requests]
    deltas: list[list[FloatArray]] = [[] for _ in requests]
    most = max((r.n_resamples for r in requests), default=0)
    done = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        for counts in count_batches(rng, n_units, most, batch_size):
            weights = counts.astype(np.float64)
            for r, (spec, units0, units1), out in zip(requests, prepared, deltas, strict=True):
                take = min(len(weights), r.n_resamples - done)
                if take <= 0:
                    continue
                w = weights if take == len(weights) else weights[:take]
                # Two products of the same shape: identical models give bitwise identical sums.
                v0 = spec.value(w @ units0.T)
                v1 = spec.value(w @ units1.T)
                out.append(r.sign * (v1 - v0))
            done += len(weights)
    results = []
    for r, (spec, units0, units1), out in zip(requests, prepared, deltas, strict=True):
        total0, total1 = units0.sum(axis=1), units1.sum(axis=1)
        champion, challenger = float(spec.value(total0)), float(spec.value(total1))
        with np.errstate(divide="ignore", invalid="ignore"):
            # Leave one unit out: subtract its sums.
            jack = r.sign * (spec.value(total1 - units1.T) - spec.value(total0 - units0.T))
        results.append(
            Comparison(
                champion=champion,
                challenger=challenger,
                delta=r.sign * (challenger - champion),
                bootstrap=np.concatenate(out),
                jackknife=np.asarray(jack, dtype=np.float64),
            )
        )
    return results
