"""Cross-validation splits for every configured strategy, materialised before any training.

Splits are computed once, as integer row positions, so that every fold of every candidate
uses the same rows (a paired comparison of candidates), so that leakage guards can inspect
them before anything is fitted, and so that folds can be shipped to parallel workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    LeaveOneOut,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
    TimeSeriesSplit,
    train_test_split,
)

from challenger.config import CVConfig
from challenger.errors import ConfigError, DataError
from challenger.problem import is_classification

#: Strategies whose validation rows are newer than their training rows by construction.
TIME_ORDERED = ("time_series",)


@dataclass(frozen=True)
class Split:
    """One fold: training and validation row positions."""

    index: int
    train: np.ndarray
    test: np.ndarray
    repeat: int = 0


@dataclass(frozen=True)
class SplitPlan:
    """Every fold of one strategy, and how to read the scores they produce.

    Attributes:
        strategy: The resolved strategy (never ``auto``).
        n_splits: Folds per repetition (1 for holdout, n rows for leave-one-out).
        n_repeats: Repetitions (repeated_kfold), else 1.
        splits: The folds, in order.
        pooled: True when single folds cannot be scored (leave-one-out): the metrics are
            computed once on the pooled out-of-fold predictions.
        time_ordered: Validation rows are newer than training rows (time-ordered holdout or
            time_series split).
    """

    strategy: str
    n_splits: int
    n_repeats: int
    splits: tuple[Split, ...]
    pooled: bool = False
    time_ordered: bool = False

    @property
    def label(self) -> str:
        """E.g. ``stratified_kfold(k=5)`` or ``repeated_kfold(k=5x3)``."""
        if self.strategy == "holdout":
            return "holdout"
        if self.n_repeats > 1:
            return f"{self.strategy}(k={self.n_splits}x{self.n_repeats})"
        return f"{self.strategy}(k={self.n_splits})"


def resolve_strategy(cv: CVConfig, timestamp: str | None, task: str) -> str:
    """The strategy ``auto`` stands for: time_series with a timestamp, else (stratified) k-fold."""
    if cv.strategy != "auto":
        return cv.strategy
    if timestamp:
        return "time_series"
    return "stratified_kfold" if is_classification(task) else "kfold"


def instants(timestamps: pd.Series) -> np.ndarray:
    """Timestamps as ``datetime64[ns]`` (zone-aware ones as UTC), to sort and compare.

    A zone-aware column's own ``to_numpy()`` is an object array of ``Timestamp``s, which
    sorts and compares in Python (about 0.5 s for 200,000 rows); the UTC instants order
    exactly as the zone-aware values do.
    """
    parsed = pd.to_datetime(timestamps)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return np.asarray(parsed.to_numpy())


def time_order(timestamps: pd.Series) -> np.ndarray:
    """Row positions oldest first; rows with the same time keep their order."""
    return np.argsort(instants(timestamps), kind="stable")


def _time_order(timestamps: pd.Series | None, n: int) -> np.ndarray:
    return np.arange(n) if timestamps is None else time_order(timestamps)


def make_splits(
    cv: CVConfig,
    y: np.ndarray,
    *,
    task: str,
    seed: int,
    timestamps: pd.Series | None = None,
    groups: pd.Series | None = None,
    n_splits: int | None = None,
    strategy: str | None = None,
) -> SplitPlan:
    """Materialise the folds of the configured strategy.

    Args:
        cv: The ``training.cv`` section.
        y: The target, one value per row.
        task: ``binary``, ``multiclass`` or ``regression``.
        seed: Seed of every shuffle.
        timestamps: The ``data.timestamp`` column (time-ordered strategies sort by it).
        groups: The ``training.cv.group_column`` values (group_kfold).
        n_splits: Overrides ``cv.n_splits`` (k-sensitivity).
        strategy: Overrides the resolved strategy (already resolved by the caller).

    Raises:
        ConfigError: The strategy cannot run on this data as configured (leave-one-out above
            ``max_loo_rows``, group_kfold without a group column, more folds than groups).
        DataError: Too few rows or classes for the folds.
    """
    name = strategy or resolve_strategy(
        cv, timestamps.name if timestamps is not None else None, task
    )
    k = n_splits or cv.n_splits
    n = len(y)
    idx = np.arange(n)
    shuffle_seed = seed if cv.shuffle else None
    classify = is_classification(task)
    if n < 2:
        raise DataError(f"the training data has {n} row(s); cross-validation needs at least 2")
    pairs: list[tuple[np.ndarray, np.ndarray, int]]
    pooled = time_ordered = False
    repeats = 1
    if name == "holdout":
        n_test = max(1, round(n * cv.test_fraction))
        if timestamps is not None:
            order = _time_order(timestamps, n)
            pairs = [(np.sort(order[: n - n_test]), np.sort(order[n - n_test :]), 0)]
            time_ordered = True
        else:
            strat = y if classify and np.min(np.unique(y, return_counts=True)[1]) >= 2 else None
            tr, te = train_test_split(idx, test_size=n_test, random_state=seed, stratify=strat)
            pairs = [(np.sort(tr), np.sort(te), 0)]
        k = 1
    elif name == "kfold":
        _enough_rows(n, k, name)
        kf = KFold(n_splits=k, shuffle=cv.shuffle, random_state=shuffle_seed)
        pairs = [(tr, te, 0) for tr, te in kf.split(idx)]
    elif name == "stratified_kfold":
        _enough_rows(n, k, name)
        if not classify:
            raise ConfigError(
                "training.cv.strategy stratified_kfold needs a classification target; use kfold for regression"
            )
        _enough_per_class(y, k, "training.cv.n_splits")
        skf = StratifiedKFold(n_splits=k, shuffle=cv.shuffle, random_state=shuffle_seed)
        pairs = [(tr, te, 0) for tr, te in skf.split(idx, y)]
    elif name == "repeated_kfold":
        _enough_rows(n, k, name)
        repeats = cv.n_repeats
        rkf: RepeatedKFold | RepeatedStratifiedKFold
        if classify:
            _enough_per_class(y, k, "training.cv.n_splits")
            rkf = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed)
        else:
            rkf = RepeatedKFold(n_splits=k, n_repeats=repeats, random_state=seed)
        pairs = [(tr, te, i // k) for i, (tr, te) in enumerate(rkf.split(idx, y))]
    elif name == "leave_one_out":
        if n > cv.max_loo_rows:
            raise ConfigError(
                f"training.cv.strategy leave_one_out would fit {n} models on {n} training rows, above "
                f"training.cv.max_loo_rows={cv.max_loo_rows}; use kfold or raise max_loo_rows"
            )
        pairs = [(tr, te, 0) for tr, te in LeaveOneOut().split(idx)]
        k, pooled = n, True
    elif name == "group_kfold":
        if groups is None:
            raise ConfigError(
                "training.cv.strategy group_kfold needs training.cv.group_column naming a column of the data"
            )
        n_groups = int(pd.Series(groups).nunique())
        if n_groups < k:
            raise ConfigError(
                f"training.cv.group_column {groups.name!r} has {n_groups} groups, fewer than "
                f"training.cv.n_splits={k}; lower n_splits or choose another column"
            )
        gkf = GroupKFold(n_splits=k, shuffle=cv.shuffle, random_state=shuffle_seed)
        pairs = [(tr, te, 0) for tr, te in gkf.split(idx, y, groups.to_numpy())]
    elif name == "time_series":
        order = _time_order(timestamps, n)
        if n - cv.gap < 2 * k or n // (k + 1) - cv.gap < 1:
            raise DataError(
                f"time_series with training.cv.n_splits={k} and gap={cv.gap} needs more than "
                f"{2 * k + cv.gap} training rows; found {n}"
            )
        tss = TimeSeriesSplit(n_splits=k, gap=cv.gap)
        pairs = [(np.sort(order[tr]), np.sort(order[te]), 0) for tr, te in tss.split(idx)]
        time_ordered = True
    else:
        raise ConfigError(
            f"training.cv.strategy {name!r} is unknown; use holdout, kfold, stratified_kfold, "
            "leave_one_out, group_kfold, time_series or repeated_kfold"
        )
    splits = tuple(Split(i, tr, te, rep) for i, (tr, te, rep) in enumerate(pairs))
    if classify:
        _folds_have_classes(splits, y, name, pooled)
    return SplitPlan(name, k, repeats, splits, pooled, time_ordered)


def _enough_rows(n: int, k: int, name: str) -> None:
    if n < k:
        raise DataError(
            f"{name} with training.cv.n_splits={k} needs at least {k} training rows; found {n}"
        )


def _enough_per_class(y: np.ndarray, k: int, key: str) -> None:
    values, counts = np.unique(y, return_counts=True)
    rare = counts < k
    if rare.any():
        i = int(np.argmax(rare))
        raise DataError(
            f"class {values[i].item()!r} of the target has {int(counts[i])} rows, fewer than {key}={k}; "
            "lower n_splits or add data"
        )


def _folds_have_classes(splits: tuple[Split, ...], y: np.ndarray, name: str, pooled: bool) -> None:
    """Each training fold needs every class, and (unless pooled) each validation fold two."""
    n_classes = np.unique(y).size
    for s in splits:
        if np.unique(y[s.train]).size < n_classes:
            raise DataError(
                f"fold {s.index} of {name} trains on {np.unique(y[s.train]).size} of the target's "
                f"{n_classes} classes; use fewer training.cv.n_splits, another strategy or more data"
            )
        if not pooled and np.unique(y[s.test]).size < 2:
            raise DataError(
                f"fold {s.index} of {name} validates on a single class, so ROC AUC is undefined; "
                "use fewer training.cv.n_splits, another strategy or more data"
            )
