"""The retrain flow: train candidates, register the best, judge it against the champion.

Thin orchestration only: every computation is a call into ``challenger``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from challenger.config import CandidateConfig, Settings, load_config
from challenger.errors import DataError
from challenger.gate import report as reports
from challenger.gate.evidence import Check
from challenger.monitor.schema import batch_schema
from challenger.monitor.triggers import trigger_tags
from challenger.monitor.validation import validate_batch
from challenger.store.batches import fingerprint
from challenger.store.registry import TAG, Registry
from challenger.store.tracking import Tracking
from challenger.train.plan import TrainingPlan, check_training_frame, plan_training
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
from challenger.train.window import labelled_rows, time_split
from flows.executor import run_fold_jobs, task_runner
from flows.judge import holdout_newer_check, judge_and_act, load_window, record


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


def _log_candidate(tracking: Tracking, r: CVResult) -> None:
    """One nested MLflow run: fold metrics (one step per fold), mean, sd, search table."""
    tracking.log_params({"estimator": r.estimator, "cv_strategy": r.strategy, **r.params})
    tracking.set_run_tags({f"{TAG}candidate": r.candidate, f"{TAG}cv_nested": str(r.nested)})
    for m, scores in r.fold_scores.items():
        for i, s in enumerate(scores):
            tracking.log_metrics({f"cv_{m}": s}, step=i)
        summary = {f"cv_{m}_mean": float(np.mean(scores))}
        if len(scores) > 1:
            summary[f"cv_{m}_std"] = float(np.std(scores, ddof=1))
        tracking.log_metrics(summary)
    extra = {
        "fit_seconds": r.fit_seconds,
        "n_folds": float(len(next(iter(r.fold_scores.values())))),
    }
    if r.model_size_mb is not None:
        extra["model_size_mb"] = r.model_size_mb
    tracking.log_metrics(extra)
    if r.search:
        tracking.log_text(pd.DataFrame(list(r.search)).to_csv(index=False), "search/results.csv")
        tracking.log_dict({"rows": list(r.search)}, "search/results.json")


@flow(name="retrain", log_prints=False)
def retrain_flow(
    reason: str = "manual",
    data: str | None = None,
    candidates: list[str] | None = None,
    config: str | None = None,
    trigger_evidence: dict[str, Any] | None = None,
) -> dict[str, Any]:
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
    d = settings.data
    metric = settings.training.primary_metric
    registry = Registry.from_settings(settings)
    tracking = Tracking.from_settings(settings)
    repaired = registry.reconcile_stages()
    if repaired:
        log.warning("Repaired stage mirrors left by an interrupted run: %s", "; ".join(repaired))
    champion = registry.champion()
    chosen = settings.enabled_candidates(tuple(candidates or ()))

    frame, batches = load_window(settings, data)
    check_training_frame(frame, settings)
    if settings.gate.resample == "groups" and settings.gate.group_column not in frame.columns:
        raise DataError(
            f"gate.group_column {settings.gate.group_column!r} is not a column of the training data"
        )
    reference = tracking.load_reference(champion.run_id) if champion else None
    validation = validate_batch(frame, batch_schema(settings, reference))
    if not validation.success:
        raise DataError(
            f"the training data failed validation, so nothing was trained: {validation.summary()}"
        )
    frame = labelled_rows(frame, d.target)
    train, holdout = time_split(
        frame, settings.training.holdout_fraction, d.timestamp, settings.project.seed
    )
    plan = plan_training(train, settings, chosen)  # every check before any fit
    for w in plan.warnings:
        log.warning("Leakage guard %s (%s): %s", w.guard, w.column, w.message)
    X_tr, y_tr = plan.X, plan.y
    fp = fingerprint(frame)
    train_max_ts = (
        str(pd.to_datetime(train[d.timestamp]).max())
        if d.timestamp and d.timestamp in train
        else None
    )
    log.info(
        "Training %d candidate(s) on %d rows (holdout %d rows, newest) from %s; champion: %s",
        len(chosen),
        len(train),
        len(holdout),
        ", ".join(batches),
        f"v{champion.version}" if champion else "none",
    )

    cv_results, best, ksens = cross_validate(plan, settings)
    cv_test = compare_best_with_runner_up(
        cv_results, best, metric, len(train), fold_sizes=plan.fold_sizes
    )
    best_cfg = next(c for c in chosen if c.name == best.candidate)
    fitted = fit_task(best_cfg, X_tr, y_tr, settings, final_params(best_cfg, best, plan, settings))
    for r in cv_results:
        log.info(
            "CV %s (%s): %s %.4f ± %.4f", r.candidate, plan.splits.label, metric,
            r.mean(metric), r.std(metric),
        )  # fmt: skip

    trigger_reasons = tuple((trigger_evidence or {}).get("reasons", ()))
    with tracking.start_run(f"retrain-{reason}", tags={f"{TAG}trigger": reason}) as run_id:
        tracking.log_params(
            {
                "trigger": reason,
                "training_batches": ",".join(batches),
                "train_rows": len(train),
                "holdout_rows": len(holdout),
                "data_fingerprint": fp,
                "best_candidate": best.candidate,
                "cv_strategy": best.strategy,
                "cv_n_splits": best.n_splits,
                "cv_n_repeats": best.n_repeats,
                "cv_nested": best.nested,
                "executor": settings.training.executor.kind,
                "primary_metric": metric,
                **{f"best.{k}": v for k, v in best.params.items()},
            }
        )
        if trigger_evidence:
            tracking.log_dict(trigger_evidence, "trigger.json")
        for r in cv_results:
            with tracking.start_run(f"candidate-{r.candidate}", nested=True):
                _log_candidate(tracking, r)
        tracking.log_dict(
            {
                "strategy": plan.splits.label,
                "folds": [
                    {"fold": sp.index, "repeat": sp.repeat, "train_rows": len(sp.train),
                     "validation_rows": len(sp.test)}
                    for sp in plan.splits.splits[:200]
                ],
                "leakage_warnings": [w.to_dict() for w in plan.warnings],
            },
            "cv/plan.json",
        )  # fmt: skip
        if ksens:
            tracking.log_dict(
                {"metric": metric, "rows": [k.to_dict() for k in ksens]}, "cv/k_sensitivity.json"
            )
            for k in ksens:
                ks_metrics = {f"k_sensitivity_{metric}_mean": k.mean}
                if k.n_folds > 1:
                    ks_metrics[f"k_sensitivity_{metric}_std"] = k.std
                tracking.log_metrics(ks_metrics, step=k.k)
        tracking.log_metrics(
            {"training_seconds": fitted.seconds, "peak_memory_mb": fitted.peak_memory_mb}
        )
        tracking.log_reference(train, settings.project.seed)
        model_uri = tracking.log_model(fitted.model, X_tr.head(200))
        tags = reports.version_tags(
            trigger=reason,
            fingerprint=fp,
            cv=best,
            primary_metric=metric,
            batches=batches,
            n_train=len(train),
            n_holdout=len(holdout),
        )
        tags |= trigger_tags(trigger_evidence, prefix=TAG)
        tags |= {
            f"{TAG}training_seconds": f"{fitted.seconds:.4f}",
            f"{TAG}peak_memory_mb": f"{fitted.peak_memory_mb:.3f}",
        }
        if train_max_ts:
            tags[f"{TAG}train_max_ts"] = train_max_ts
        version = registry.register(
            model_uri, run_id, tags, description="Under evaluation by the challenger gate."
        )
        registry.mark_challenger(version.version)
        size = registry.model_size_mb(version.version)
        if size is not None:
            registry.tag_version(version.version, {f"{TAG}model_size_mb": f"{size:.4f}"})
        version = registry.version(version.version)
        log.info("Registered %s v%d as challenger", settings.project.model_name, version.version)

        base_checks = (
            Check(
                "data_validation",
                True,
                f"{validation.n_expectations} expectations",
                "all pass",
                f"the {len(frame)} training and holdout rows passed validation",
            ),
            holdout_newer_check(train_max_ts, holdout, d.timestamp),
        )
        verdict, promoted_from = judge_and_act(
            settings, registry, version, champion, holdout, base_checks, run_id
        )
        decision, evidence = verdict.decision, verdict.evidence
        card = reports.model_card(
            model_name=settings.project.model_name,
            version=version.version,
            cv=best,
            all_cv=cv_results,
            trigger=reason,
            trigger_reasons=trigger_reasons,
            evidence=evidence,
            decision=decision,
            fingerprint=fp,
            n_train=len(train),
        )
        card += reports.training_section(metric, ksens, plan.warnings, best)
        if cv_test is not None:
            card += (
                f"\n\nBest vs runner-up candidate on the same CV folds (Nadeau–Bengio corrected t-test): "
                f"Δ{metric} {cv_test['mean_difference']:+.4f} vs {cv_test['runner_up']}, p={cv_test['p_value']:.3g}."
            )
        champion_before = verdict.champion.version if verdict.champion else None
        result: dict[str, Any] = {
            "model_name": settings.project.model_name,
            "trigger": reason,
            "trigger_reasons": list(trigger_reasons),
            "run_id": run_id,
            "training_batches": batches,
            "data_fingerprint": fp,
            "candidate": best.candidate,
            "cv": [
                {
                    "candidate": r.candidate,
                    "estimator": r.estimator,
                    f"{metric}_mean": r.mean(metric),
                    f"{metric}_std": None if math.isnan(r.std(metric)) else r.std(metric),
                    "folds": list(r.fold_scores[metric]),
                }
                for r in cv_results
            ],
            "cv_strategy": plan.splits.label,
            "cv_best_vs_runner_up": cv_test,
            "k_sensitivity": [k.to_dict() for k in ksens],
            "leakage_warnings": [w.to_dict() for w in plan.warnings],
            "best_params": best.params,
            "challenger_version": version.version,
            "champion_before": champion_before,
            "champion_after": version.version if decision.promotes else champion_before,
            "promoted": decision.promotes,
            "previous_champion": promoted_from,
            "decision": decision.to_dict(),
            "evidence": evidence.to_dict(),
        }
        record(settings, registry, tracking, version, verdict, card, result)
    log.info("Gate: %s → %s. %s", decision.outcome.value, decision.action, decision.reason)
    return result
