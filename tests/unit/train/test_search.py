"""Unit tests for challenger.train.search (small seeded data)."""

from __future__ import annotations

import pytest
from tests.helpers import run_jobs

from challenger.config import CandidateConfig, Settings
from challenger.demo.simulator import simulate_batch
from challenger.train.pipeline import parameter_sets
from challenger.train.plan import plan_training
from challenger.train.selection import (
    summarize,
)

SMALL = simulate_batch(0, 400, seed=2)


def _settings(**cv: object) -> Settings:
    return Settings(training={"cv": cv, "primary_metric": "roc_auc"})  # type: ignore[arg-type]


def _train(settings: Settings, *candidates: CandidateConfig):  # type: ignore[no-untyped-def]
    plan = plan_training(SMALL, settings, candidates)
    return plan, summarize(plan, run_jobs(plan, settings), settings)


GRID = CandidateConfig(
    name="lr_grid",
    estimator="sklearn.linear_model.LogisticRegression",
    params={"max_iter": 300},
    search="grid",
    search_space={"C": [0.001, 1.0]},
)


RANDOM = CandidateConfig(
    name="tree_random",
    estimator="sklearn.tree.DecisionTreeClassifier",
    search="random",
    n_iter=3,
    search_space={"max_depth": {"distribution": "randint", "low": 1, "high": 6}},
)


def test_grid_search_picks_the_better_parameters_and_records_the_table() -> None:
    s = _settings(strategy="stratified_kfold", n_splits=3)
    plan, (r,) = _train(s, GRID)
    assert len(plan.jobs) == 6  # 2 parameter sets x 3 folds
    assert r.params == {"max_iter": 300, "C": 1.0}
    assert [row["rank"] for row in r.search] == [1, 2]
    assert r.search[0]["param.C"] == 1.0 and r.search[0]["roc_auc_mean"] == pytest.approx(
        r.mean("roc_auc")
    )
    assert r.search[0]["roc_auc_mean"] > r.search[1]["roc_auc_mean"]


def test_random_search_draws_are_seeded() -> None:
    first, second = parameter_sets(RANDOM, 7), parameter_sets(RANDOM, 7)
    assert first == second and len(first) == 3
    assert all(isinstance(p["max_depth"], int) and 1 <= p["max_depth"] < 6 for p in first)
    assert parameter_sets(RANDOM, 8) != first or len({p["max_depth"] for p in first}) == 1


def test_nested_cv_searches_inside_each_outer_fold() -> None:
    s = _settings(strategy="stratified_kfold", n_splits=3, nested=True, inner_splits=2)
    plan, (r,) = _train(s, GRID)
    assert len(plan.jobs) == 3 and all(j.nested for j in plan.jobs)
    assert r.nested and len(r.search) == 3
    assert {row["outer_fold"] for row in r.search} == {0, 1, 2}
    assert all(row["param.C"] in (0.001, 1.0) for row in r.search)
    assert [row["outer_roc_auc"] for row in r.search] == list(r.fold_scores["roc_auc"])
