"""Candidate training: pipelines, cross-validation and the choice of the best candidate.

Every candidate is a scikit-learn Pipeline that carries its own preprocessing, so nothing
is fitted outside a fold. The best candidate is chosen on its cross-validated estimate of
the primary metric, then refitted on the whole training window.
"""

from __future__ import annotations

import importlib
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from challenger.config import CandidateConfig, Settings
from challenger.errors import ConfigError, DataError
from challenger.stats import corrected_resampled_ttest

# scikit-learn scorer names; losses are negated by scikit-learn and flipped back here.
SCORERS: dict[str, tuple[str, float]] = {
    "roc_auc": ("roc_auc", 1.0),
    "accuracy": ("accuracy", 1.0),
    "log_loss": ("neg_log_loss", -1.0),
    "brier": ("neg_brier_score", -1.0),
}
HIGHER_IS_BETTER = {"roc_auc": True, "accuracy": True, "log_loss": False, "brier": False}


@dataclass(frozen=True)
class CVResult:
    """One candidate's cross-validated scores."""

    candidate: str
    estimator: str
    params: dict[str, Any]
    strategy: str
    n_splits: int
    fold_scores: dict[str, tuple[float, ...]]  # metric -> one score per fold
    fit_seconds: float

    def mean(self, metric: str) -> float:
        """Mean over folds."""
        return float(np.mean(self.fold_scores[metric]))

    def std(self, metric: str) -> float:
        """Standard deviation over folds (ddof=1)."""
        return float(np.std(self.fold_scores[metric], ddof=1))


def import_estimator(path: str) -> type[BaseEstimator]:
    """Import an estimator class from its dotted path.

    Raises:
        ConfigError: The module or class does not exist, or is not an estimator.
    """
    module_name, _, cls_name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"estimator {path!r}: cannot import module {module_name!r} ({exc})"
        ) from exc
    cls = getattr(module, cls_name, None)
    if cls is None or not isinstance(cls, type):
        raise ConfigError(f"estimator {path!r}: module {module_name!r} has no class {cls_name!r}")
    if not hasattr(cls, "fit") or not hasattr(cls, "get_params"):
        raise ConfigError(f"estimator {path!r} is not a scikit-learn compatible estimator")
    return cls


def build_pipeline(
    candidate: CandidateConfig, numeric: tuple[str, ...], categorical: tuple[str, ...], seed: int
) -> Pipeline:
    """The candidate's estimator behind its preprocessing, as one Pipeline.

    Raises:
        ConfigError: A parameter the estimator does not take.
    """
    cls = import_estimator(candidate.estimator)
    accepted = set(cls().get_params())
    unknown = sorted(set(candidate.params) - accepted)
    if unknown:
        raise ConfigError(
            f"training.candidates[{candidate.name}].params: {candidate.estimator} does not take {unknown}"
        )
    params = dict(candidate.params)
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = seed
    estimator = cls(**params)
    if not isinstance(estimator, ClassifierMixin) and not hasattr(estimator, "predict_proba"):
        raise ConfigError(
            f"estimator {candidate.estimator!r} is not a classifier with predict_proba"
        )
    pre = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                list(numeric),
            ),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                list(categorical),
            ),
        ]
    )
    return Pipeline([("preprocess", pre), ("model", estimator)])


def check_training_frame(df: pd.DataFrame, settings: Settings) -> None:
    """Refuse data that cannot train a model, before any training starts.

    Raises:
        DataError: Missing target or feature columns, too few rows, a single class, or a
            class with fewer rows than CV folds.
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
    counts = y.value_counts()
    if len(counts) < 2:
        raise DataError(
            f"target {data.target!r} has a single class ({counts.index[0]!r}); a classifier needs two"
        )
    k = settings.training.cv.n_splits
    rare = counts[counts < k]
    if not rare.empty:
        raise DataError(
            f"class {rare.index[0]!r} of target {data.target!r} has {int(rare.iloc[0])} rows, fewer than "
            f"training.cv.n_splits={k}; lower n_splits or add data"
        )


def cross_validate_candidate(
    candidate: CandidateConfig, X: pd.DataFrame, y: np.ndarray, settings: Settings
) -> CVResult:
    """Stratified k-fold cross-validation of one candidate on every metric in SCORERS."""
    pipe = build_pipeline(
        candidate, settings.data.numeric, settings.data.categorical, settings.project.seed
    )
    cv_cfg = settings.training.cv
    splitter = StratifiedKFold(
        n_splits=cv_cfg.n_splits,
        shuffle=cv_cfg.shuffle,
        random_state=settings.project.seed if cv_cfg.shuffle else None,
    )
    t0 = time.perf_counter()
    out = cross_validate(
        pipe, X, y, cv=splitter, scoring={m: s for m, (s, _) in SCORERS.items()}, n_jobs=1
    )
    elapsed = time.perf_counter() - t0
    folds = {
        m: tuple(float(sign * v) for v in out[f"test_{m}"]) for m, (_, sign) in SCORERS.items()
    }
    return CVResult(
        candidate=candidate.name,
        estimator=candidate.estimator,
        params=dict(candidate.params),
        strategy=cv_cfg.strategy,
        n_splits=cv_cfg.n_splits,
        fold_scores=folds,
        fit_seconds=elapsed,
    )


def choose_best(results: tuple[CVResult, ...], metric: str) -> CVResult:
    """The candidate with the best mean CV score (ties: the first listed)."""
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    return max(results, key=lambda r: sign * r.mean(metric))


@dataclass(frozen=True)
class FittedModel:
    """The final fit of the chosen candidate, with what it cost."""

    model: Pipeline
    seconds: float
    peak_memory_mb: float


def compare_best_with_runner_up(
    results: tuple[CVResult, ...], best: CVResult, metric: str, n_rows: int
) -> dict[str, Any] | None:
    """Is the best candidate really better than the runner-up on the same folds?

    Uses the Nadeau–Bengio corrected resampled t-test (never the naive k-fold t-test,
    whose folds share training rows). None with a single candidate.
    """
    others = [r for r in results if r is not best]
    if not others:
        return None
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    runner = max(others, key=lambda r: sign * r.mean(metric))
    k = best.n_splits
    test = corrected_resampled_ttest(
        sign * np.asarray(runner.fold_scores[metric]),
        sign * np.asarray(best.fold_scores[metric]),
        n_train=max(1, n_rows * (k - 1) // k),
        n_test=max(1, n_rows // k),
    )
    return {"runner_up": runner.candidate, **test.to_dict()}


def fit_final(
    candidate: CandidateConfig, X: pd.DataFrame, y: np.ndarray, settings: Settings
) -> FittedModel:
    """Refit the chosen candidate on the whole training window, measuring time and peak memory.

    Peak memory is the largest amount traced by ``tracemalloc`` during the fit: Python and
    numpy allocations (numpy reports its buffers to tracemalloc), not the whole process.
    """
    pipe = clone(
        build_pipeline(
            candidate, settings.data.numeric, settings.data.categorical, settings.project.seed
        )
    )
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    t0 = time.perf_counter()
    try:
        pipe.fit(X, y)
    finally:
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        if not already:
            tracemalloc.stop()
    return FittedModel(pipe, seconds, max(0, peak - base) / 1e6)
