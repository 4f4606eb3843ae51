"""Candidate training: pipelines, cross-validation, search and the choice of the best.

Every candidate is a scikit-learn Pipeline that carries its own preprocessing, so nothing
is fitted outside a fold. Training runs in three pure steps that a flow can spread over
workers:

1. :func:`plan_training` checks everything that can be checked before any fit (estimator
   paths, parameters, the search space, the data, the folds of the configured strategy,
   the leakage guards) and lists the independent fold jobs;
2. :func:`run_fold` fits and scores one job (a candidate's parameter set on one fold, or
   for nested CV an inner search on one outer fold): any worker can run it;
3. :func:`summarize` turns the outcomes into one :class:`CVResult` per candidate.

The best candidate is chosen on its cross-validated estimate of the primary metric, then
refitted on the whole training window.
"""

from __future__ import annotations

import importlib
import math
import pickle
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    ParameterGrid,
    ParameterSampler,
    RandomizedSearchCV,
    StratifiedKFold,
    TimeSeriesSplit,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from challenger import metrics
from challenger.config import CandidateConfig, Settings
from challenger.errors import ConfigError, DataError
from challenger.problem import (
    class_labels,
    encode_target,
    fold_metrics,
    is_classification,
    model_scores,
    regression_target,
)
from challenger.stats import corrected_resampled_ttest
from challenger.train.folds import Split, SplitPlan, make_splits, resolve_strategy
from challenger.train.leakage import Finding, check_leakage


def _sign(metric: str) -> float:
    """+1 where higher is better, -1 for losses (from the metric catalogue)."""
    return 1.0 if metrics.info(metric).higher_is_better else -1.0


@dataclass(frozen=True)
class CVResult:
    """One candidate's cross-validated scores.

    Attributes:
        candidate: Candidate name.
        estimator: Import path of its estimator.
        params: The estimator parameters of the reported estimate (the configured ones,
            plus the best searched ones).
        strategy: The resolved CV strategy (never ``auto``).
        n_splits: Folds per repetition (1 for holdout).
        fold_scores: Metric -> one score per fold (one pooled score for leave-one-out).
        fit_seconds: Seconds spent fitting and scoring every job of this candidate.
        n_repeats: Repetitions of the folds (repeated_kfold).
        search: One row per searched parameter set (params, mean and sd of each metric,
            rank), or per outer fold for nested CV; empty without a search.
        model_size_mb: Pickled size of the pipeline fitted on the first fold.
        nested: The estimate comes from nested CV (inner search, outer folds).
    """

    candidate: str
    estimator: str
    params: dict[str, Any]
    strategy: str
    n_splits: int
    fold_scores: dict[str, tuple[float, ...]]  # metric -> one score per fold
    fit_seconds: float
    n_repeats: int = 1
    search: tuple[dict[str, Any], ...] = ()
    model_size_mb: float | None = None
    nested: bool = False

    def mean(self, metric: str) -> float:
        """Mean over folds."""
        return float(np.mean(self.fold_scores[metric]))

    def std(self, metric: str) -> float:
        """Standard deviation over folds (ddof=1); NaN with a single fold or pooled score."""
        scores = self.fold_scores[metric]
        return float(np.std(scores, ddof=1)) if len(scores) > 1 else math.nan


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


