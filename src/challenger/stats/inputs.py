"""Validated inputs of the paired statistics: labels, scores, probability matrices, groups.

Which metrics the statistics compute, and what each one expects, is read from the metric
catalogue (:mod:`challenger.metrics`): its primary metrics, their family, tasks and
whether they need probabilities."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from challenger.errors import StatisticsInputError
from challenger.metrics import CATALOGUE, Metric, primary_metrics

FloatArray = NDArray[np.float64]


IntArray = NDArray[np.int64]


#: Fewest resampling units (rows, or groups with ``groups=``) a bootstrap accepts.
MIN_UNITS: Final = 10


#: Largest |row sum − 1| accepted in a multiclass probability matrix (float32 models are
#: off by ~1e-7; logits or unnormalised scores by far more).
_ROW_SUM_TOLERANCE: Final = 1e-4


def paired_metric(metric: str) -> Metric:
    """The catalogue entry of a metric the paired statistics compute (a primary metric).

    Raises:
        StatisticsInputError: The metric is not in the catalogue, or the gate cannot
            decide on it (no paired bootstrap, e.g. ``pr_auc``).
    """
    entry = CATALOGUE.get(metric)
    if entry is None or not entry.primary:
        known = ", ".join(sorted(primary_metrics()))
        raise StatisticsInputError(f"Unknown metric {metric!r}; use one of: {known}.")
    return entry


def metric_task_support(metric: str) -> frozenset[str]:
    """Which of "binary", "multiclass" and "regression" a metric of the statistics accepts.

    The catalogue's ``tasks``: every classification metric here (accuracy, balanced
    accuracy, macro F1, log loss, Brier, ROC AUC) takes both binary and multiclass inputs;
    regression metrics take only regression inputs.

    Raises:
        StatisticsInputError: The metric is not a primary metric of the catalogue.
    """
    return frozenset(paired_metric(metric).tasks)


def as_float_vector(name: str, values: ArrayLike) -> FloatArray:
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
    if paired_metric(metric).family != "classification":
        return
    if not np.isin(y, (0.0, 1.0)).all():
        found = np.unique(y)[:5].tolist()
        raise StatisticsInputError(
            f"`y_true` for {metric} must hold only 0 and 1 (1 = positive class); found "
            f"values such as {found}; encode the labels as 0/1 first (for k ≥ 3 classes "
            "pass class codes 0..k−1 and (n, k) probability matrices as the scores)."
        )


def _validate_scores(metric: str, name: str, score: FloatArray) -> None:
    probabilities = paired_metric(metric).needs_scores and metric != "roc_auc"
    if probabilities and score.size and (score.min() < 0.0 or score.max() > 1.0):
        raise StatisticsInputError(
            f"`{name}` for {metric} must be probabilities in [0, 1]; found values in "
            f"[{score.min():g}, {score.max():g}]; pass predict_proba(...)[:, 1]."
        )


def validate_classes(
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


def validate_pair(
    metric: str, y_true: ArrayLike, score_champion: ArrayLike, score_challenger: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    y = as_float_vector("y_true", y_true)
    s0 = as_float_vector("score_champion", score_champion)
    s1 = as_float_vector("score_challenger", score_challenger)
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


def as_probability_matrix(metric: str, name: str, values: NDArray[Any]) -> FloatArray:
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


def prepare(
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
        return validate_pair(metric, y_true, raw[0], raw[1])
    if paired_metric(metric).family != "classification":
        raise StatisticsInputError(
            f"{metric} is a regression metric: pass one prediction per row (a one-dimensional "
            f"array); got {_describe_score(raw[0])} and {_describe_score(raw[1])}."
        )
    scores: list[FloatArray] = []
    for name, array in zip(names, raw, strict=True):
        if array.ndim == 2:
            matrix = as_probability_matrix(metric, name, array)
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
        return validate_pair(metric, y_true, s0, s1)
    if "multiclass" not in metric_task_support(metric):
        raise StatisticsInputError(
            f"{metric} is defined for binary labels only; use f1_macro, balanced_accuracy, "
            "log_loss, brier, accuracy or roc_auc for multiclass."
        )
    y = as_float_vector("y_true", y_true)
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


def group_codes(groups: ArrayLike | None, n_rows: int) -> tuple[IntArray | None, int]:
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
