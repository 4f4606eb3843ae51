"""What kind of prediction a model makes, and everything that depends on it, in one place.

Three tasks, set by ``data.task``:

* ``binary`` — labels 0/1; a model's *scores* are its probability of class 1, one per row.
* ``multiclass`` — any labels (strings or numbers); the scores are an (n, k) matrix of
  class probabilities, columns in the order of the sorted class labels, and the labels the
  statistics see are their integer codes 0..k-1.
* ``regression`` — a numeric target; the scores are the predictions.

Training, the gate, monitoring and the reports all go through :func:`model_scores` and
:func:`encode_target`, so "what the model said" and "what the truth was" mean the same
thing everywhere. Which metrics each task can be judged on is the metric catalogue's to say
(:mod:`challenger.metrics`: ``tasks``, ``primary``, ``fold`` and ``secondary`` of each entry).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

import numpy as np

from challenger.errors import DataError

if TYPE_CHECKING:  # imported where used: the metric catalogue (and config checks) stay light
    import pandas as pd

Task = Literal["binary", "multiclass", "regression"]
TASKS: Final[tuple[str, ...]] = get_args(Task)


def is_classification(task: str) -> bool:
    """Binary or multiclass."""
    return task in ("binary", "multiclass")


def class_labels(values: pd.Series | np.ndarray | Sequence[Any]) -> tuple[Any, ...]:
    """The distinct labels, sorted (the column order of every probability matrix)."""
    import pandas as pd

    uniq = pd.unique(pd.Series(values).dropna())
    return tuple(sorted((_plain(v) for v in uniq), key=_key))


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _key(v: Any) -> tuple[int, Any]:
    # numbers before strings, each in natural order; never compares a str with an int
    return (0, v) if isinstance(v, int | float) else (1, str(v))


def regression_target(values: pd.Series, target: str) -> np.ndarray:
    """A regression target as floats.

    Raises:
        DataError: The target holds text (names the column and shows a value).
    """
    import pandas as pd

    numeric = pd.to_numeric(values, errors="coerce")
    text = numeric.isna() & values.notna()
    if text.any():
        first = _plain(values[text].iloc[0])
        raise DataError(
            f"regression target {target!r} has text in {int(text.sum())} rows (e.g. {first!r}); "
            "a regression target must be numbers — clean the column or set data.task"
        )
    return np.asarray(numeric.to_numpy(dtype=float))


def encode_target(
    values: pd.Series, task: str, target: str, classes: Sequence[Any] | None = None
) -> np.ndarray:
    """The truth as the statistics read it: 0/1, class codes 0..k-1, or floats.

    Args:
        values: The target column.
        task: binary, multiclass or regression.
        target: Its name, for messages.
        classes: Multiclass: the class labels in code order (from the models).

    Raises:
        DataError: Text in a regression target, a binary label other than 0/1, or a
            multiclass label neither model knows.
    """
    if task == "regression":
        return regression_target(values, target)
    if task == "binary":
        bad = ~values.isin([0, 1, True, False])
        if bad.any():
            raise DataError(
                f"binary target {target!r} must hold 0 and 1; found {_plain(values[bad].iloc[0])!r} "
                f"in {int(bad.sum())} rows (set data.task: multiclass for more classes)"
            )
        return np.asarray(values.to_numpy().astype(int))
    if classes is None:
        raise ValueError("multiclass targets need the class labels to encode them")
    index = {c: i for i, c in enumerate(classes)}
    codes = np.fromiter(
        (index.get(_plain(v), -1) for v in values),
        dtype=np.int64,
        count=len(values),
    )
    if (codes < 0).any():
        unknown = sorted({str(v) for v, c in zip(values, codes, strict=True) if c < 0})
        raise DataError(
            f"target {target!r} has classes the models were not trained on: {unknown[:5]}; "
            f"known classes: {[str(c) for c in classes]}"
        )
    return codes


def model_classes(model: Any) -> tuple[Any, ...]:
    """The class labels a fitted classifier (or a Pipeline ending in one) knows."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        raise ValueError(f"{type(model).__name__} has no classes_; is it a fitted classifier?")
    return tuple(_plain(c) for c in classes)


