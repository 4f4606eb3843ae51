"""Paired statistics for comparing a champion and a challenger on the same holdout.

The gate decides on Δ = metric(challenger) − metric(champion), oriented so that a positive
Δ always means "the challenger is better" (losses are negated), and on a one-sided
confidence bound of Δ from a paired BCa bootstrap. Everything here is a pure function of
numpy arrays: no I/O, no logging, no global random state.

Speed. A 100,000-row holdout with 2,000 resamples must take seconds, not minutes, so no
resample is handed to a metric function one at a time:

* each resample is a vector of integer weights (multinomial counts over rows, or over
  groups for a cluster bootstrap), generated in batches whose size bounds the memory;
* metrics that are functions of sums of per-row quantities (accuracy, log loss, Brier,
  MSE, MAE, RMSE, R², balanced accuracy, macro F1) are one matrix product per batch;
* ROC AUC sorts each model's scores once; each resample's weighted Mann–Whitney
  statistic is then a cumulative sum of one class's weights in that order, read at
  precomputed positions of the other class (ties get half credit, as in
  ``sklearn.metrics.roc_auc_score``);
* the BCa acceleration uses a closed-form jackknife (leave-one-out sums for sum metrics,
  DeLong's placement values for AUC) instead of n metric evaluations.

The results agree with ``scipy.stats.bootstrap(..., paired=True, method="BCa")`` up to
Monte-Carlo error (see ``tests/unit/test_stats.py`` and, for multiclass inputs,
``tests/unit/test_stats_multiclass.py``).

Three input conventions, told apart by the shape of the scores:

* **binary** — ``y_true`` holds 0/1 and each score is one-dimensional, the probability of
  class 1 (any monotone score for ROC AUC); an (n, 2) ``predict_proba`` matrix is accepted
  and reduced to its column 1;
* **multiclass** — ``y_true`` holds integer class codes 0..k−1 and each score is an (n, k)
  matrix of class probabilities (columns in code order, rows summing to 1, k ≥ 3); hard
  predictions are the argmax of a row and ``threshold`` is not used. Sum metrics use
  per-class sums (2k of them for balanced accuracy, 3k for macro F1); ROC AUC is the
  one-vs-rest macro average, bootstrapped class by class on identical resamples;
* **regression** — ``y_true`` and the predictions are one-dimensional.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr, ndtri
from scipy.stats import binom, rankdata

from challenger.errors import DataError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = [
    "METRICS",
    "CorrectedTTest",
    "DeLongResult",
    "McNemarResult",
    "MetricInfo",
    "PairedBootstrap",
    "StatisticsInputError",
    "corrected_resampled_ttest",
    "delong_test",
    "expected_calibration_error",
    "mcnemar_midp",
    "metric_task_support",
    "metric_value",
    "paired_bootstrap",
    "rows_needed",
]

#: Fewest resampling units (rows, or groups with ``groups=``) a bootstrap accepts.
MIN_UNITS: Final = 10
#: Fewest bootstrap resamples accepted; a one-sided 95 % bound needs far more to be stable.
MIN_RESAMPLES: Final = 100
#: Largest share of resamples allowed to be degenerate (e.g. no positive row drawn).
_MAX_DEGENERATE_SHARE: Final = 0.1
#: Weight-matrix elements per batch. Batches that stay in the CPU cache are faster than large
#: ones (measured: 2 resamples × 100,000 rows beat 16 by ~1.5×) and bound the memory: at most
#: ~40 bytes per element are in flight, ~10 MB.
_BATCH_ELEMENTS: Final = 1 << 18
_INT32_LIMIT: Final = 2**31
#: Largest |row sum − 1| accepted in a multiclass probability matrix (float32 models are
#: off by ~1e-7; logits or unnormalised scores by far more).
_ROW_SUM_TOLERANCE: Final = 1e-4


class StatisticsInputError(DataError, ValueError):
    """Inputs to a statistical comparison are unusable (wrong shape, non-finite, too few rows).

    It is a ``ValueError`` for numeric callers and a ``DataError`` (exit code 2) for the CLI.
    """


@dataclass(frozen=True)
class MetricInfo:
    """What the gate needs to know about a metric.

    Attributes:
        higher_is_better: True for scores (AUC, accuracy, R²), False for losses.
        needs_scores: True when the metric needs predicted probabilities
            (``predict_proba``); False when hard predictions suffice (accuracy thresholds the
            score, regression metrics use ``predict``).
        description: One line for reports.
        task: "classification" or "regression". Classification is binary (labels 0/1,
            score = probability of class 1) or multiclass (labels 0..k−1, score = an (n, k)
            matrix of class probabilities); ``metric_task_support`` says which of the two a
            metric accepts.
    """

    higher_is_better: bool
    needs_scores: bool
    description: str
    task: Literal["classification", "regression"]


METRICS: Final[dict[str, MetricInfo]] = {
    "roc_auc": MetricInfo(
        True,
        True,
        "area under the ROC curve (ties count half; multiclass: one-vs-rest macro average)",
        "classification",
    ),
    "accuracy": MetricInfo(
        True,
        False,
        "share of rows classified correctly at the threshold (multiclass: argmax)",
        "classification",
    ),
    "balanced_accuracy": MetricInfo(
        True,
        False,
        "mean of the recall of each class at the threshold (multiclass: argmax)",
        "classification",
    ),
    "log_loss": MetricInfo(
        False, True, "mean negative log-likelihood of the labels (natural log)", "classification"
    ),
    "brier": MetricInfo(
        False,
        True,
        "mean squared error of the positive-class probability (multiclass: summed over classes)",
        "classification",
    ),
    "f1_macro": MetricInfo(
        True, False, "F1 averaged over classes at the threshold (argmax)", "classification"
    ),
    "mse": MetricInfo(False, False, "mean squared error", "regression"),
    "rmse": MetricInfo(False, False, "root mean squared error", "regression"),
    "mae": MetricInfo(False, False, "mean absolute error", "regression"),
    "r2": MetricInfo(True, False, "coefficient of determination R²", "regression"),
    "mape": MetricInfo(
        False, False, "mean absolute percentage error (a share, not %)", "regression"
    ),
}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PairedBootstrap:
    """A paired bootstrap comparison of two models on the same holdout rows.

    ``method`` is "BCa" unless BCa is degenerate, in which case the plain percentile bounds
    are reported and ``method`` is "percentile". That happens when (1) every resample gives
    the same Δ (e.g. identical models: both bounds then equal that Δ), (2) the observed Δ
    lies outside the bootstrap distribution, so the bias correction z0 is infinite, (3) the
    jackknife is constant or undefined (e.g. a group holds every row of one class), so the
    acceleration is 0/0, or (4) the acceleration is so large that the BCa level formula
    wraps around (1 − a·(z0 + z) ≤ 0).

    Attributes:
        metric: Metric name, a key of ``METRICS``.
        higher_is_better: Orientation of the metric's natural values.
        champion: Metric of the champion on the full holdout (natural orientation).
        challenger: Metric of the challenger on the full holdout (natural orientation).
        delta: Oriented difference; > 0 means the challenger is better.
        lower: One-sided lower confidence bound of ``delta`` at ``confidence``.
        upper: One-sided upper confidence bound of ``delta`` at ``confidence``.
        confidence: Confidence level of each one-sided bound (e.g. 0.95).
        se: Bootstrap standard error of ``delta`` (standard deviation, ddof=1).
        n_rows: Holdout rows.
        n_resamples: Resamples used; resamples where the metric is undefined (e.g. no
            positive row drawn for ROC AUC) are dropped, so this can be below the request.
        method: "BCa" or "percentile" (see above).
        quantiles: Percentiles 0, 1, …, 100 of the bootstrap distribution of ``delta``.
        n_groups: Groups resampled by a cluster bootstrap; None when rows were resampled.
    """

    metric: str
    higher_is_better: bool
    champion: float
    challenger: float
    delta: float
    lower: float
    upper: float
    confidence: float
    se: float
    n_rows: int
    n_resamples: int
    method: str
    quantiles: tuple[float, ...]
    n_groups: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dictionary of every field."""
        return {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "champion": self.champion,
            "challenger": self.challenger,
            "delta": self.delta,
            "lower": self.lower,
            "upper": self.upper,
            "confidence": self.confidence,
            "se": self.se,
            "n_rows": self.n_rows,
            "n_resamples": self.n_resamples,
            "method": self.method,
            "quantiles": list(self.quantiles),
            "n_groups": self.n_groups,
        }


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's mid-p test on per-row correctness of two classifiers.

    Attributes:
        b: Rows the champion got right and the challenger wrong.
        c: Rows the champion got wrong and the challenger right.
        p_value: Two-sided mid-p value (1.0 when there is no discordant row).
    """

    b: int
    c: int
    p_value: float


@dataclass(frozen=True)
class DeLongResult:
    """DeLong's test for the difference of two correlated ROC AUCs.

    Attributes:
        auc_champion: ROC AUC of the champion.
        auc_challenger: ROC AUC of the challenger.
        delta: ``auc_challenger - auc_champion``.
        se: Standard error of ``delta`` from the DeLong covariance.
        z: ``delta / se`` (0 when both are 0).
        p_value: Two-sided p-value of H0: equal AUCs.
    """

    auc_champion: float
    auc_challenger: float
    delta: float
    se: float
    z: float
    p_value: float


# ----------------------------------------------------------------------- validation


def _metric_info(metric: str) -> MetricInfo:
    try:
        return METRICS[metric]
    except KeyError:
        known = ", ".join(sorted(METRICS))
        raise StatisticsInputError(f"Unknown metric {metric!r}; use one of: {known}.") from None


#: Classification metrics of ``METRICS`` defined for binary labels only (none at present:
#: every classification metric here has a multiclass form).
_BINARY_ONLY: Final[frozenset[str]] = frozenset()
_BINARY_AND_MULTICLASS: Final = frozenset({"binary", "multiclass"})
_REGRESSION_ONLY: Final = frozenset({"regression"})


def metric_task_support(metric: str) -> frozenset[str]:
    """Which of "binary", "multiclass" and "regression" a metric of ``METRICS`` accepts.

    Every classification metric here (accuracy, balanced accuracy, macro F1, log loss,
    Brier, ROC AUC) takes both binary and multiclass inputs; regression metrics take only
    regression inputs.

    Raises:
        StatisticsInputError: The metric is not a key of ``METRICS``.
    """
    info = _metric_info(metric)
    if info.task == "regression":
        return _REGRESSION_ONLY
    if metric in _BINARY_ONLY:
        return frozenset({"binary"})
    return _BINARY_AND_MULTICLASS


def _as_float_vector(name: str, values: ArrayLike) -> FloatArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise StatisticsInputError(
            f"`{name}` must be a one-dimensional array; got shape {array.shape}."
        )
    if array.dtype.kind not in "biuf":
        raise StatisticsInputError(
            f"`{name}` must be numeric (bool, int or float); got dtype {array.dtype}; "
            "encode it as numbers first."
        )
    result = array.astype(np.float64)
    bad = ~np.isfinite(result)
    if bad.any():
        raise StatisticsInputError(
            f"`{name}` has {int(bad.sum())} NaN or infinite values (first at row "
            f"{int(np.argmax(bad))}); drop or impute those rows before comparing models."
        )
    return result


def _validate_labels(metric: str, y: FloatArray) -> None:
    if METRICS[metric].task != "classification":
        return
    if not np.isin(y, (0.0, 1.0)).all():
        found = np.unique(y)[:5].tolist()
        raise StatisticsInputError(
            f"`y_true` for {metric} must hold only 0 and 1 (1 = positive class); found "
            f"values such as {found}; encode the labels as 0/1 first (for k ≥ 3 classes "
            "pass class codes 0..k−1 and (n, k) probability matrices as the scores)."
        )


def _validate_scores(metric: str, name: str, score: FloatArray) -> None:
    probabilities = METRICS[metric].needs_scores and metric != "roc_auc"
    if probabilities and score.size and (score.min() < 0.0 or score.max() > 1.0):
        raise StatisticsInputError(
            f"`{name}` for {metric} must be probabilities in [0, 1]; found values in "
            f"[{score.min():g}, {score.max():g}]; pass predict_proba(...)[:, 1]."
        )


def _validate_classes(
    metric: str,
    y: FloatArray,
    codes: IntArray | None,
    minimum: int,
    n_classes: int | None = None,
) -> None:
    """Every class must be present (at least ``minimum`` rows or groups each).

    Binary when ``n_classes`` is None (classes 1 and 0); otherwise classes 0..n_classes−1.
    """
    if metric not in ("roc_auc", "balanced_accuracy"):
        return
    unit = "rows" if codes is None else "groups"
    if n_classes is not None:
        for code in range(n_classes):
            members = y == float(code)
            count = int(members.sum()) if codes is None else int(np.unique(codes[members]).size)
            if count < minimum:
                raise StatisticsInputError(
                    f"{metric} needs at least {minimum} {unit} of every class; class {code} "
                    f"(y_true == {code}) has {count}; use a larger holdout, or drop "
                    "classes the holdout cannot represent from the model's class list."
                )
        return
    for label, name in ((1.0, "positive"), (0.0, "negative")):
        members = y == label
        count = int(members.sum()) if codes is None else int(np.unique(codes[members]).size)
        if count < minimum:
            raise StatisticsInputError(
                f"{metric} needs at least {minimum} {unit} with {name} labels "
                f"(y_true == {int(label)}); found {count}; use a larger holdout."
            )


def _validate_pair(
    metric: str, y_true: ArrayLike, score_champion: ArrayLike, score_challenger: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    y = _as_float_vector("y_true", y_true)
    s0 = _as_float_vector("score_champion", score_champion)
    s1 = _as_float_vector("score_challenger", score_challenger)
    if not y.size == s0.size == s1.size:
        raise StatisticsInputError(
            f"`y_true`, `score_champion` and `score_challenger` must have the same length; "
            f"got {y.size}, {s0.size} and {s1.size}; score both models on the same rows."
        )
    _validate_labels(metric, y)
    if metric == "mape" and np.any(y == 0.0):
        raise StatisticsInputError(
            f"mape is undefined where `y_true` is 0 ({int(np.sum(y == 0.0))} rows); use mae or rmse."
        )
    _validate_scores(metric, "score_champion", s0)
    _validate_scores(metric, "score_challenger", s1)
    return y, s0, s1


def _as_probability_matrix(metric: str, name: str, values: NDArray[Any]) -> FloatArray:
    """A finite (n, k) float matrix of class probabilities (k ≥ 2, rows summing to 1)."""
    hint = "pass predict_proba(...) with its columns in class-code order"
    if values.ndim != 2 or values.shape[1] < 2:
        raise StatisticsInputError(
            f"`{name}` for multiclass {metric} must be an (n, k) matrix of class "
            f"probabilities with k ≥ 2 columns; got shape {values.shape}; {hint}."
        )
    if values.dtype.kind not in "biuf":
        raise StatisticsInputError(
            f"`{name}` must be numeric (float probabilities); got dtype {values.dtype}; {hint}."
        )
    matrix = values.astype(np.float64)
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise StatisticsInputError(
            f"`{name}` has NaN or infinite values in {int(bad.sum())} rows (first at row "
            f"{int(np.argmax(bad))}); drop or impute those rows before comparing models."
        )
    if matrix.size and (matrix.min() < 0.0 or matrix.max() > 1.0):
        raise StatisticsInputError(
            f"`{name}` for {metric} must hold probabilities in [0, 1]; found values in "
            f"[{matrix.min():g}, {matrix.max():g}]; {hint} (not logits or decision_function)."
        )
    off = np.abs(matrix.sum(axis=1) - 1.0) > _ROW_SUM_TOLERANCE
    if off.any():
        row = int(np.argmax(off))
        raise StatisticsInputError(
            f"The rows of `{name}` must sum to 1 (class probabilities); {int(off.sum())} rows "
            f"do not (row {row} sums to {matrix[row].sum():g}); {hint}, or normalise the rows."
        )
    return matrix


def _describe_score(score: NDArray[Any]) -> str:
    if score.ndim == 2:
        return f"an (n, {score.shape[1]}) matrix"
    return f"an array of shape {score.shape}"


def _prepare(
    metric: str,
    y_true: ArrayLike,
    score_champion: ArrayLike,
    score_challenger: ArrayLike,
    names: tuple[str, str] = ("score_champion", "score_challenger"),
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate inputs of any task; multiclass when the returned scores are two-dimensional.

    One-dimensional scores go through the binary/regression validation unchanged. (n, 2)
    probability matrices are validated and reduced to column 1 (binary). (n, k ≥ 3)
    matrices give ``y`` as float class codes and both scores as (n, k) matrices.
    """
    raw = (np.asarray(score_champion), np.asarray(score_challenger))
    if raw[0].ndim != 2 and raw[1].ndim != 2:
        return _validate_pair(metric, y_true, raw[0], raw[1])
    info = _metric_info(metric)
    if info.task != "classification":
        raise StatisticsInputError(
            f"{metric} is a regression metric: pass one prediction per row (a one-dimensional "
            f"array); got {_describe_score(raw[0])} and {_describe_score(raw[1])}."
        )
    scores: list[FloatArray] = []
    for name, array in zip(names, raw, strict=True):
        if array.ndim == 2:
            matrix = _as_probability_matrix(metric, name, array)
            scores.append(matrix[:, 1] if matrix.shape[1] == 2 else matrix)
        else:
            scores.append(np.asarray(array))
    s0, s1 = scores
    if s0.ndim != s1.ndim or (s0.ndim == 2 and s0.shape[1] != s1.shape[1]):
        raise StatisticsInputError(
            f"`{names[0]}` and `{names[1]}` must cover the same classes; got "
            f"{_describe_score(raw[0])} and {_describe_score(raw[1])}; score both models "
            "with predict_proba on the same class order (a 1-D score or an (n, 2) matrix is "
            "binary, an (n, k) matrix with k ≥ 3 is multiclass)."
        )
    if s0.ndim == 1:
        return _validate_pair(metric, y_true, s0, s1)
    if "multiclass" not in metric_task_support(metric):
        raise StatisticsInputError(
            f"{metric} is defined for binary labels only; use f1_macro, balanced_accuracy, "
            "log_loss, brier, accuracy or roc_auc for multiclass."
        )
    y = _as_float_vector("y_true", y_true)
    n_classes = s0.shape[1]
    if not y.size == s0.shape[0] == s1.shape[0]:
        raise StatisticsInputError(
            f"`y_true`, `{names[0]}` and `{names[1]}` must have the same number of rows; "
            f"got {y.size}, {s0.shape[0]} and {s1.shape[0]}; score both models on the same rows."
        )
    invalid = (y != np.floor(y)) | (y < 0.0) | (y >= n_classes)
    if invalid.any():
        found = [int(v) if v.is_integer() else v for v in np.unique(y[invalid])[:5].tolist()]
        raise StatisticsInputError(
            f"`y_true` for multiclass {metric} must hold integer class codes 0..{n_classes - 1}, "
            f"one per column of the probability matrices; found values such as {found}; "
            "encode the labels as positions in the model's classes_ first."
        )
    return y, s0, s1


