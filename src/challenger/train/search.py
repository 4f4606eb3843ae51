"""Hyper-parameter search scored by the metric catalogue, and the inner CV of nested search."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    RandomizedSearchCV,
    StratifiedKFold,
    TimeSeriesSplit,
)

from challenger import metrics
from challenger.config import CandidateConfig, Settings
from challenger.problem import (
    is_classification,
)
from challenger.train.pipeline import build_pipeline, parameter_sets, plain
from challenger.train.scoring import fold_classes, pipeline_scores, score_fold


def catalogue_scorer(metric: str, task: str, classes: Sequence[Any]) -> Any:
    """A scikit-learn scorer (estimator, X, y) -> score computed by the metric catalogue.

    Searches rank parameter sets with the same definition the folds are reported with;
    losses are negated so that higher is better, as scikit-learn expects.
    """
    sign = metrics.sign(metric)

    def scorer(estimator: Any, X: pd.DataFrame, y: np.ndarray) -> float:
        values = score_fold(
            np.asarray(y), pipeline_scores(estimator, X, task, classes), task, (metric,), classes
        )
        return sign * values[metric]

    return scorer


def _inner_cv(
    strategy: str, settings: Settings, groups: np.ndarray | None
) -> KFold | StratifiedKFold | TimeSeriesSplit | GroupKFold:
    cv, seed = settings.training.cv, settings.project.seed
    k = cv.inner_splits
    if strategy == "time_series":
        return TimeSeriesSplit(n_splits=k, gap=cv.gap)
    if strategy == "group_kfold" and groups is not None:
        return GroupKFold(n_splits=k)
    if is_classification(settings.data.task):
        return StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return KFold(n_splits=k, shuffle=True, random_state=seed)


def search_on(
    candidate: CandidateConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    settings: Settings,
    strategy: str,
    groups: np.ndarray | None = None,
) -> tuple[dict[str, Any], float]:
    """Run the candidate's search with the inner CV on these rows.

    Returns:
        The chosen parameters and their mean inner CV score (natural orientation).
    """
    d, seed = settings.data, settings.project.seed
    pipe = build_pipeline(
        candidate, d.numeric, d.categorical, seed, task=d.task,
        allowed_modules=settings.training.allowed_modules,
    )  # fmt: skip
    metric = settings.training.primary_metric
    scorer, sign = catalogue_scorer(metric, d.task, fold_classes(y, d.task)), metrics.sign(metric)
    inner = _inner_cv(strategy, settings, groups)
    space = {f"model__{k}": v for k, v in candidate.search_space.items()}
    search: GridSearchCV | RandomizedSearchCV
    if candidate.search == "grid":
        search = GridSearchCV(pipe, space, scoring=scorer, cv=inner, refit=False, n_jobs=1)
    else:
        sets = parameter_sets(candidate, seed)
        as_lists = {k: [ps[k.removeprefix("model__")] for ps in sets] for k in space}
        # The same seeded draws as the non-nested search, tried as an explicit list.
        search = GridSearchCV(
            pipe,
            [{k: [v[i]] for k, v in as_lists.items()} for i in range(len(sets))],
            scoring=scorer,
            cv=inner,
            refit=False,
            n_jobs=1,
        )
    search.fit(X, y, groups=groups)
    best = {k.removeprefix("model__"): plain(v) for k, v in search.best_params_.items()}
    return best, float(sign * search.best_score_)
