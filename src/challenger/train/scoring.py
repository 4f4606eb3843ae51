"""How a fold is scored: the training target and the task's fold metrics on validation rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from challenger import metrics
from challenger.problem import (
    class_labels,
    encode_target,
    model_scores,
)


def training_target(values: pd.Series, task: str, target: str) -> np.ndarray:
    """The target as models are trained on it: 0/1, the original class labels, or floats."""
    if task == "multiclass":
        return np.asarray(values.to_numpy())
    return encode_target(values, task, target)


def score_fold(
    y_true: np.ndarray,
    scores: np.ndarray,
    task: str,
    names: Sequence[str],
    classes: Sequence[Any] = (0, 1),
) -> dict[str, float]:
    """Metrics of one fold's predictions, natural orientation.

    The definitions are the metric catalogue's (:mod:`challenger.metrics`), shared with
    the gate and the reports.

    Args:
        y_true: The fold's truth (labels or targets).
        scores: What the model said (see :func:`challenger.tasks.model_scores`).
        task: binary, multiclass or regression.
        names: Catalogue metric names.
        classes: Classification: the labels in the order of the score columns.
    """
    y_true = np.asarray(y_true)
    if task == "regression":
        return {m: metrics.regression(m, y_true, scores) for m in names}
    return {m: metrics.classification(m, y_true, scores, classes) for m in names}


def pipeline_scores(pipe: Any, X: pd.DataFrame, task: str, classes: Sequence[Any]) -> np.ndarray:
    return model_scores(pipe, X, task, classes if task == "multiclass" else None)


def fold_classes(y: np.ndarray, task: str) -> tuple[Any, ...]:
    return class_labels(y) if task == "multiclass" else (0, 1)
