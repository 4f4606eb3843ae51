"""The retrain flow: train candidates, register the best, judge it against the champion.

Thin orchestration only: every computation is a call into ``challenger``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from challenger import reports
from challenger.config import CandidateConfig, Settings, load_config
from challenger.data import assemble_window, fingerprint, read_table, time_split
from challenger.errors import ChampionMoved, DataError
from challenger.evaluation import Check, gather_evidence, positive_scores, smoke_test
from challenger.gate import GateDecision, Outcome, decide
from challenger.monitoring import batch_schema, labelled_rows
from challenger.registry import TAG, Registry
from challenger.training import (
    CVResult,
    check_training_frame,
    choose_best,
    cross_validate_candidate,
    fit_final,
)
from challenger.validation import validate_batch


@task(name="cross-validate", cache_policy=NO_CACHE, task_run_name="cv-{candidate.name}")
def cv_task(
    candidate: CandidateConfig, X: pd.DataFrame, y: np.ndarray, settings: Settings
) -> CVResult:
    """Cross-validate one candidate."""
    return cross_validate_candidate(candidate, X, y, settings)


@task(name="fit-final", cache_policy=NO_CACHE)
def fit_task(candidate: CandidateConfig, X: pd.DataFrame, y: np.ndarray, settings: Settings) -> Any:
    """Refit the chosen candidate on the whole training split."""
    return fit_final(candidate, X, y, settings)


def _load_training_data(settings: Settings, data: str | None) -> tuple[pd.DataFrame, list[str]]:
    if data:
        return read_table(data), [Path(data).stem]
    return assemble_window(
        settings.path(settings.data.accepted_dir),
        settings.training.window_batches,
        settings.data.timestamp,
    )


def _holdout_is_newer(train: pd.DataFrame, holdout: pd.DataFrame, ts: str | None) -> Check:
    if not ts or ts not in train.columns:
        return Check(
            "holdout_newer_than_training",
            True,
            "no timestamp",
            "newest rows held out",
            "the data has no timestamp column: seeded random holdout",
        )
    t_max, h_min = pd.to_datetime(train[ts]).max(), pd.to_datetime(holdout[ts]).min()
    ok = bool(h_min >= t_max)
    return Check(
        "holdout_newer_than_training",
        ok,
        f"holdout from {h_min}",
        f">= {t_max}",
        "every holdout row is at least as new as every training row"
        if ok
        else "some holdout rows are older than training rows: validating on the past",
    )


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
    repaired = registry.reconcile_stages()
    if repaired:
        log.warning("Repaired stage mirrors left by an interrupted run: %s", "; ".join(repaired))
    champion = registry.champion()
    chosen = settings.enabled_candidates(tuple(candidates or ()))

    frame, batches = _load_training_data(settings, data)
    check_training_frame(frame, settings)
    reference = registry.load_reference(champion) if champion else None
    validation = validate_batch(frame, batch_schema(settings, reference))
    if not validation.success:
        raise DataError(
            f"the training data failed validation, so nothing was trained: {validation.summary()}"
        )
    frame = labelled_rows(frame, d.target)
    train, holdout = time_split(
        frame, settings.training.holdout_fraction, d.timestamp, settings.project.seed
    )
    features = list(d.features)
    X_tr, y_tr = train[features], train[d.target].to_numpy().astype(int)
    X_ho, y_ho = holdout[features], holdout[d.target].to_numpy().astype(int)
    fp = fingerprint(frame)
    log.info(
        "Training %d candidate(s) on %d rows (holdout %d rows, newest) from %s; champion: %s",
        len(chosen),
        len(train),
        len(holdout),
        ", ".join(batches),
        f"v{champion.version}" if champion else "none",
    )

    futures = [cv_task.submit(c, X_tr, y_tr, settings) for c in chosen]
    cv_results = tuple(f.result() for f in futures)
    best = choose_best(cv_results, metric)
    best_cfg = next(c for c in chosen if c.name == best.candidate)
    model = fit_task(best_cfg, X_tr, y_tr, settings)
    for r in cv_results:
        log.info("CV %s: %s %.4f ± %.4f", r.candidate, metric, r.mean(metric), r.std(metric))

    trigger_reasons = tuple((trigger_evidence or {}).get("reasons", ()))
    with registry.start_run(f"retrain-{reason}", tags={f"{TAG}trigger": reason}) as run_id:
        registry.log_params(
            {
                "trigger": reason,
                "training_batches": ",".join(batches),
                "train_rows": len(train),
                "holdout_rows": len(holdout),
                "data_fingerprint": fp,
                "best_candidate": best.candidate,
                "cv_strategy": best.strategy,
                "cv_n_splits": best.n_splits,
                "primary_metric": metric,
                **{f"best.{k}": v for k, v in best.params.items()},
            }
        )
        if trigger_evidence:
            registry.log_dict(trigger_evidence, "trigger.json")
        for r in cv_results:
            with registry.start_run(f"candidate-{r.candidate}", nested=True):
                registry.log_params({"estimator": r.estimator, **r.params})
                for m, scores in r.fold_scores.items():
                    for i, s in enumerate(scores):
                        registry.log_metrics({f"cv_{m}": s}, step=i)
                    registry.log_metrics(
                        {
                            f"cv_{m}_mean": float(np.mean(scores)),
                            f"cv_{m}_std": float(np.std(scores, ddof=1)),
                        }
                    )
                registry.log_metrics({"fit_seconds": r.fit_seconds})
        registry.log_reference(train, settings.project.seed)
        model_uri = registry.log_model(model, X_tr.head(200))
        tags = reports.version_tags(
            trigger=reason,
            fingerprint=fp,
            cv=best,
            primary_metric=metric,
            batches=batches,
            n_train=len(train),
            n_holdout=len(holdout),
        )
        version = registry.register(
            model_uri, run_id, tags, description="Under evaluation by the challenger gate."
        )
        registry.mark_challenger(version.version)
        log.info("Registered %s v%d as challenger", settings.project.model_name, version.version)

        # Hard checks: validation, the registered version loaded back, the same newer holdout.
        checks = [
            Check(
                "data_validation",
                True,
                f"{validation.n_expectations} expectations",
                "all pass",
                f"the {len(frame)} training and holdout rows passed validation",
            )
        ]
        loaded = registry.load_model(version.version)
        champion_cols = registry.input_columns(champion.version) if champion else None
        checks.append(
            smoke_test(
                loaded,
                X_ho.head(settings.gate.smoke_rows),
                version.version,
                champion_cols,
                registry.input_columns(version.version),
            )
        )
        checks.append(_holdout_is_newer(train, holdout, d.timestamp))
        champion_scores = None
        if champion is not None:
            try:
                champion_scores = positive_scores(registry.load_model(champion.version), X_ho)
                checks.append(
                    Check(
                        "same_holdout",
                        True,
                        f"{len(holdout)} rows",
                        "both models",
                        f"champion v{champion.version} and challenger v{version.version} scored on the same {len(holdout)} rows",
                    )
                )
            except Exception as exc:
                checks.append(
                    Check(
                        "champion_loads",
                        False,
                        "error",
                        "loads and predicts",
                        f"champion v{champion.version} could not be loaded or scored: {exc}",
                    )
                )
        challenger_scores = positive_scores(loaded, X_ho)
        evidence = gather_evidence(
            y_ho,
            challenger_scores,
            champion_scores,
            primary_metric=metric,
            champion_version=champion.version if champion_scores is not None else None,
            challenger_version=version.version,
            confidence=settings.gate.confidence,
            n_resamples=settings.gate.n_resamples,
            seed=settings.project.seed,
        )
        decision = decide(evidence, tuple(checks), settings.gate)

        expected = champion.version if champion else None
        promoted_from: int | None = None
        if decision.promotes:
            try:
                promoted_from = registry.promote(version.version, expected)
            except ChampionMoved as exc:
                decision = GateDecision(
                    Outcome.REJECT,
                    "keep_champion",
                    f"compare-and-set refused the promotion: {exc}",
                    decision.mode,
                    decision.rule,
                    decision.checks,
                    decision.rows_needed,
                )
        if not decision.promotes:
            registry.retire_challenger(version.version)

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
        registry.tag_version(
            version.version, reports.decision_tags(decision, evidence), description=card
        )
        registry.set_run_tags(
            {f"{TAG}gate_decision": decision.outcome.value, f"{TAG}version": str(version.version)}
        )
        metrics = {
            f"holdout_{m}_challenger": row["challenger"] for m, row in evidence.secondary.items()
        }
        metrics |= {
            f"holdout_{m}_champion": row["champion"]
            for m, row in evidence.secondary.items()
            if "champion" in row
        }
        if evidence.primary is not None:
            metrics |= {
                "delta": evidence.primary.delta,
                "delta_lower": evidence.primary.lower,
                "delta_upper": evidence.primary.upper,
            }
        registry.log_metrics(metrics)
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
                    f"{metric}_std": r.std(metric),
                    "folds": list(r.fold_scores[metric]),
                }
                for r in cv_results
            ],
            "challenger_version": version.version,
            "champion_before": expected,
            "champion_after": version.version if decision.promotes else expected,
            "promoted": decision.promotes,
            "previous_champion": promoted_from,
            "decision": decision.to_dict(),
            "evidence": evidence.to_dict(),
        }
        registry.log_dict(result, "gate/decision.json")
        registry.log_text(card, "gate/model_card.md")

    create_table_artifact(
        reports.decision_table(result),
        key="gate-decision",
        description=f"{settings.project.model_name} v{version.version}: {decision.outcome.value}",
    )
    create_markdown_artifact(
        card, key="model-card", description=f"Model card of v{version.version}"
    )
    log.info("Gate: %s → %s. %s", decision.outcome.value, decision.action, decision.reason)
    return result
