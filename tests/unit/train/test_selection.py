"""Unit tests for challenger.train.selection (small seeded data)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tests.helpers import cross_validate_candidate, run_jobs

from challenger.config import CandidateConfig, Settings
from challenger.demo.simulator import simulate_batch
from challenger.train.plan import plan_training
from challenger.train.selection import (
    choose_best,
    compare_best_with_runner_up,
    fit_final,
    k_sensitivity,
    k_sensitivity_plan,
    summarize,
)

S = Settings()


LR = CandidateConfig(
    name="lr", estimator="sklearn.linear_model.LogisticRegression", params={"max_iter": 500}
)


TREE = CandidateConfig(
    name="tree", estimator="sklearn.tree.DecisionTreeClassifier", params={"max_depth": 1}
)


SMALL = simulate_batch(0, 400, seed=2)


def _settings(**cv: object) -> Settings:
    return Settings(training={"cv": cv, "primary_metric": "roc_auc"})  # type: ignore[arg-type]


def _train(settings: Settings, *candidates: CandidateConfig):  # type: ignore[no-untyped-def]
    plan = plan_training(SMALL, settings, candidates)
    return plan, summarize(plan, run_jobs(plan, settings), settings)


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
    assert fitted.seconds > 0 and fitted.peak_memory_mb >= 0  # a tiny fit may reuse resident pages
    assert np.all(fitted.model.predict_proba(X)[:, 1] >= 0)


def test_leave_one_out_scores_pooled_predictions() -> None:
    s = _settings(strategy="leave_one_out")
    small = SMALL.head(60)
    plan = plan_training(small, s, (TREE,))
    (r,) = summarize(plan, run_jobs(plan, s), s)
    assert len(plan.jobs) == 60 and r.fold_scores["roc_auc"] and len(r.fold_scores["roc_auc"]) == 1
    assert np.isnan(r.std("roc_auc")) and 0.0 <= r.mean("accuracy") <= 1.0


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


def test_peak_memory_counts_what_a_block_allocates(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sys

    from challenger.train import selection

    def allocate() -> float:
        with selection.peak_memory_mb() as peak:
            block = np.ones(40_000_000 // 8)  # 40 MB, written so it is resident
            del block
        return peak.mb

    if sys.platform.startswith("linux"):
        assert 35.0 <= allocate() <= 200.0
    # Without /proc (another OS): the traced allocations.
    monkeypatch.setattr(selection, "_HWM", tmp_path / "missing" / "clear_refs")
    with selection.peak_memory_mb() as peak:
        block = np.ones(40_000_000 // 8)
        del block
    assert peak.method == "tracemalloc"
    assert 39.0 <= peak.mb <= 45.0
