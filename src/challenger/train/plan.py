"""The training plan: everything checked before any fit, and the independent fold jobs a flow spreads over workers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from challenger.config import CandidateConfig, Settings
from challenger.errors import DataError
from challenger.problem import (
    encode_target,
    regression_target,
)
from challenger.train.folds import Split, SplitPlan, make_splits, resolve_strategy
from challenger.train.leakage import Finding, check_leakage
from challenger.train.pipeline import check_candidates, parameter_sets
from challenger.train.scoring import training_target


def check_training_frame(df: pd.DataFrame, settings: Settings) -> None:
    """Refuse data that cannot train a model, before any training starts.

    Raises:
        DataError: Missing target or feature columns, too few rows, a single class, a
            class with fewer rows than CV folds, a binary target other than 0/1, or text in
            a regression target.
    """
    data = settings.data
    if df.empty:
        raise DataError("the training data is empty; it needs labelled rows")
    if data.target not in df.columns:
        raise DataError(
            f"the training data has no target column {data.target!r}; it needs labels to train on"
        )
    missing = [c for c in data.features if c not in df.columns]
    if missing:
        raise DataError(
            f"the training data lacks feature columns {missing}; they are listed in challenger.yaml under data"
        )
    y = df[data.target]
    if y.isna().any():
        raise DataError(
            f"{int(y.isna().sum())} rows have no value in target {data.target!r}; drop or label them first"
        )
    k = settings.training.cv.n_splits
    group = settings.training.cv.group_column
    if group is not None and group not in df.columns:
        raise DataError(
            f"training.cv.group_column {group!r} is not a column of the training data; name an existing column"
        )
    if data.task == "regression":
        values = regression_target(y, data.target)
        if np.ptp(values) == 0:
            raise DataError(
                f"regression target {data.target!r} is constant ({values[0]:g}); there is nothing to learn"
            )
        return
    if data.task == "binary":
        encode_target(y, "binary", data.target)
    counts = y.value_counts()
    if len(counts) < 2:
        raise DataError(
            f"target {data.target!r} has a single class ({counts.index[0]!r}); a classifier needs two"
        )
    rare = counts[counts < k]
    if not rare.empty:
        raise DataError(
            f"class {rare.index[0]!r} of target {data.target!r} has {int(rare.iloc[0])} rows, fewer than "
            f"training.cv.n_splits={k}; lower n_splits or add data"
        )


@dataclass(frozen=True)
class FoldJob:
    """One independent unit of training work: a parameter set of a candidate on one fold.

    With ``nested`` the job runs the candidate's whole search on the fold's training rows
    (inner CV) and scores the chosen parameters on its validation rows.
    """

    candidate: CandidateConfig
    param_index: int
    params: dict[str, Any]
    split: Split
    nested: bool = False
    k: int | None = None  # k-sensitivity estimate this job belongs to; None: the main one

    @property
    def label(self) -> str:
        """Readable id, e.g. ``logistic_regression/p0/fold3``."""
        k = f"/k{self.k}" if self.k is not None else ""
        return f"{self.candidate.name}{k}/p{self.param_index}/fold{self.split.index}"


@dataclass(frozen=True)
class FoldOutcome:
    """What one fold job produced."""

    candidate: str
    param_index: int
    fold: int
    k: int | None
    params: dict[str, Any]  # the parameters scored (nested: the inner search's choice)
    scores: dict[str, float]  # empty when the plan is pooled (leave-one-out)
    seconds: float
    model_bytes: int | None = None  # pickled size of the fitted pipeline (first fold only)
    inner_score: float | None = None  # nested: best inner CV score of the primary metric
    test_index: np.ndarray | None = None  # pooled plans: validation rows ...
    test_scores: np.ndarray | None = None  # ... and their predicted probabilities


@dataclass(frozen=True)
class TrainingPlan:
    """The checked training data, its folds, the leakage warnings and the fold jobs."""

    X: pd.DataFrame
    y: np.ndarray
    splits: SplitPlan
    candidates: tuple[CandidateConfig, ...]
    jobs: tuple[FoldJob, ...]
    warnings: tuple[Finding, ...] = ()
    groups: np.ndarray | None = None
    timestamps: pd.Series | None = field(default=None, repr=False)

    @property
    def fold_sizes(self) -> tuple[int, int]:
        """Mean training and validation rows per fold."""
        tr = [len(s.train) for s in self.splits.splits]
        te = [len(s.test) for s in self.splits.splits]
        return max(1, round(float(np.mean(tr)))), max(1, round(float(np.mean(te))))


def fold_jobs(
    candidates: Sequence[CandidateConfig],
    splits: SplitPlan,
    settings: Settings,
    k: int | None = None,
    fixed: dict[str, dict[str, Any]] | None = None,
) -> tuple[FoldJob, ...]:
    jobs = []
    nested = settings.training.cv.nested
    for c in candidates:
        if fixed is not None:  # k-sensitivity: the chosen parameters, no search
            sets, is_nested = [fixed.get(c.name, {})], False
        elif nested and c.search != "none":
            sets, is_nested = [{}], True
        else:
            sets, is_nested = parameter_sets(c, settings.project.seed), False
        for i, ps in enumerate(sets):
            for s in splits.splits:
                jobs.append(FoldJob(c, i, ps, s, is_nested, k))
    return tuple(jobs)


def plan_training(
    train: pd.DataFrame, settings: Settings, candidates: Sequence[CandidateConfig]
) -> TrainingPlan:
    """Check everything that can be checked before any fit, and list the fold jobs.

    The rows are put in time order when ``data.timestamp`` is a column, so that time-ordered
    folds and inner splits read forwards.

    Raises:
        ConfigError: Unknown estimator path or parameter, a strategy that cannot run here.
        DataError: Unusable data, a fold without a class, or a leakage guard that refuses.
    """
    d, cv = settings.data, settings.training.cv
    check_training_frame(train, settings)
    check_candidates(candidates, settings)
    ts_col = d.timestamp if d.timestamp and d.timestamp in train.columns else None
    frame = (
        train.sort_values(ts_col, kind="stable", ignore_index=True)
        if ts_col
        else train.reset_index(drop=True)
    )
    X = frame[list(d.features)]
    y = training_target(frame[d.target], d.task, d.target)
    timestamps = frame[ts_col] if ts_col else None
    groups = frame[cv.group_column] if cv.group_column else None
    strategy = resolve_strategy(cv, ts_col, d.task)
    splits = make_splits(
        cv, y, task=d.task, seed=settings.project.seed, timestamps=timestamps,
        groups=groups, strategy=strategy,
    )  # fmt: skip
    warnings = check_leakage(
        X, y, splits, settings.training.leakage, task=d.task, numeric=d.numeric,
        timestamps=timestamps,
    )  # fmt: skip
    return TrainingPlan(
        X,
        y,
        splits,
        tuple(candidates),
        fold_jobs(candidates, splits, settings),
        warnings,
        groups.to_numpy() if groups is not None else None,
        timestamps,
    )
