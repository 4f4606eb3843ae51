"""Calibration of probabilistic scores."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from challenger.errors import StatisticsInputError
from challenger.stats.inputs import as_float_vector, as_probability_matrix


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
        matrix = as_probability_matrix("expected_calibration_error", "score", raw)
        codes = as_float_vector("y_true", y_true)
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
        y = as_float_vector("y_true", y_true)
        p = as_float_vector("score", raw)
    if y.shape != p.shape or y.size == 0:
        raise StatisticsInputError("y_true and score must be non-empty and of equal length")
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins).astype(float)
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    filled = counts > 0
    gaps = np.abs(sum_y[filled] - sum_p[filled])
    return float(gaps.sum() / y.size)
