"""Unit tests for challenger.gate.report."""

from __future__ import annotations

from tests.helpers import run_jobs

from challenger.config import CandidateConfig, Settings
from challenger.demo.simulator import simulate_batch
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


def test_model_card_section_shows_search_k_sensitivity_and_warnings() -> None:
    from challenger.gate.report import training_section
    from challenger.train.leakage import Finding
    from challenger.train.selection import KSensitivity

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
