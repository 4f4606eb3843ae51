"""Candidate pipelines: estimators imported from configuration, their parameter sets, and the preprocessing each Pipeline carries (so nothing is fitted outside a fold)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as scipy_stats
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import (
    ParameterGrid,
    ParameterSampler,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from challenger.config import CandidateConfig, Settings
from challenger.errors import ConfigError
from challenger.problem import (
    is_classification,
)
from challenger.train import estimators


def import_estimator(path: str, allowed_modules: Sequence[str] = ()) -> type[BaseEstimator]:
    """Import an estimator class from its dotted path, if its module is allowed.

    Args:
        path: ``package.module.Class``.
        allowed_modules: Module prefixes allowed besides ``sklearn``
            (``training.allowed_modules``); any other module is refused unimported.

    Raises:
        ConfigError: The path is not allowed, the module or class does not exist, or it is
            not an estimator.
    """
    module_name, _, cls_name = path.rpartition(".")
    try:
        module = estimators.import_module(path, allowed_modules)
    except PermissionError as exc:
        raise ConfigError(f"estimator {exc}") from None
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


def plain(value: Any) -> Any:
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
    return [{k: plain(v) for k, v in ps.items()} for ps in sets]


def _instantiate(
    candidate: CandidateConfig,
    extra: dict[str, Any],
    seed: int,
    task: str,
    allowed_modules: Sequence[str],
) -> BaseEstimator:
    cls = import_estimator(candidate.estimator, allowed_modules)
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
    allowed_modules: Sequence[str] = (),
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
        allowed_modules: Module prefixes the estimator may come from besides ``sklearn``
            (``training.allowed_modules``).

    Raises:
        ConfigError: An estimator outside the allowed modules, a parameter the estimator
            does not take, or an invalid value.
    """
    estimator = _instantiate(candidate, params or {}, seed, task, allowed_modules)
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
    d, seed, allowed = settings.data, settings.project.seed, settings.training.allowed_modules
    for c in candidates:
        for ps in parameter_sets(c, seed):
            build_pipeline(
                c, d.numeric, d.categorical, seed, ps, task=d.task, allowed_modules=allowed
            )
