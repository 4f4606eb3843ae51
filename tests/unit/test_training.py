from __future__ import annotations

import numpy as np
import pytest

from challenger.config import CandidateConfig, Settings
from challenger.data import simulate_batch
from challenger.errors import ConfigError, DataError
from challenger.training import (
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