def model_scores(
    model: Any, X: pd.DataFrame, task: str, classes: Sequence[Any] | None = None
) -> np.ndarray:
    """What a model says about each row, in the task's form (see the module docstring).

    Args:
        model: A fitted scikit-learn estimator or Pipeline.
        X: Feature rows.
        task: binary, multiclass or regression.
        classes: Multiclass: the columns wanted, in order; a class the model does not know
            gets probability 0. None: the model's own classes.
    """
    if task == "regression":
        return np.asarray(model.predict(X), dtype=float).reshape(-1)
    proba = np.asarray(model.predict_proba(X), dtype=float)
    own = model_classes(model)
    if task == "binary":
        if proba.ndim == 1:
            return proba
        if 1 not in own:
            raise ValueError(f"a binary model must know class 1; it knows {list(own)}")
        return np.asarray(proba[:, own.index(1)])
    wanted = tuple(classes) if classes is not None else own
    if wanted == own:
        return proba
    out = np.zeros((len(X), len(wanted)))
    for j, c in enumerate(own):
        if c in wanted:
            out[:, wanted.index(c)] = proba[:, j]
    return out


def predict_method(task: str) -> str:
    """The estimator method the scores come from (for timing and smoke tests)."""
    return "predict" if task == "regression" else "predict_proba"


def predicted_labels(scores: np.ndarray, task: str, threshold: float = 0.5) -> np.ndarray:
    """Hard classification decisions from scores: class 1 at the threshold, or the argmax."""
    if task == "binary":
        return np.asarray((scores >= threshold).astype(int))
    if task == "multiclass":
        return np.asarray(np.argmax(scores, axis=1))
    raise ValueError("a regression has no class labels")


def valid_scores(scores: np.ndarray, n_rows: int, task: str) -> str | None:
    """Why scores are unusable (wrong shape, non-finite, not probabilities), or None."""
    if task == "multiclass":
        if scores.ndim != 2 or scores.shape[0] != n_rows:
            return f"shape {scores.shape}, not ({n_rows}, k) class probabilities"
    elif scores.shape != (n_rows,):
        return f"shape {scores.shape}, not one value per row ({n_rows},)"
    if not np.all(np.isfinite(scores)):
        return "non-finite values"
    if task != "regression" and not np.all((scores >= 0) & (scores <= 1)):
        return "values outside [0, 1]"
    return None


def shared_classes(*models: Any) -> tuple[Any, ...]:
    """Every class any of the models knows, sorted: the columns two models are compared on."""
    known: set[Any] = set()
    for m in models:
        if m is not None:
            known.update(model_classes(m))
    return tuple(sorted(known, key=_key))


def truth_and_scores(
    model: Any, X: pd.DataFrame, truth: pd.Series, task: str, target: str
) -> tuple[np.ndarray, np.ndarray]:
    """One model's scores on labelled rows, and the truth in the form the metrics read."""
    classes = model_classes(model) if task == "multiclass" else None
    return encode_target(truth, task, target, classes), model_scores(model, X, task, classes)


def scoreable(y: np.ndarray, task: str) -> bool:
    """Whether a window of truth can be scored at all (two classes, or some variation)."""
    if task == "regression":
        return bool(np.ptp(y) > 0) if y.size else False
    return bool(np.unique(y).size >= 2)


def target_kind(task: str) -> Literal["binary", "categorical", "numeric"]:
    """The validation suite's column kind for the target."""
    if task == "binary":
        return "binary"
    return "categorical" if task == "multiclass" else "numeric"


def prediction_for_drift(model: Any, X: pd.DataFrame, task: str) -> np.ndarray:
    """The one prediction column drift detection compares: P(class 1), the class, or the value."""
    if task == "multiclass":
        return np.asarray(model.predict(X)).astype(str)
    return model_scores(model, X, task)