def _estimator_key(candidate: CandidateConfig) -> str:
    return f"training.candidates[{candidate.name}]"


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones (for MLflow params and JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def parameter_sets(candidate: CandidateConfig, seed: int) -> list[dict[str, Any]]:
    """The estimator parameters each searched configuration adds to ``candidate.params``.

    ``[{}]`` without a search; every combination of ``search_space`` for grid search;
    ``n_iter`` seeded draws for random search (lists are uniform choices; ``uniform``,
    ``loguniform`` and ``randint`` distributions span ``[low, high)``).
    """
    if candidate.search == "none":
        return [{}]
    if candidate.search == "grid":
        sets = list(ParameterGrid({k: list(v) for k, v in candidate.search_space.items()}))
    else:
        space: dict[str, Any] = {}
        for key, spec in candidate.search_space.items():
            if isinstance(spec, list):
                space[key] = spec
            elif spec["distribution"] == "uniform":
                space[key] = scipy_stats.uniform(spec["low"], spec["high"] - spec["low"])
            elif spec["distribution"] == "loguniform":
                space[key] = scipy_stats.loguniform(spec["low"], spec["high"])
            else:
                space[key] = scipy_stats.randint(int(spec["low"]), int(spec["high"]))
        all_lists = all(isinstance(v, list) for v in space.values())
        n_iter = candidate.n_iter
        if all_lists:  # sampling without replacement: at most the grid's size
            n_iter = min(n_iter, len(ParameterGrid(space)))
        sets = list(ParameterSampler(space, n_iter=n_iter, random_state=seed))
    return [{k: _plain(v) for k, v in ps.items()} for ps in sets]


def _instantiate(
    candidate: CandidateConfig, extra: dict[str, Any], seed: int, task: str
) -> BaseEstimator:
    cls = import_estimator(candidate.estimator)
    accepted = set(cls().get_params())
    key = _estimator_key(candidate)
    unknown = sorted(set(candidate.params) - accepted)
    if unknown:
        raise ConfigError(f"{key}.params: {candidate.estimator} does not take {unknown}")
    unknown = sorted(set(candidate.search_space) - accepted)
    if unknown:
        raise ConfigError(f"{key}.search_space: {candidate.estimator} does not take {unknown}")
    params = {**candidate.params, **extra}
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = seed
    estimator = cls(**params)
    validate = getattr(estimator, "_validate_params", None)
    if callable(validate):
        try:
            validate()
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{key}: {exc}") from exc
    if is_classification(task) and not (
        isinstance(estimator, ClassifierMixin) and hasattr(estimator, "predict_proba")
    ):
        raise ConfigError(
            f"{key}.estimator {candidate.estimator!r} is not a classifier with predict_proba; "
            f"data.task is {task}"
        )
    if task == "regression" and (
        isinstance(estimator, ClassifierMixin) or not isinstance(estimator, RegressorMixin)
    ):
        raise ConfigError(
            f"{key}.estimator {candidate.estimator!r} is not a regressor; data.task is regression "
            "(e.g. sklearn.ensemble.HistGradientBoostingRegressor, sklearn.linear_model.Ridge)"
        )
    return estimator


def build_pipeline(
    candidate: CandidateConfig,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    seed: int,
    params: dict[str, Any] | None = None,
    *,
    task: str = "binary",
) -> Pipeline:
    """The candidate's estimator behind its preprocessing, as one Pipeline.

    Args:
        candidate: The candidate's configuration.
        numeric: Numeric feature columns (median-imputed, standardised).
        categorical: Categorical feature columns (mode-imputed, one-hot encoded).
        seed: ``random_state`` of the estimator unless configured.
        params: Searched parameters added to ``candidate.params``.
        task: binary/multiclass require a classifier with ``predict_proba``, regression
            a regressor.

    Raises:
        ConfigError: A parameter the estimator does not take, or an invalid value.
    """
    estimator = _instantiate(candidate, params or {}, seed, task)
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


def check_candidates(candidates: Sequence[CandidateConfig], settings: Settings) -> None:
    """Build every candidate with every searched parameter set, fitting nothing.

    Raises:
        ConfigError: An unknown estimator path, a parameter the estimator does not take or
            a value it refuses; the message names the candidate's key.
    """
    d = settings.data
    for c in candidates:
        for ps in parameter_sets(c, settings.project.seed):
            build_pipeline(c, d.numeric, d.categorical, settings.project.seed, ps, task=d.task)


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


# ---- the plan: everything checked before any fit ---------------------------------------------


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


def _jobs(
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
        _jobs(candidates, splits, settings),
        warnings,
        groups.to_numpy() if groups is not None else None,
        timestamps,
    )


# ---- one fold ----------------------------------------------------------------------------------


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


def _scores(pipe: Any, X: pd.DataFrame, task: str, classes: Sequence[Any]) -> np.ndarray:
    return model_scores(pipe, X, task, classes if task == "multiclass" else None)


def _fold_classes(y: np.ndarray, task: str) -> tuple[Any, ...]:
    return class_labels(y) if task == "multiclass" else (0, 1)


def catalogue_scorer(metric: str, task: str, classes: Sequence[Any]) -> Any:
    """A scikit-learn scorer (estimator, X, y) -> score computed by the metric catalogue.

    Searches rank parameter sets with the same definition the folds are reported with;
    losses are negated so that higher is better, as scikit-learn expects.
    """
    sign = _sign(metric)

    def scorer(estimator: Any, X: pd.DataFrame, y: np.ndarray) -> float:
        values = score_fold(
            np.asarray(y), _scores(estimator, X, task, classes), task, (metric,), classes
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
    pipe = build_pipeline(candidate, d.numeric, d.categorical, seed, task=d.task)
    metric = settings.training.primary_metric
    scorer, sign = catalogue_scorer(metric, d.task, _fold_classes(y, d.task)), _sign(metric)
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
    best = {k.removeprefix("model__"): _plain(v) for k, v in search.best_params_.items()}
    return best, float(sign * search.best_score_)


def run_fold(
    job: FoldJob,
    X: pd.DataFrame,
    y: np.ndarray,
    settings: Settings,
    strategy: str = "kfold",
    pooled: bool = False,
    groups: np.ndarray | None = None,
) -> FoldOutcome:
    """Fit one job's pipeline on its training rows and score it on its validation rows.

    A pure function of its arguments (seeded), so any worker (thread, process or Dask
    worker) can run it. The pipeline is built fresh here, so its preprocessing only ever
    sees the fold's training rows.
    """
    d, seed = settings.data, settings.project.seed
    t0 = time.perf_counter()
    tr, te = job.split.train, job.split.test
    X_tr, y_tr = X.iloc[tr], y[tr]
    params, inner = job.params, None
    if job.nested:
        params, inner = search_on(
            job.candidate, X_tr, y_tr, settings, strategy,
            groups[tr] if groups is not None else None,
        )  # fmt: skip
    pipe = build_pipeline(job.candidate, d.numeric, d.categorical, seed, params, task=d.task)
    pipe.fit(X_tr, y_tr)
    classes = _fold_classes(y, d.task)
    proba = _scores(pipe, X.iloc[te], d.task, classes)
    names = fold_metrics(d.task, settings.training.primary_metric)
    scores = {} if pooled else score_fold(y[te], proba, d.task, names, classes)
    size = len(pickle.dumps(pipe)) if job.split.index == 0 else None
    return FoldOutcome(
        job.candidate.name,
        job.param_index,
        job.split.index,
        job.k,
        dict(params),
        scores,
        time.perf_counter() - t0,
        size,
        inner,
        te if pooled else None,
        proba if pooled else None,
    )


def run_jobs(plan: TrainingPlan, settings: Settings) -> tuple[FoldOutcome, ...]:
    """Run every job of the plan here, one after the other (flows run them in parallel)."""
    return tuple(
        run_fold(j, plan.X, plan.y, settings, plan.splits.strategy, plan.splits.pooled, plan.groups)
        for j in plan.jobs
    )


# ---- from outcomes to results -------------------------------------------------------------------


def _fold_scores(
    outcomes: Sequence[FoldOutcome], y: np.ndarray, pooled: bool, settings: Settings
) -> dict[str, tuple[float, ...]]:
    ordered = sorted(outcomes, key=lambda o: o.fold)
    task = settings.data.task
    names = fold_metrics(task, settings.training.primary_metric)
    if pooled:
        idx = np.concatenate([o.test_index for o in ordered if o.test_index is not None])
        proba = np.concatenate([o.test_scores for o in ordered if o.test_scores is not None])
        scored = score_fold(y[idx], proba, task, names, _fold_classes(y, task))
        return {m: (v,) for m, v in scored.items()}
    return {m: tuple(o.scores[m] for o in ordered) for m in names}


def summarize(
    plan: TrainingPlan,
    outcomes: Sequence[FoldOutcome],
    settings: Settings,
    k: int | None = None,
    splits: SplitPlan | None = None,
) -> tuple[CVResult, ...]:
    """One result per candidate: the best parameter set's fold scores and the search table.

    Args:
        plan: The plan the outcomes came from.
        outcomes: Outcomes of its jobs, in any order.
        settings: The configuration (primary metric).
        k: Summarise the k-sensitivity outcomes of this k instead of the main estimate.
        splits: The folds of that k-sensitivity estimate.
    """
    metric = settings.training.primary_metric
    sign = _sign(metric)
    sp = splits or plan.splits
    by: dict[tuple[str, int], list[FoldOutcome]] = defaultdict(list)
    for o in outcomes:
        if o.k == k:
            by[(o.candidate, o.param_index)].append(o)
    results = []
    for c in plan.candidates:
        sets = sorted(i for (name, i) in by if name == c.name)
        if not sets:
            continue
        rows = []
        for i in sets:
            folds = _fold_scores(by[(c.name, i)], plan.y, sp.pooled, settings)
            rows.append((i, folds))
        best_i, best_folds = max(rows, key=lambda r: sign * float(np.mean(r[1][metric])))
        all_outcomes = [o for i in sets for o in by[(c.name, i)]]
        best_outcomes = sorted(by[(c.name, best_i)], key=lambda o: o.fold)
        nested = any(o.inner_score is not None for o in all_outcomes)
        table: list[dict[str, Any]] = []
        if nested:
            table = [
                {
                    "outer_fold": o.fold,
                    **{f"param.{p}": v for p, v in o.params.items()},
                    f"inner_{metric}": o.inner_score,
                    f"outer_{metric}": o.scores.get(metric),
                }
                for o in best_outcomes
            ]
        elif c.search != "none" and k is None:
            means = {i: float(np.mean(f[metric])) for i, f in rows}
            order = sorted(means, key=lambda i: -sign * means[i])
            for i, folds in rows:
                params = by[(c.name, i)][0].params
                table.append(
                    {
                        "rank": order.index(i) + 1,
                        **{f"param.{p}": v for p, v in params.items()},
                        **{
                            f"{m}_{stat}": float(fn(v))
                            for m, v in folds.items()
                            for stat, fn in (("mean", np.mean), ("std", _sd))
                        },
                    }
                )
            table.sort(key=lambda r: int(r["rank"]))
        sizes = [o.model_bytes for o in best_outcomes if o.model_bytes is not None]
        best_params = {} if nested else best_outcomes[0].params
        results.append(
            CVResult(
                candidate=c.name,
                estimator=c.estimator,
                params={**c.params, **best_params},
                strategy=sp.strategy,
                n_splits=sp.n_splits,
                fold_scores=best_folds,
                fit_seconds=float(sum(o.seconds for o in all_outcomes)),
                n_repeats=sp.n_repeats,
                search=tuple(table),
                model_size_mb=sizes[0] / 1e6 if sizes else None,
                nested=nested,
            )
        )
    return tuple(results)


def _sd(values: Sequence[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def cross_validate_candidate(
    candidate: CandidateConfig, X: pd.DataFrame, y: np.ndarray, settings: Settings
) -> CVResult:
    """Cross-validate one candidate here, sequentially, on the task's fold metrics.

    The strategy is the configured one; ``auto`` resolves to time_series only when the
    frame holds the ``data.timestamp`` column.
    """
    frame = X.copy()
    frame[settings.data.target] = y
    plan = plan_training(frame, settings, (candidate,))
    return summarize(plan, run_jobs(plan, settings), settings)[0]


# ---- k-sensitivity --------------------------------------------------------------------------------


@dataclass(frozen=True)
class KSensitivity:
    """The best candidate's estimate for one number of folds."""

    k: int
    mean: float
    std: float
    n_folds: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"k": self.k, "mean": self.mean, "std": self.std, "n_folds": self.n_folds}


def k_sensitivity_plan(
    plan: TrainingPlan, best: CVResult, settings: Settings
) -> tuple[dict[int, SplitPlan], tuple[FoldJob, ...]]:
    """The folds and jobs that re-estimate the best candidate for each configured k.

    The main estimate's k is not refitted; strategies without a number of folds (holdout,
    leave-one-out) have no k to vary and get no jobs.
    """
    ks = [k for k in settings.training.cv.k_sensitivity if k != best.n_splits]
    if not ks or plan.splits.strategy in ("holdout", "leave_one_out"):
        return {}, ()
    cand = next(c for c in plan.candidates if c.name == best.candidate)
    fixed = {cand.name: {p: v for p, v in best.params.items() if p not in cand.params}}
    splits: dict[int, SplitPlan] = {}
    jobs: list[FoldJob] = []
    for k in ks:
        sp = make_splits(
            settings.training.cv, plan.y, task=settings.data.task, seed=settings.project.seed,
            timestamps=plan.timestamps,
            groups=pd.Series(plan.groups, name=settings.training.cv.group_column)
            if plan.groups is not None else None,
            n_splits=k, strategy=plan.splits.strategy,
        )  # fmt: skip
        splits[k] = sp
        # A nested estimate is re-estimated nested: the search runs inside every fold.
        jobs += _jobs((cand,), sp, settings, k=k, fixed=None if best.nested else fixed)
    return splits, tuple(jobs)


def k_sensitivity(
    plan: TrainingPlan,
    best: CVResult,
    splits: dict[int, SplitPlan],
    outcomes: Sequence[FoldOutcome],
    settings: Settings,
) -> tuple[KSensitivity, ...]:
    """How the best candidate's estimate and its spread move with k (sorted by k)."""
    metric = settings.training.primary_metric
    rows = {
        best.n_splits: KSensitivity(
            best.n_splits, best.mean(metric), best.std(metric), len(best.fold_scores[metric])
        )
    }
    cand = next(c for c in plan.candidates if c.name == best.candidate)
    sub = replace(plan, candidates=(cand,))
    for k, sp in splits.items():
        (r,) = summarize(sub, outcomes, settings, k=k, splits=sp)
        rows[k] = KSensitivity(k, r.mean(metric), r.std(metric), len(r.fold_scores[metric]))
    if not settings.training.cv.k_sensitivity:
        return ()
    return tuple(rows[k] for k in sorted(rows))


# ---- choice and final fit ---------------------------------------------------------------------------


def choose_best(results: tuple[CVResult, ...], metric: str) -> CVResult:
    """The candidate with the best mean CV score (ties: the first listed)."""
    sign = _sign(metric)
    return max(results, key=lambda r: sign * r.mean(metric))


@dataclass(frozen=True)
class FittedModel:
    """The final fit of the chosen candidate, with what it cost."""

    model: Pipeline
    seconds: float
    peak_memory_mb: float
    params: dict[str, Any] = field(default_factory=dict)


def compare_best_with_runner_up(
    results: tuple[CVResult, ...],
    best: CVResult,
    metric: str,
    n_rows: int,
    fold_sizes: tuple[int, int] | None = None,
) -> dict[str, Any] | None:
    """Is the best candidate really better than the runner-up on the same folds?

    Uses the Nadeau–Bengio corrected resampled t-test (never the naive k-fold t-test,
    whose folds share training rows). None with a single candidate or fewer than two folds.

    Args:
        results: Every candidate's result, on the same folds.
        best: The chosen one.
        metric: The primary metric.
        n_rows: Training rows (fold sizes are derived from k without ``fold_sizes``).
        fold_sizes: Mean training and validation rows per fold, when known.
    """
    others = [r for r in results if r is not best]
    if not others or len(best.fold_scores[metric]) < 2:
        return None
    sign = _sign(metric)
    runner = max(others, key=lambda r: sign * r.mean(metric))
    if len(runner.fold_scores[metric]) != len(best.fold_scores[metric]):
        return None
    k = best.n_splits
    n_train, n_test = fold_sizes or (max(1, n_rows * (k - 1) // k), max(1, n_rows // k))
    test = corrected_resampled_ttest(
        sign * np.asarray(runner.fold_scores[metric]),
        sign * np.asarray(best.fold_scores[metric]),
        n_train=n_train,
        n_test=n_test,
    )
    return {"runner_up": runner.candidate, **test.to_dict()}


def final_params(
    candidate: CandidateConfig,
    result: CVResult | None,
    plan: TrainingPlan | None,
    settings: Settings,
) -> dict[str, Any]:
    """The searched parameters of the final fit.

    Without nesting they are the CV winner's; with nested CV the search runs once more, on
    the whole training window, with the inner CV (the outer folds only estimated it).
    """
    if candidate.search == "none":
        return {}
    if result is not None and not result.nested:
        return {p: v for p, v in result.params.items() if p not in candidate.params}
    if plan is None:
        raise ValueError("nested CV needs the training plan to search on")
    best, _ = search_on(candidate, plan.X, plan.y, settings, plan.splits.strategy, plan.groups)
    return best


def fit_final(
    candidate: CandidateConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    settings: Settings,
    params: dict[str, Any] | None = None,
) -> FittedModel:
    """Refit the chosen candidate on the whole training window, measuring time and peak memory.

    Peak memory is the largest amount traced by ``tracemalloc`` during the fit: Python and
    numpy allocations (numpy reports its buffers to tracemalloc), not the whole process.
    """
    pipe = clone(
        build_pipeline(
            candidate,
            settings.data.numeric,
            settings.data.categorical,
            settings.project.seed,
            params,
            task=settings.data.task,
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
    return FittedModel(pipe, seconds, max(0, peak - base) / 1e6, dict(params or {}))
