"""The retrain flow: train candidates, register the best, judge it against the champion.

Orchestration only: each step is one call into ``challenger``; Prefect adds the task runs
(folds on the configured executor, the final fit, the judgement), the promotion lock and the
artifacts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from challenger.config import CandidateConfig, Settings, load_config
from challenger.gate.judge import JudgeSettings, Provenance
from challenger.gate.promotion import promote_if_better
from challenger.gate.publish import publish
from challenger.ops.service import mlflow_ui_base
from challenger.results import RetrainResult
from challenger.store.record import TAG
from challenger.train.log import log_training
from challenger.train.outcome import Trained, prepare
from challenger.train.plan import TrainingPlan
from challenger.train.register import register_challenger
from challenger.train.selection import (
    CVResult,
    FittedModel,
    KSensitivity,
    choose_best,
    final_params,
    fit_final,
    k_sensitivity,
    k_sensitivity_plan,
    summarize,
)
from flows.common import (
    freeze_heap,
    gate_artifacts,
    judge_task,
    promotion_lock,
    repair_at_start,
    stores,
)
from flows.executor import run_fold_jobs, task_runner


@task(name="fit-final", cache_policy=NO_CACHE)
def fit_task(
    candidate: CandidateConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    settings: Settings,
    params: dict[str, Any] | None = None,
) -> FittedModel:
    """Refit the chosen candidate on the whole training split."""
    return fit_final(candidate, X, y, settings, params)


def cross_validate(
    plan: TrainingPlan, settings: Settings
) -> tuple[tuple[CVResult, ...], CVResult, tuple[KSensitivity, ...]]:
    """Run every fold job (and the k-sensitivity jobs) on the configured executor."""
    with task_runner(settings.training.executor) as runner:
        outcomes = run_fold_jobs(runner, plan.jobs, plan, settings)
        results = summarize(plan, outcomes, settings)
        best = choose_best(results, settings.training.primary_metric)
        ks_splits, ks_jobs = k_sensitivity_plan(plan, best, settings)
        ks_outcomes = run_fold_jobs(runner, ks_jobs, plan, settings) if ks_jobs else ()
    return results, best, k_sensitivity(plan, best, ks_splits, ks_outcomes, settings)


@flow(name="retrain", log_prints=False)
def retrain_flow(
    reason: str = "manual",
    data: str | None = None,
    candidates: list[str] | None = None,
    config: str | None = None,
    trigger_evidence: dict[str, Any] | None = None,
) -> RetrainResult:
    """Train candidates with cross-validation, register the best and run the promotion gate.

    Args:
        reason: Why this retrain runs: manual, interval, data_change, performance or bootstrap.
        data: A CSV/Parquet file to train on instead of the newest accepted batches.
        candidates: Names of candidates to train (default: every enabled candidate).
        config: Path to challenger.yaml (default: ./challenger.yaml or built-in defaults).
        trigger_evidence: What the monitor saw when it fired (recorded with the version).
    """
    freeze_heap()
    log = get_run_logger()
    settings = load_config(config)
    name, metric = settings.project.model_name, settings.training.primary_metric
    registry, tracking = stores(settings)
    repaired = repair_at_start(settings, registry, tracking)
    if repaired:
        log.warning("Repaired what an interrupted run left: %s", "; ".join(repaired))
    prep = prepare(settings, registry, tracking, data, tuple(candidates or ()))
    champion, window, plan = prep.champion, prep.window, prep.plan
    for w in plan.warnings:
        log.warning("Leakage guard %s (%s): %s", w.guard, w.column, w.message)
    log.info(prep.summary())
    log.info("Holdout: %s", window.draw.how)

    cv_results, best, ksens = cross_validate(plan, settings)
    best_cfg = next(c for c in prep.candidates if c.name == best.candidate)
    params = final_params(best_cfg, best, plan, settings)
    fitted = fit_task(best_cfg, plan.X, plan.y, settings, params)
    trained = Trained(
        reason, metric, window, plan, cv_results, best, ksens, fitted, trigger_evidence
    )
    for line in trained.cv_lines():
        log.info(line)

    with tracking.start_run(f"retrain-{reason}", tags={f"{TAG}trigger": reason}) as run_id:
        params_logged = trained.run_params(settings)
        log_training(tracking, params_logged, plan, cv_results, ksens, metric, trigger_evidence)
        version = register_challenger(
            registry, tracking, run_id, fitted, window, settings.data.features, trained.record(),
            settings.project.seed, settings.data.target,
        )  # fmt: skip
        log.info("Registered %s v%d as challenger", name, version.version)
        verdict, promoted_from = promote_if_better(
            JudgeSettings.from_settings(settings), registry, promotion_lock(settings), version,
            champion, window.holdout, trained.checks(settings.data.timestamp), run_id,
            Provenance(window.draw, lambda v: tracking.load_training_rows(v.run_id)),
            judge_with=judge_task,
        )  # fmt: skip
        decision = verdict.decision
        result = trained.result(name, run_id, version.version, verdict, promoted_from)
        as_json = result.to_dict()
        text = publish(
            name, settings.gate, registry, tracking, version.version, verdict,
            trained.card(name, version.version, verdict), as_json, ui_base=mlflow_ui_base(settings),
        )  # fmt: skip
    gate_artifacts(name, version.version, as_json, text)
    log.info("Gate: %s → %s. %s", decision.outcome.value, decision.action, decision.reason)
    return result
