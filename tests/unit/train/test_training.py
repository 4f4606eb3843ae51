from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from challenger.config import CandidateConfig, Settings
from challenger.demo.simulator import simulate_batch
from challenger.errors import ConfigError, DataError
from challenger.train.training import (
    build_pipeline,
    check_training_frame,
    choose_best,
    compare_best_with_runner_up,
    cross_validate_candidate,
    fit_final,
    import_estimator,
)

S = Settings()
LR = CandidateConfig(
    name="lr", estimator="sklearn.linear_model.LogisticRegression", params={"max_iter": 500}
)
TREE = CandidateConfig(
    name="tree", estimator="sklearn.tree.DecisionTreeClassifier", params={"max_depth": 1}
)


def test_import_errors_name_the_path() -> None:
    with pytest.raises(ConfigError, match=r"cannot import module 'sklearn\.nope'"):
        import_estimator("sklearn.nope.Model")
    with pytest.raises(ConfigError, match="has no class 'Nope'"):
        import_estimator("sklearn.linear_model.Nope")


def test_unknown_parameter_is_refused_before_training() -> None:
    bad = CandidateConfig(
        name="lr", estimator="sklearn.linear_model.LogisticRegression", params={"depth": 3}
    )
    with pytest.raises(ConfigError, match=r"does not take \['depth'\]"):
        build_pipeline(bad, S.data.numeric, S.data.categorical, seed=0)


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


def test_cross_validation_choice_and_final_fit() -> None:
    frame = simulate_batch(0, 1200, seed=1)
    X, y = frame[list(S.data.features)], frame["default"].to_numpy()
    lr, tree = cross_validate_candidate(LR, X, y, S), cross_validate_candidate(TREE, X, y, S)
    assert len(lr.fold_scores["roc_auc"]) == 5 and lr.strategy == "stratified_kfold"
    assert all(0.5 < s < 1 for s in lr.fold_scores["roc_auc"])
    assert lr.fold_scores["log_loss"][0] > 0  # losses are flipped back to their natural sign
    best = choose_best((tree, lr), "roc_auc")
    assert best is lr
    assert choose_best((tree, lr), "log_loss") is lr
    cmp = compare_best_with_runner_up((tree, lr), lr, "roc_auc", len(frame))
    assert cmp is not None and cmp["runner_up"] == "tree" and cmp["mean_difference"] > 0
    assert 0 <= cmp["p_value"] <= 1
    assert compare_best_with_runner_up((lr,), lr, "roc_auc", len(frame)) is None
    fitted = fit_final(LR, X, y, S)
    assert fitted.seconds > 0 and fitted.peak_memory_mb > 0
    assert np.all(fitted.model.predict_proba(X)[:, 1] >= 0)


# ---- strategies, search, nested CV, k-sensitivity (issue 3) ----------------------------------

from challenger.train.training import (  # noqa: E402
    k_sensitivity,
    k_sensitivity_plan,
    parameter_sets,
    plan_training,
    run_jobs,
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


def test_leave_one_out_scores_pooled_predictions() -> None:
    s = _settings(strategy="leave_one_out")
    small = SMALL.head(60)
    plan = plan_training(small, s, (TREE,))
    (r,) = summarize(plan, run_jobs(plan, s), s)
    assert len(plan.jobs) == 60 and r.fold_scores["roc_auc"] and len(r.fold_scores["roc_auc"]) == 1
    assert np.isnan(r.std("roc_auc")) and 0.0 <= r.mean("accuracy") <= 1.0


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


def test_k_sensitivity_reestimates_the_best_candidate() -> None:
    s = _settings(strategy="stratified_kfold", n_splits=3, k_sensitivity=(2, 3, 5))
    plan, results = _train(s, LR)
    best = results[0]
    splits, jobs = k_sensitivity_plan(plan, best, s)
    assert sorted(splits) == [2, 5] and len(jobs) == 7  # k=3 is the main estimate
    rows = k_sensitivity(plan, best, splits, run_jobs(replace(plan, jobs=jobs), s), s)
    assert [k.k for k in rows] == [2, 3, 5] and [k.n_folds for k in rows] == [2, 3, 5]
    assert rows[1].mean == pytest.approx(best.mean("roc_auc"))
    assert all(0.6 < k.mean < 1 for k in rows)


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


def test_model_card_section_shows_search_k_sensitivity_and_warnings() -> None:
    from challenger.gate.report import training_section
    from challenger.train.leakage import Finding
    from challenger.train.training import KSensitivity

    s = _settings(strategy="stratified_kfold", n_splits=3)
    _, (r,) = _train(s, GRID)
    text = training_section(
        "roc_auc",
        (KSensitivity(3, 0.8, 0.01, 3), KSensitivity(5, 0.81, float("nan"), 5)),
        (Finding("duplicates", "age, income", "warn", "12 validation rows duplicate"),),
        r,
    )
    assert (
        "**Search of `lr_grid`**" in text
        and "| rank | param.C | roc_auc_mean | roc_auc_std |" in text
    )
    assert "| 5 | 5 | 0.8100 | — |" in text
    assert "- `duplicates` on `age, income`: 12 validation rows duplicate" in text
