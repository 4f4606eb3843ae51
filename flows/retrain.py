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
from challenger.gate import report
from challenger.gate.evidence import Check
from challenger.gate.judge import JudgeSettings, Provenance, holdout_newer_check
from challenger.gate.promotion import promote_if_better
from challenger.gate.publish import publish
from challenger.ops.service import mlflow_ui_base
from challenger.results import RetrainResult
from challenger.store.record import TAG
from challenger.train.log import log_training
from challenger.train.plan import TrainingPlan, plan_training
from challenger.train.register import register_challenger, registration_record
from challenger.train.selection import (
    CVResult,
    FittedModel,
    KSensitivity,
    choose_best,
    compare_best_with_runner_up,
    final_params,
    fit_final,
    k_sensitivity,
    k_sensitivity_plan,
    summarize,
)
from challenger.train.window import training_window
from flows.common import gate_artifacts, judge_task, promotion_lock, repair_at_start, stores
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
    log = get_run_logger()
    settings = load_config(config)
    name, metric = settings.project.model_name, settings.training.primary_metric
    registry, tracking = stores(settings)
    repaired = repair_at_start(settings, registry, tracking)
    if repaired:
        log.warning("Repaired what an interrupted run left: %s", "; ".join(repaired))
    champion = registry.champion()
    chosen = settings.enabled_candidates(tuple(candidates or ()))
    reference = tracking.load_reference(champion.run_id) if champion else None
    seen = {champion.version: tracking.load_training_rows(champion.run_id)} if champion else {}
    window = training_window(settings, data, reference, seen)
    plan = plan_training(window.train, settings, chosen)  # every check before any fit
    for w in plan.warnings:
        log.warning("Leakage guard %s (%s): %s", w.guard, w.column, w.message)
    log.info(
        "Training %d candidate(s) on %d rows (holdout %d rows) from %s; champion: %s",
        len(chosen), len(window.train), len(window.holdout), ", ".join(window.batches),
        f"v{champion.version}" if champion else "none",
    )  # fmt: skip
    log.info("Holdout: %s", window.draw.how)

    cv_results, best, ksens = cross_validate(plan, settings)
    cv_test = compare_best_with_runner_up(
        cv_results, best, metric, len(window.train), fold_sizes=plan.fold_sizes
    )
    best_cfg = next(c for c in chosen if c.name == best.candidate)
    params = final_params(best_cfg, best, plan, settings)
    fitted = fit_task(best_cfg, plan.X, plan.y, settings, params)
    for r in cv_results:
        log.info(
            "CV %s (%s): %s %.4f ± %.4f",
            r.candidate, plan.splits.label, metric, r.mean(metric), r.std(metric),
        )  # fmt: skip

    trigger_reasons = tuple((trigger_evidence or {}).get("reasons", ()))
    with tracking.start_run(f"retrain-{reason}", tags={f"{TAG}trigger": reason}) as run_id:
        run_params = {
            "trigger": reason, "training_batches": ",".join(window.batches),
            "train_rows": len(window.train), "holdout_rows": len(window.holdout),
            "data_fingerprint": window.fingerprint, "best_candidate": best.candidate,
            "cv_strategy": best.strategy, "cv_n_splits": best.n_splits,
            "cv_n_repeats": best.n_repeats, "cv_nested": best.nested,
            "executor": settings.training.executor.kind, "primary_metric": metric,
            **{f"best.{k}": v for k, v in best.params.items()},
        }  # fmt: skip
        log_training(tracking, run_params, plan, cv_results, ksens, metric, trigger_evidence)
        record = registration_record(reason, window, best, metric, fitted, trigger_evidence)
        version = register_challenger(
            registry, tracking, run_id, fitted, window, settings.data.features, record,
            settings.project.seed,
        )  # fmt: skip
        log.info("Registered %s v%d as challenger", name, version.version)

        checks = (
            Check(
                "data_validation",
                True,
                f"{window.validation.n_expectations} expectations",
                "all pass",
                f"the {len(window.frame)} training and holdout rows passed validation",
            ),
            holdout_newer_check(window.train_max_ts, window.holdout, settings.data.timestamp),
        )
        verdict, promoted_from = promote_if_better(
            JudgeSettings.from_settings(settings), registry, promotion_lock(settings), version, champion,
            window.holdout, checks, run_id,
            Provenance(window.draw, lambda v: tracking.load_training_rows(v.run_id)),
            judge_with=judge_task,
        )  # fmt: skip
        decision = verdict.decision
        card = report.retrain_card(
            model_name=name, version=version.version, best=best, all_cv=cv_results,
            trigger=reason, trigger_reasons=trigger_reasons, evidence=verdict.evidence,
            decision=decision, fingerprint=window.fingerprint, n_train=len(window.train),
            k_sensitivity=ksens, warnings=plan.warnings, cv_test=cv_test,
        )  # fmt: skip
        result = RetrainResult(
            model_name=name, trigger=reason, run_id=run_id, challenger_version=version.version,
            champion_before=verdict.champion.version if verdict.champion else None,
            decision=decision, evidence=verdict.evidence, previous_champion=promoted_from,
            trigger_reasons=trigger_reasons, training_batches=window.batches,
            data_fingerprint=window.fingerprint, primary_metric=metric, cv=cv_results,
            best=best, cv_strategy=plan.splits.label, cv_best_vs_runner_up=cv_test,
            k_sensitivity=ksens, leakage_warnings=plan.warnings,
        )  # fmt: skip
        as_json = result.to_dict()
        text = publish(
            name, settings.gate, registry, tracking, version.version, verdict, card, as_json,
            ui_base=mlflow_ui_base(settings),
        )  # fmt: skip
    gate_artifacts(name, version.version, as_json, decision.outcome.value, text)
    log.info("Gate: %s → %s. %s", decision.outcome.value, decision.action, decision.reason)
    return result
