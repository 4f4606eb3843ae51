"""Binary, multiclass and regression: the task-dependent parts, on small seeded data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.helpers import cross_validate_candidate

from challenger.config import CandidateConfig, Settings
from challenger.demo.simulator import simulate_batch
from challenger.errors import ConfigError, DataError
from challenger.problem import (
    encode_target,
    model_scores,
    predicted_labels,
    regression_target,
    shared_classes,
    valid_scores,
)
from challenger.train.pipeline import build_pipeline
from challenger.train.plan import check_training_frame, plan_training

GBR = CandidateConfig(
    name="gbr",
    estimator="sklearn.ensemble.HistGradientBoostingRegressor",
    params={"max_iter": 30},
)
RIDGE = CandidateConfig(name="ridge", estimator="sklearn.linear_model.Ridge")
LR = CandidateConfig(
    name="lr", estimator="sklearn.linear_model.LogisticRegression", params={"max_iter": 300}
)


def settings(task: str, metric: str, **cv: object) -> Settings:
    return Settings.model_validate(
        {
            "data": {"task": task, "timestamp": None},
            "training": {"primary_metric": metric, "cv": {"n_splits": 3, **cv}},
        }
    )


def frame(task: str, n: int = 600, seed: int = 3) -> pd.DataFrame:
    return simulate_batch(1, n, seed, task=task).drop(columns=["ts"])


def test_primary_metric_must_fit_the_task() -> None:
    with pytest.raises(ValueError, match=r"'roc_auc' does not fit data\.task 'regression'"):
        Settings.model_validate({"data": {"task": "regression"}})
    assert settings("regression", "rmse").training.primary_metric == "rmse"
    assert settings("multiclass", "log_loss").data.task == "multiclass"


def test_regression_target_with_text_is_refused_naming_the_column() -> None:
    df = frame("regression")
    df["default"] = df["default"].astype(object)
    df.loc[5, "default"] = "n/a"
    with pytest.raises(DataError, match=r"regression target 'default' has text in 1 rows.*'n/a'"):
        check_training_frame(df, settings("regression", "rmse"))
    with pytest.raises(DataError, match="text"):
        regression_target(pd.Series(["1.5", "abc"]), "y")


def test_binary_target_must_be_zero_one() -> None:
    with pytest.raises(DataError, match="binary target 'y' must hold 0 and 1; found 2"):
        encode_target(pd.Series([0, 1, 2]), "binary", "y")


def test_a_classifier_cannot_be_a_regression_candidate_and_vice_versa() -> None:
    s = settings("regression", "rmse")
    with pytest.raises(ConfigError, match=r"training.candidates\[lr\].*is not a regressor"):
        plan_training(frame("regression"), s, (LR,))
    with pytest.raises(ConfigError, match="not a classifier with predict_proba"):
        build_pipeline(RIDGE, ("age",), (), 1, task="multiclass")


def test_multiclass_scores_align_to_the_shared_classes() -> None:
    df = frame("multiclass")
    X, y = df[list(Settings().data.features)], df["default"]
    pipe = build_pipeline(
        LR, Settings().data.numeric, Settings().data.categorical, 1, task="multiclass"
    )
    # a model that never saw "high" still answers on the shared columns, with 0 there
    seen = y != "high"
    pipe.fit(X[seen], y[seen])
    other = build_pipeline(
        LR, Settings().data.numeric, Settings().data.categorical, 1, task="multiclass"
    )
    other.fit(X, y)
    classes = shared_classes(pipe, other)
    assert classes == ("high", "low", "medium")
    p = model_scores(pipe, X, "multiclass", classes)
    assert p.shape == (len(X), 3) and np.all(p[:, 0] == 0) and np.allclose(p.sum(axis=1), 1)
    codes = encode_target(y, "multiclass", "default", classes)
    assert set(np.unique(codes)) == {0, 1, 2}
    assert valid_scores(p, len(X), "multiclass") is None
    assert predicted_labels(p, "multiclass").max() <= 2
    with pytest.raises(DataError, match=r"classes the models were not trained on: \['vip'\]"):
        encode_target(pd.Series(["low", "vip"]), "multiclass", "default", classes)


@pytest.mark.parametrize("strategy", ["kfold", "holdout", "repeated_kfold"])
def test_regression_cross_validates_with_catalogue_metrics(strategy: str) -> None:
    s = settings("regression", "rmse", strategy=strategy, n_repeats=2)
    df = frame("regression")
    result = cross_validate_candidate(GBR, df[list(s.data.features)], df["default"].to_numpy(), s)
    assert set(result.fold_scores) == {"rmse", "mae", "r2"}
    assert 0 < result.mean("rmse") < float(df["default"].std())  # beats predicting the mean
    assert result.mean("r2") > 0.3


def test_stratified_kfold_is_refused_for_a_regression() -> None:
    s = settings("regression", "rmse", strategy="stratified_kfold")
    df = frame("regression")
    with pytest.raises((ConfigError, DataError), match="stratified"):
        plan_training(df, s, (GBR,))


def test_multiclass_cross_validates_and_searches_with_catalogue_scorer() -> None:
    s = settings("multiclass", "log_loss", nested=True, inner_splits=2)
    searched = CandidateConfig(
        name="lr",
        estimator="sklearn.linear_model.LogisticRegression",
        params={"max_iter": 300},
        search="grid",
        search_space={"C": [0.01, 1.0]},
    )
    df = frame("multiclass")
    r = cross_validate_candidate(searched, df[list(s.data.features)], df["default"].to_numpy(), s)
    assert {"log_loss", "accuracy", "f1_macro", "roc_auc"} <= set(r.fold_scores)
    assert r.nested and len(r.search) == 3  # one chosen parameter set per outer fold
    assert 0 < r.mean("log_loss") < np.log(3)  # better than guessing among three classes
    assert r.mean("roc_auc") > 0.6


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_a_planted_copy_of_the_target_is_refused_by_name(task: str) -> None:
    s = settings(task, "log_loss" if task == "multiclass" else "rmse", strategy="kfold")
    df = frame(task)
    if task == "multiclass":  # a numeric encoding of the grade, with a little noise
        grade = df["default"].map({"low": 0.0, "medium": 1.0, "high": 2.0})
        df["age"] = grade + np.random.default_rng(1).normal(0, 0.01, len(df))
    else:
        df["age"] = df["default"] * 3.0 + 1.0
    model = LR if task == "multiclass" else RIDGE
    with pytest.raises(DataError, match="age"):
        plan_training(df, s, (model,))


def test_output_agreement_uses_the_similarity_measures() -> None:
    from challenger.gate.evidence import output_agreement

    rng = np.random.default_rng(0)
    p = rng.random(200)
    same = output_agreement(p, p, "binary")
    assert same == {
        "same_decision_share": 1.0,
        "jaccard_positive": 1.0,
        "cosine": pytest.approx(1.0),
    }
    flipped = output_agreement(p, 1 - p, "binary")
    assert flipped["same_decision_share"] < 0.05 and flipped["jaccard_positive"] < 0.05
    m = rng.dirichlet(np.ones(3), 200)
    assert output_agreement(m, m, "multiclass")["mean_euclidean"] == 0.0
    y = rng.normal(size=200)
    assert output_agreement(y, y + 0.5, "regression")["rms_difference"] == pytest.approx(0.5)
