"""Unit tests for challenger.train.plan (small seeded data)."""

from __future__ import annotations

import pytest
from tests.helpers import run_jobs

from challenger.config import CandidateConfig, Settings
from challenger.demo.simulator import simulate_batch
from challenger.errors import ConfigError, DataError
from challenger.train.plan import check_training_frame, plan_training
from challenger.train.selection import (
    summarize,
)

S = Settings()


LR = CandidateConfig(
    name="lr", estimator="sklearn.linear_model.LogisticRegression", params={"max_iter": 500}
)


SMALL = simulate_batch(0, 400, seed=2)


def _settings(**cv: object) -> Settings:
    return Settings(training={"cv": cv, "primary_metric": "roc_auc"})  # type: ignore[arg-type]


GRID = CandidateConfig(
    name="lr_grid",
    estimator="sklearn.linear_model.LogisticRegression",
    params={"max_iter": 300},
    search="grid",
    search_space={"C": [0.001, 1.0]},
)


def test_training_frame_checks() -> None:
    frame = simulate_batch(0, 300, seed=1)
    check_training_frame(frame, S)
    with pytest.raises(DataError, match="no target column"):
        check_training_frame(frame.drop(columns=["default"]), S)
    with pytest.raises(DataError, match=r"lacks feature columns \['income'\]"):
        check_training_frame(frame.drop(columns=["income"]), S)
    with pytest.raises(DataError, match="single class"):
        check_training_frame(frame.assign(default=0), S)
    rare = frame.assign(default=0)
    rare.loc[rare.index[:3], "default"] = 1
    with pytest.raises(DataError, match=r"fewer than training\.cv\.n_splits=5"):
        check_training_frame(rare, S)
    with pytest.raises(DataError, match="empty"):
        check_training_frame(frame.iloc[0:0], S)


def test_every_strategy_runs_from_configuration() -> None:
    groups = SMALL.assign(customer=SMALL.index % 40)
    cases = {
        "holdout": ({}, 1),
        "kfold": ({"n_splits": 3}, 3),
        "stratified_kfold": ({"n_splits": 3}, 3),
        "time_series": ({"n_splits": 3, "gap": 5}, 3),
        "repeated_kfold": ({"n_splits": 3, "n_repeats": 2}, 6),
        "group_kfold": ({"n_splits": 4, "group_column": "customer"}, 4),
    }
    for strategy, (extra, n_folds) in cases.items():
        s = _settings(strategy=strategy, **extra)
        plan = plan_training(groups, s, (LR,))
        (r,) = summarize(plan, run_jobs(plan, s), s)
        assert r.strategy == strategy and len(r.fold_scores["roc_auc"]) == n_folds, strategy
        assert 0.6 < r.mean("roc_auc") < 1.0, strategy


def test_bad_input_is_refused_before_training_naming_the_key() -> None:
    s = _settings(strategy="kfold", n_splits=3)
    bad_space = GRID.model_copy(update={"search_space": {"depth": [1, 2]}})
    with pytest.raises(
        ConfigError,
        match=r"training\.candidates\[lr_grid\]\.search_space: .* does not take \['depth'\]",
    ):
        plan_training(SMALL, s, (bad_space,))
    bad_value = LR.model_copy(update={"params": {"C": -1.0}})
    with pytest.raises(ConfigError, match=r"training\.candidates\[lr\]: .*'C'"):
        plan_training(SMALL, s, (bad_value,))
    nowhere = LR.model_copy(update={"estimator": "sklearn.linear_model.Nope"})
    with pytest.raises(ConfigError, match="has no class 'Nope'"):
        plan_training(SMALL, s, (nowhere,))
    regressor = LR.model_copy(update={"estimator": "sklearn.linear_model.Ridge", "params": {}})
    with pytest.raises(ConfigError, match="not a classifier with predict_proba"):
        plan_training(SMALL, s, (regressor,))
    grouped = _settings(strategy="group_kfold", group_column="customer")
    with pytest.raises(DataError, match=r"training\.cv\.group_column 'customer' is not a column"):
        plan_training(SMALL, grouped, (LR,))