def _group_codes(groups: ArrayLike | None, n_rows: int) -> tuple[IntArray | None, int]:
    if groups is None:
        return None, n_rows
    array = np.asarray(groups)
    if array.ndim != 1 or array.size != n_rows:
        raise StatisticsInputError(
            f"`groups` must be a one-dimensional array with one entry per row ({n_rows}); "
            f"got shape {array.shape}."
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise StatisticsInputError(
            "`groups` has NaN or infinite values; give every row a group identifier."
        )
    _, inverse = np.unique(array, return_inverse=True)
    codes = np.asarray(inverse, dtype=np.int64).reshape(-1)
    return codes, int(codes.max()) + 1


# ------------------------------------------------------------------- metric features
#
# Every metric except ROC AUC is a function of a few sums of per-row features. Features
# are stored as (k, n) arrays so that row sums are numpy's pairwise sums (as in sklearn).


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


# Multiclass features: ``y`` holds class codes as floats, ``proba`` is (n, k); the hard
# prediction is the row's argmax (first column on ties, as ``np.argmax``).


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
        metric: A key of ``METRICS``.
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
    _metric_info(metric)
    y, s, _ = _prepare(metric, y_true, score, score, names=("score", "score"))
    if y.size == 0:
        raise StatisticsInputError("`y_true` is empty; score the models on at least one row.")
    multiclass = s.ndim == 2
    _validate_classes(metric, y, None, 1, s.shape[1] if multiclass else None)
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


# ------------------------------------------------------------------------ resampling


def _count_batches(
    rng: np.random.Generator, n_units: int, n_resamples: int, batch_size: int
) -> Iterator[IntArray]:
    """Yield multinomial resample counts, ``batch_size`` resamples (rows) at a time.

    Each resample draws ``n_units`` unit indices uniformly with replacement and counts them
    (one ``bincount`` per batch). The draws come from one stream, so the resamples do not
    depend on the batch size.
    """
    done = 0
    while done < n_resamples:
        size = min(batch_size, n_resamples - done)
        draws = rng.integers(0, n_units, size=(size, n_units))
        draws += (np.arange(size, dtype=np.int64) * n_units)[:, None]
        counts = np.bincount(draws.reshape(-1), minlength=size * n_units)
        yield counts.reshape(size, n_units)
        done += size


@dataclass(frozen=True)
class _Comparison:
    """Observed values, bootstrap and jackknife distributions of the oriented Δ."""

    champion: float
    challenger: float
    delta: float
    bootstrap: FloatArray
    jackknife: FloatArray


def _sum_comparison(
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
) -> _Comparison:
    spec = _sum_metric(metric, s0.ndim == 2)
    per_model = []
    for score in (s0, s1):
        rows = spec.features(y, score, threshold)
        if codes is None:
            per_model.append(rows)
        else:
            per_model.append(
                np.stack([np.bincount(codes, weights=f, minlength=n_units) for f in rows])
            )
    units0, units1 = per_model
    total0, total1 = units0.sum(axis=1), units1.sum(axis=1)
    champion, challenger = float(spec.value(total0)), float(spec.value(total1))

    deltas = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for counts in _count_batches(rng, n_units, n_resamples, batch_size):
            weights = counts.astype(np.float64)
            # Two products of the same shape: identical models give bitwise identical sums.
            v0 = spec.value(weights @ units0.T)
            v1 = spec.value(weights @ units1.T)
            deltas.append(sign * (v1 - v0))
        # Leave one unit out: subtract its sums.
        jack = sign * (spec.value(total1 - units1.T) - spec.value(total0 - units0.T))
    return _Comparison(
        champion=champion,
        challenger=challenger,
        delta=sign * (challenger - champion),
        bootstrap=np.concatenate(deltas),
        jackknife=np.asarray(jack, dtype=np.float64),
    )


@dataclass(frozen=True)
class _AucLayout:
    """Precomputed order for the weighted Mann–Whitney statistic of both models.

    Rows are laid out as [cumulated class sorted by champion score, probed class sorted by
    champion score]. The cumulated class is the larger one (its weights are summed
    cumulatively); for each probed row, ``lt``/``le`` index the cumulative sums at the
    number of cumulated rows scoring strictly below / at most its score, so
    ``cum[lt] + cum[le]`` is twice its weighted half-credit placement count. ``le`` is None
    when no probed score ties a cumulated one (then ``le == lt``), saving one gather.
    """

    n_cum: int
    order: IntArray  # layout position -> original row
    perm1: IntArray  # cumulated block: champion order -> challenger order
    lt0: IntArray
    le0: IntArray | None
    lt1: IntArray
    le1: IntArray | None


def _below(sorted_scores: FloatArray, probes: FloatArray) -> tuple[IntArray, IntArray | None]:
    lt = np.searchsorted(sorted_scores, probes, side="left")
    le = np.searchsorted(sorted_scores, probes, side="right")
    return lt, None if np.array_equal(lt, le) else le


def _auc_layout(y: FloatArray, s0: FloatArray, s1: FloatArray) -> _AucLayout:
    probe_label = 1.0 if (y == 1.0).sum() <= (y == 0.0).sum() else 0.0
    # AUC(y, s) == AUC(1 - y, -s) exactly, so swapping classes only changes the work.
    sign = 1.0 if probe_label == 1.0 else -1.0
    a0, a1 = sign * s0, sign * s1
    cum_rows = np.flatnonzero(y != probe_label)
    probe_rows = np.flatnonzero(y == probe_label)
    cum_rows = cum_rows[np.argsort(a0[cum_rows], kind="stable")]
    probe_rows = probe_rows[np.argsort(a0[probe_rows], kind="stable")]
    perm1 = np.argsort(a1[cum_rows], kind="stable")
    lt0, le0 = _below(a0[cum_rows], a0[probe_rows])
    lt1, le1 = _below(a1[cum_rows][perm1], a1[probe_rows])
    return _AucLayout(
        n_cum=int(cum_rows.size),
        order=np.concatenate([cum_rows, probe_rows]),
        perm1=perm1,
        lt0=lt0,
        le0=le0,
        lt1=lt1,
        le1=le1,
    )


def _twice_u(
    cumsum: NDArray[np.signedinteger[Any]],
    probe_w: NDArray[np.signedinteger[Any]],
    lt: IntArray,
    le: IntArray | None,
) -> IntArray:
    """Σ over probed rows of weight × (cum[lt] + cum[le]): twice the weighted U statistic."""
    twice = np.take(cumsum, lt, axis=1)
    if le is None:
        return np.asarray(2 * (probe_w * twice).sum(axis=1, dtype=np.int64), dtype=np.int64)
    twice += np.take(cumsum, le, axis=1)
    return np.asarray((probe_w * twice).sum(axis=1, dtype=np.int64), dtype=np.int64)


def _auc_batch(
    layout: _AucLayout, weights: NDArray[np.signedinteger[Any]]
) -> tuple[FloatArray, FloatArray]:
    """Weighted ROC AUC of both models for a batch of row weights in layout order."""
    n_cum = layout.n_cum
    cum_w, probe_w = weights[:, :n_cum], weights[:, n_cum:]
    cumsum = np.zeros((weights.shape[0], n_cum + 1), dtype=weights.dtype)
    np.cumsum(cum_w, axis=1, out=cumsum[:, 1:])
    u0 = _twice_u(cumsum, probe_w, layout.lt0, layout.le0)
    np.cumsum(np.take(cum_w, layout.perm1, axis=1), axis=1, out=cumsum[:, 1:])
    u1 = _twice_u(cumsum, probe_w, layout.lt1, layout.le1)
    pairs = 2.0 * probe_w.sum(axis=1, dtype=np.int64) * cumsum[:, -1].astype(np.int64)
    return u0 / pairs, u1 / pairs


def _auc_jackknife(y: FloatArray, score: FloatArray, codes: IntArray | None) -> FloatArray:
    """ROC AUC with each unit (row or group) left out, from placement values.

    With unit weights, positive row i places above ``a_i`` negatives and negative row j
    below ``b_j`` positives (ties count half; stored doubled as integers). These are
    DeLong's structural components times n0 and n1. Leaving out a set of rows removes
    their placements and adds back the pairs formed inside the set (counted twice):
    ``2U_(-g) = 2U - A_g - B_g + C_g``.
    """
    pos, neg = y == 1.0, y == 0.0
    sp, sn = score[pos], score[neg]
    sorted_n, sorted_p = np.sort(sn), np.sort(sp)
    a = np.searchsorted(sorted_n, sp, side="left") + np.searchsorted(sorted_n, sp, side="right")
    n_pos, n_neg = sp.size, sn.size
    b = 2 * n_pos - np.searchsorted(sorted_p, sn, side="left")
    b -= np.searchsorted(sorted_p, sn, side="right")
    twice_u = int(a.sum(dtype=np.int64))
    if codes is None:
        out = np.empty(y.size, dtype=np.float64)
        out[pos] = (twice_u - a) / (2.0 * (n_pos - 1) * n_neg)
        out[neg] = (twice_u - b) / (2.0 * n_pos * (n_neg - 1))
        return out
    n_groups = int(codes.max()) + 1
    gp, gn = codes[pos], codes[neg]
    # Pairs inside a group: search positives among negatives keyed by (group, score rank).
    _, rank = np.unique(score, return_inverse=True)
    width = int(rank.max()) + 1
    key = codes * width + np.asarray(rank, dtype=np.int64).reshape(-1)
    neg_keys = np.sort(key[neg])
    pos_keys = key[pos]
    start = np.searchsorted(neg_keys, gp * width, side="left")
    inside = np.searchsorted(neg_keys, pos_keys, side="left") - start
    inside += np.searchsorted(neg_keys, pos_keys, side="right") - start
    twice_u_left = (
        twice_u
        - np.bincount(gp, weights=a, minlength=n_groups)
        - np.bincount(gn, weights=b, minlength=n_groups)
        + np.bincount(gp, weights=inside, minlength=n_groups)
    )
    pos_left = n_pos - np.bincount(gp, minlength=n_groups)
    neg_left = n_neg - np.bincount(gn, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(twice_u_left / (2.0 * pos_left * neg_left), dtype=np.float64)


def _auc_comparison(
    y: FloatArray,
    s0: FloatArray,
    s1: FloatArray,
    codes: IntArray | None,
    n_units: int,
    rng: np.random.Generator,
    n_resamples: int,
    batch_size: int,
    by_row: bool = False,
) -> _Comparison:
    """Bootstrap and jackknife of the ROC AUC difference of two binary scores.

    With ``by_row`` (and no groups), resample counts index the original rows instead of
    the layout positions: the draws of an identically seeded generator then weight the
    same rows whatever the layout, which the one-vs-rest multiclass AUC relies on. It costs
    one gather per batch, so the binary path leaves it off.
    """
    layout = _auc_layout(y, s0, s1)
    ones = np.ones((1, y.size), dtype=np.int64)
    full0, full1 = _auc_batch(layout, ones)
    champion, challenger = float(full0[0]), float(full1[0])
    if codes is None:
        unit_of_position = layout.order if by_row else None
        sizes = None
    else:
        unit_of_position = codes[layout.order]
        sizes = np.bincount(codes, minlength=n_units)
    deltas = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for counts in _count_batches(rng, n_units, n_resamples, batch_size):
            # Row counts in layout order: for rows the units *are* the layout positions
            # (a uniform resample does not care how rows are numbered) unless ``by_row``;
            # for groups every row takes its group's count.
            total = y.size if sizes is None else int((counts @ sizes).max())
            # int32 halves memory traffic; products weight · 2·cumsum must not overflow.
            small = 2 * int(counts.max()) * total < _INT32_LIMIT
            weights: NDArray[np.signedinteger[Any]] = counts.astype(np.int32 if small else np.int64)
            if unit_of_position is not None:
                weights = np.take(weights, unit_of_position, axis=1)
            auc0, auc1 = _auc_batch(layout, weights)
            deltas.append(auc1 - auc0)
    jack = _auc_jackknife(y, s1, codes) - _auc_jackknife(y, s0, codes)
    return _Comparison(
        champion=champion,
        challenger=challenger,
        delta=challenger - champion,
        bootstrap=np.concatenate(deltas),
        jackknife=jack,
    )


def _ovr_auc_comparison(
    y: FloatArray,
    s0: FloatArray,
    s1: FloatArray,
    codes: IntArray | None,
    n_units: int,
    seed: int,
    n_resamples: int,
    batch_size: int,
) -> _Comparison:
    """One-vs-rest macro ROC AUC: the binary comparison per class, averaged.

    Every class runs ``_auc_comparison`` with a generator seeded identically, and the
    resample counts depend only on the seed, ``n_units``, ``n_resamples`` and the batch
    size (all shared), and index original rows (``by_row``) or groups, so resample b weights
    the same rows for every class. The mean of the per-class Δs of resample b is then the
    macro-AUC Δ of that resample, and the mean of the per-class leave-one-unit-out values
    is the macro-AUC jackknife, so BCa applies unchanged. A resample missing a class has a
    NaN AUC for it and hence a NaN macro Δ: it counts as degenerate.
    """
    parts = [
        _auc_comparison(
            (y == label).astype(np.float64),
            np.ascontiguousarray(s0[:, label]),
            np.ascontiguousarray(s1[:, label]),
            codes,
            n_units,
            np.random.default_rng(seed),
            n_resamples,
            batch_size,
            by_row=True,
        )
        for label in range(s0.shape[1])
    ]
    champion = float(np.mean([part.champion for part in parts]))
    challenger = float(np.mean([part.challenger for part in parts]))
    return _Comparison(
        champion=champion,
        challenger=challenger,
        delta=challenger - champion,
        bootstrap=np.asarray(np.mean([part.bootstrap for part in parts], axis=0)),
        jackknife=np.asarray(np.mean([part.jackknife for part in parts], axis=0)),
    )


def _bca_bounds(
    observed: float, boot: FloatArray, jack: FloatArray, alpha: float
) -> tuple[float, float, str]:
    """One-sided BCa bounds at levels α (lower) and 1 − α (upper), as scipy computes them.

    z0 = Φ⁻¹(share of resamples below the observed value, ties counting half);
    a = Σd³ / (6 (Σd²)^{3/2}) with d the jackknife deviations from their mean;
    the bound at level β is the bootstrap quantile at Φ(z0 + (z0 + z_β)/(1 − a (z0 + z_β))),
    with linear interpolation between order statistics.
    """

    def percentile(level: float) -> float:
        return float(np.percentile(boot, 100.0 * level))

    if boot.min() == boot.max():
        value = float(boot[0])
        return value, value, "percentile"
    share = (np.count_nonzero(boot < observed) + np.count_nonzero(boot <= observed)) / (
        2.0 * boot.size
    )
    deviation = jack.mean() - jack
    spread = float((deviation**2).sum())
    # Infinite z0, or a jackknife that is constant or undefined: no acceleration to use.
    degenerate = share in (0.0, 1.0) or not math.isfinite(spread) or spread == 0.0
    if not degenerate:
        z0 = float(ndtri(share))
        accel = float((deviation**3).sum()) / (6.0 * spread**1.5)
        levels = []
        for z in (float(ndtri(alpha)), float(ndtri(1.0 - alpha))):
            shifted = z0 + z
            denominator = 1.0 - accel * shifted
            if denominator <= 0.0:
                degenerate = True
                break
            levels.append(float(ndtr(z0 + shifted / denominator)))
        if not degenerate:
            return percentile(levels[0]), percentile(levels[1]), "BCa"
    return percentile(alpha), percentile(1.0 - alpha), "percentile"


def paired_bootstrap(
    metric: str,
    y_true: ArrayLike,
    score_champion: ArrayLike,
    score_challenger: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    groups: ArrayLike | None = None,
    batch_size: int | None = None,
    threshold: float = 0.5,
) -> PairedBootstrap:
    """Paired bootstrap of the oriented difference Δ between two models on the same rows.

    Each resample draws rows (or, with ``groups``, whole groups) with replacement, and the
    same draw weights both models. Δ = metric(challenger) − metric(champion) for metrics
    where higher is better and metric(champion) − metric(challenger) for losses, so Δ > 0
    always favours the challenger. The bounds are one-sided BCa bounds (Efron 1987), the
    method of ``scipy.stats.bootstrap(..., paired=True, method="BCa")``; ``lower`` is the
    bound of ``alternative="greater"`` and ``upper`` that of ``alternative="less"``.

    Multiclass (k ≥ 3 classes): ``y_true`` holds class codes 0..k−1 and each score is an
    (n, k) matrix of class probabilities, columns in code order (``predict_proba`` with
    ``classes_`` encoded as their positions). Sum metrics use per-class sums; ROC AUC is the
    one-vs-rest macro average, bootstrapped per class on the same resamples and averaged.

    Args:
        metric: A key of ``METRICS``.
        y_true: Labels (0/1 binary, 0..k−1 multiclass) or regression targets, one per
            holdout row.
        score_champion: Champion's probability of class 1 (binary), (n, k) class
            probabilities (multiclass; an (n, 2) matrix counts as binary and its column 1
            is used), or prediction (regression), per row.
        score_challenger: Challenger's, on the same rows in the same order and, for
            multiclass, with the same columns.
        confidence: Confidence of each one-sided bound, in (0.5, 1).
        n_resamples: Bootstrap resamples (at least ``MIN_RESAMPLES``).
        seed: Seed of the resampling generator; same seed, same result.
        groups: Optional group identifier per row (user, session, …) for a cluster
            bootstrap: whole groups are resampled and jackknifed, so rows of a group stay
            together. Use it whenever rows of a group are not independent.
        batch_size: Resamples per batch. The default keeps a batch near 2**18 weights
            (~10 MB, cache-friendly); memory grows as ~40 bytes × batch_size × rows (ROC
            AUC) or groups. Results do not depend on it beyond floating-point rounding in
            the matrix products of the sum metrics (ROC AUC is exact integer arithmetic).
        threshold: Binary accuracy, balanced accuracy and macro F1 predict class 1 where
            ``score >= threshold`` (multiclass predictions are the row argmax).

    Returns:
        The observed values, Δ, its bounds, standard error and bootstrap quantiles.

    Raises:
        StatisticsInputError: Invalid metric, arrays, groups, or arguments; fewer than
            ``MIN_UNITS`` rows (groups); fewer than two rows (groups) of a class for ROC AUC
            or balanced accuracy; a constant target for R²; or more than 10 % of resamples
            where the metric is undefined.
    """
    info = _metric_info(metric)
    y, s0, s1 = _prepare(metric, y_true, score_champion, score_challenger)
    multiclass = s0.ndim == 2
    if not 0.5 < confidence < 1.0:
        raise StatisticsInputError(
            f"`confidence` must be in (0.5, 1) for a one-sided bound; got {confidence}."
        )
    if n_resamples < MIN_RESAMPLES:
        raise StatisticsInputError(
            f"`n_resamples` must be at least {MIN_RESAMPLES} (a few thousand is usual); "
            f"got {n_resamples}."
        )
    if batch_size is not None and batch_size < 1:
        raise StatisticsInputError(f"`batch_size` must be a positive integer; got {batch_size}.")
    codes, n_units = _group_codes(groups, y.size)
    unit = "rows" if codes is None else "groups"
    if n_units < MIN_UNITS:
        raise StatisticsInputError(
            f"A bootstrap needs at least {MIN_UNITS} {unit}; got {n_units}; use a larger holdout."
        )
    _validate_classes(metric, y, codes, 2, s0.shape[1] if multiclass else None)
    if metric == "r2" and np.ptp(y) == 0.0:
        raise StatisticsInputError("r2 is undefined for a constant `y_true`; use mse or mae.")

    rng = np.random.default_rng(seed)
    if metric == "roc_auc":
        batch = batch_size or max(1, _BATCH_ELEMENTS // y.size)
        if multiclass:
            comparison = _ovr_auc_comparison(y, s0, s1, codes, n_units, seed, n_resamples, batch)
        else:
            comparison = _auc_comparison(y, s0, s1, codes, n_units, rng, n_resamples, batch)
    else:
        batch = batch_size or max(1, _BATCH_ELEMENTS // n_units)
        sign = 1.0 if info.higher_is_better else -1.0
        comparison = _sum_comparison(
            metric, y, s0, s1, codes, n_units, sign, threshold, rng, n_resamples, batch
        )

    boot = comparison.bootstrap[np.isfinite(comparison.bootstrap)]
    if boot.size < (1.0 - _MAX_DEGENERATE_SHARE) * n_resamples:
        raise StatisticsInputError(
            f"{metric} is undefined in {n_resamples - boot.size} of {n_resamples} resamples "
            f"(a class or all target variation missing); the holdout has too few {unit} of "
            "the rare class; use a larger holdout."
        )
    alpha = 1.0 - confidence
    lower, upper, method = _bca_bounds(comparison.delta, boot, comparison.jackknife, alpha)
    quantiles = np.percentile(boot, np.arange(101, dtype=np.float64))
    return PairedBootstrap(
        metric=metric,
        higher_is_better=info.higher_is_better,
        champion=comparison.champion,
        challenger=comparison.challenger,
        delta=comparison.delta,
        lower=lower,
        upper=upper,
        confidence=confidence,
        se=float(np.std(boot, ddof=1)),
        n_rows=int(y.size),
        n_resamples=int(boot.size),
        method=method,
        quantiles=tuple(float(q) for q in quantiles),
        n_groups=None if codes is None else n_units,
    )


# -------------------------------------------------------------------- cross-checks


def mcnemar_midp(correct_champion: ArrayLike, correct_challenger: ArrayLike) -> McNemarResult:
    """McNemar's mid-p test (Fagerland, Lydersen & Laake 2013) on paired correctness.

    Under H0 the discordant rows split Binomial(b + c, 1/2). The exact two-sided p-value is
    2·P(X ≤ min(b, c)) (capped at 1); the mid-p value counts the observed outcome half:
    2·P(X ≤ min(b, c)) − P(X = min(b, c)). It keeps close to the nominal level while the
    exact test is conservative.

    Args:
        correct_champion: Per-row booleans, True where the champion is correct.
        correct_challenger: The same for the challenger, same rows and order.

    Returns:
        The discordant counts and the two-sided mid-p value.

    Raises:
        StatisticsInputError: Arrays that are not one-dimensional, differ in length or hold
            values other than booleans / 0 / 1.
    """
    champ = _as_float_vector("correct_champion", correct_champion)
    chal = _as_float_vector("correct_challenger", correct_challenger)
    if champ.size != chal.size:
        raise StatisticsInputError(
            f"`correct_champion` and `correct_challenger` must have the same length; got "
            f"{champ.size} and {chal.size}."
        )
    if not (np.isin(champ, (0.0, 1.0)).all() and np.isin(chal, (0.0, 1.0)).all()):
        raise StatisticsInputError(
            "`correct_champion` and `correct_challenger` must be booleans (True = correct)."
        )
    b = int(np.count_nonzero((champ == 1.0) & (chal == 0.0)))
    c = int(np.count_nonzero((champ == 0.0) & (chal == 1.0)))
    n = b + c
    if n == 0:
        return McNemarResult(b=b, c=c, p_value=1.0)
    if b == c:  # the observed split is the median: exactly 1, without rounding error
        return McNemarResult(b=b, c=c, p_value=1.0)
    k = min(b, c)
    p = 2.0 * float(binom.cdf(k, n, 0.5)) - float(binom.pmf(k, n, 0.5))
    return McNemarResult(b=b, c=c, p_value=min(1.0, max(0.0, p)))


def delong_test(
    y_true: ArrayLike, score_champion: ArrayLike, score_challenger: ArrayLike
) -> DeLongResult:
    """DeLong, DeLong & Clarke-Pearson (1988) test of two correlated ROC AUCs.

    Uses the midrank algorithm of Sun & Xu (2014): with midranks Tz of the pooled scores,
    Tx of the positives and Ty of the negatives, the structural components are
    V10 = (Tz[pos] − Tx)/n0 and V01 = 1 − (Tz[neg] − Ty)/n1, and
    Var(Δ) = (s10₀₀ + s10₁₁ − 2 s10₀₁)/n1 + (s01₀₀ + s01₁₁ − 2 s01₀₁)/n0 with s the sample
    covariances (ddof=1) of the components across the two models.

    Args:
        y_true: Labels 0/1.
        score_champion: Champion's scores (any monotone score works, not only probabilities).
        score_challenger: Challenger's scores on the same rows.

    Returns:
        Both AUCs, Δ = challenger − champion, its standard error, z and the two-sided p.

    Raises:
        StatisticsInputError: Invalid arrays, or fewer than two rows of a class.
    """
    y, s0, s1 = _validate_pair("roc_auc", y_true, score_champion, score_challenger)
    _validate_classes("roc_auc", y, None, 2)
    pos, neg = y == 1.0, y == 0.0
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    v10, v01, aucs = [], [], []
    for score in (s0, s1):
        sp, sn = score[pos], score[neg]
        tx, ty = rankdata(sp), rankdata(sn)
        tz = rankdata(np.concatenate([sp, sn]))
        aucs.append(float(tz[:n_pos].sum() / (n_pos * n_neg) - (n_pos + 1.0) / (2.0 * n_neg)))
        v10.append((tz[:n_pos] - tx) / n_neg)
        v01.append(1.0 - (tz[n_pos:] - ty) / n_pos)
    s10 = np.cov(np.stack(v10))
    s01 = np.cov(np.stack(v01))
    contrast = np.array([-1.0, 1.0])
    variance = float(contrast @ s10 @ contrast / n_pos + contrast @ s01 @ contrast / n_neg)
    se = math.sqrt(max(variance, 0.0))
    delta = aucs[1] - aucs[0]
    # A zero variance means identical placement values: equal AUCs give z = 0.
    z = delta / se if se > 0.0 else (math.copysign(math.inf, delta) if delta else 0.0)
    p_value = float(2.0 * ndtr(-abs(z)))
    return DeLongResult(
        auc_champion=aucs[0],
        auc_challenger=aucs[1],
        delta=delta,
        se=se,
        z=z,
        p_value=min(1.0, p_value),
    )


def rows_needed(
    result: PairedBootstrap,
    threshold: float,
    *,
    bound: Literal["lower", "upper"] = "lower",
) -> int | None:
    """Rough number of holdout rows for a one-sided bound to clear ``threshold``.

    Normal approximation: the lower bound is about Δ − z·se with z = Φ⁻¹(confidence), and
    the standard error of a mean-like statistic scales as 1/√n, so with n′ rows and the
    same Δ and per-row variance the bound is Δ − z·se·√(n/n′). It clears the threshold t
    when √(n/n′) < (Δ − t)/(z·se), i.e. for

        n′ > n · (z·se / (Δ − t))².

    For ``bound="upper"`` (showing the challenger is *not* better than t) the same
    argument with t − Δ gives n · (z·se / (t − Δ))². With a cluster bootstrap the
    extrapolation assumes the groups keep their average size. A result at or below
    ``result.n_rows`` means the current holdout should already suffice.

    Args:
        result: A paired bootstrap.
        threshold: The value the bound must clear (e.g. ``min_improvement`` or ``-margin``).
        bound: "lower" (bound must exceed the threshold) or "upper" (must fall below it).

    Returns:
        Rows needed (at least 1), or None when the observed Δ is on the wrong side of the
        threshold or equal to it: then no amount of similar data would clear it.
    """
    gap = result.delta - threshold if bound == "lower" else threshold - result.delta
    if not gap > 0.0:
        return None
    z = float(ndtri(result.confidence))
    needed = result.n_rows * (z * result.se / gap) ** 2
    return max(1, math.ceil(needed))


@dataclass(frozen=True)
class CorrectedTTest:
    """Nadeau–Bengio corrected resampled t-test of two candidates scored on the same folds."""

    mean_difference: float  # mean over folds of score_b − score_a (oriented by the caller)
    t: float
    df: int
    p_value: float  # two-sided
    n_folds: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "mean_difference": self.mean_difference,
            "t": self.t,
            "df": self.df,
            "p_value": self.p_value,
            "n_folds": self.n_folds,
        }


def corrected_resampled_ttest(
    scores_a: ArrayLike, scores_b: ArrayLike, n_train: int, n_test: int
) -> CorrectedTTest:
    """Compare two models cross-validated on the same folds (Nadeau & Bengio 2003).

    The naive k-fold t-test treats folds as independent although their training sets
    overlap, and rejects far too often (Dietterich 1998). The corrected variance
    ``(1/k + n_test/n_train) · s²`` accounts for that overlap.

    Args:
        scores_a: Per-fold scores of model A.
        scores_b: Per-fold scores of model B, on the same folds.
        n_train: Training rows per fold.
        n_test: Validation rows per fold.

    Raises:
        StatisticsInputError: Fewer than two folds or mismatched lengths.
    """
    from scipy.stats import t as student_t

    a = _as_float_vector("scores_a", scores_a)
    b = _as_float_vector("scores_b", scores_b)
    if a.shape != b.shape or a.size < 2:
        raise StatisticsInputError(
            f"the corrected t-test needs two equal-length score vectors of at least 2 folds, got {a.size} and {b.size}"
        )
    if n_train <= 0 or n_test <= 0:
        raise StatisticsInputError("n_train and n_test must be positive")
    d = b - a
    k = d.size
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    corrected = (1.0 / k + n_test / n_train) * var
    if corrected == 0.0:
        t_stat = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0.0 else 0.0
    else:
        t_stat = mean / math.sqrt(corrected)
        p = float(2 * student_t.sf(abs(t_stat), k - 1))
    return CorrectedTTest(mean, t_stat, k - 1, p, k)


def expected_calibration_error(y_true: ArrayLike, score: ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error with equal-width probability bins.

    ECE = Σ_b (n_b / n) · |mean(y in b) − mean(p in b)|: how far predicted probabilities are
    from observed frequencies, weighted by how many rows fall in each bin.

    Binary: ``y_true`` is 0/1 and ``score`` the probability of class 1. Given an (n, k)
    matrix of class probabilities (columns in code order, ``y_true`` codes 0..k−1; any
    k ≥ 2, so pass ``P[:, 1]`` for the binary form), it is the **top-label** ECE: each row's
    confidence is its largest probability, its outcome whether that argmax class (first on
    ties) is the true one, binned the same way.
    """
    raw = np.asarray(score)
    if raw.ndim == 2:
        matrix = _as_probability_matrix("expected_calibration_error", "score", raw)
        codes = _as_float_vector("y_true", y_true)
        n_classes = matrix.shape[1]
        if codes.size != matrix.shape[0] or codes.size == 0:
            raise StatisticsInputError(
                "y_true and score must be non-empty with one label per row of score"
            )
        if ((codes != np.floor(codes)) | (codes < 0.0) | (codes >= n_classes)).any():
            raise StatisticsInputError(
                f"`y_true` must hold integer class codes 0..{n_classes - 1}, one per column "
                "of `score`; encode the labels as positions in the model's classes_ first."
            )
        p = matrix.max(axis=1)
        y = np.asarray(np.argmax(matrix, axis=1) == codes.astype(np.int64), dtype=np.float64)
    else:
        y = _as_float_vector("y_true", y_true)
        p = _as_float_vector("score", raw)
    if y.shape != p.shape or y.size == 0:
        raise StatisticsInputError("y_true and score must be non-empty and of equal length")
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins).astype(float)
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    filled = counts > 0
    gaps = np.abs(sum_y[filled] - sum_p[filled])
    return float(gaps.sum() / y.size)
