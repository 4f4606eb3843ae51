"""Judging a registered challenger against the champion, acting on the verdict, recording it.

Shared by the ``retrain`` and ``promote`` flows. Orchestration only: the numbers come from
``challenger.evaluation``, the verdict from ``challenger.gate``, the registry writes from
``challenger.registry``.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency

from challenger.config import Settings
from challenger.errors import ChampionMoved
from challenger.gate import report as reports
from challenger.gate.decide import GateDecision, Outcome, decide
from challenger.gate.evidence import (
    Check,
    Evidence,
    Operational,
    gather_evidence,
    measure_latency,
    resampling_groups,
    smoke_test,
)
from challenger.problem import encode_target, model_scores, shared_classes
from challenger.store.batches import assemble_window, read_table
from challenger.store.registry import TAG, Registry, VersionInfo
from challenger.store.tracking import Tracking

PROMOTION_LIMIT = "challenger-promotion"


@dataclass(frozen=True)
class Verdict:
    """Evidence, decision and the scores behind them."""

    evidence: Evidence
    decision: GateDecision
    y: np.ndarray
    champion_scores: np.ndarray | None
    challenger_scores: np.ndarray
    champion: VersionInfo | None


def _tag_float(version: VersionInfo | None, key: str) -> float | None:
    if version is None or f"{TAG}{key}" not in version.tags:
        return None
    try:
        return float(version.tags[f"{TAG}{key}"])
    except ValueError:
        return None


def _operational(
    registry: Registry,
    version: VersionInfo,
    model: Any,
    X: pd.DataFrame,
    repeats: int,
    task: str,
    threads: int,
) -> Operational:
    timed = measure_latency(model, X, repeats, task=task, threads=threads)
    size = _tag_float(version, "model_size_mb")
    if size is None:
        size = registry.model_size_mb(version.version)
    return replace(
        timed,
        model_size_mb=size,
        training_seconds=_tag_float(version, "training_seconds"),
        peak_memory_mb=_tag_float(version, "peak_memory_mb"),
    )


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate(
    settings: Settings,
    registry: Registry,
    version: VersionInfo,
    champion: VersionInfo | None,
    holdout: pd.DataFrame,
    base_checks: tuple[Check, ...],
) -> Verdict:
    """Score champion and challenger (both loaded back from the registry) on the same holdout."""
    d, gate = settings.data, settings.gate
    features = list(d.features)
    X = holdout[features]
    threads = settings.serving.model_threads  # time predictions as the serving app runs them
    checks = list(base_checks)
    loaded = registry.load_model(version.version)
    champion_cols = registry.input_columns(champion.version) if champion else None
    checks.append(
        smoke_test(
            loaded,
            X.head(gate.smoke_rows),
            version.version,
            champion_cols,
            registry.input_columns(version.version),
            d.task,
        )
    )
    operational = {
        "challenger": _operational(
            registry, version, loaded, X, gate.latency_repeats, d.task, threads
        )
    }
    champ_model: Any = None
    if champion is not None:
        try:
            champ_model = registry.load_model(champion.version)
            model_scores(champ_model, X.head(1), d.task)
            operational["champion"] = _operational(
                registry, champion, champ_model, X, gate.latency_repeats, d.task, threads
            )
            checks.append(
                Check(
                    "same_holdout",
                    True,
                    f"{len(holdout)} rows",
                    "both models",
                    f"champion v{champion.version} and challenger v{version.version} scored on the same {len(holdout)} rows",
                )
            )
        except Exception as exc:  # a champion that cannot score is recorded, then rejected
            champ_model = None
            checks.append(
                Check(
                    "champion_loads",
                    False,
                    "error",
                    "loads and predicts",
                    f"champion v{champion.version} could not be loaded or scored: {exc}",
                )
            )
    # Multiclass: both models' probabilities over every class either knows, same columns.
    classes = shared_classes(loaded, champ_model) if d.task == "multiclass" else None
    y = encode_target(holdout[d.target], d.task, d.target, classes)
    challenger_scores = model_scores(loaded, X, d.task, classes)
    champion_scores = (
        model_scores(champ_model, X, d.task, classes) if champ_model is not None else None
    )
    groups = resampling_groups(
        holdout, gate.resample, gate.group_column, gate.block_rows, d.timestamp
    )
    evidence = gather_evidence(
        y,
        challenger_scores,
        champion_scores,
        primary_metric=settings.training.primary_metric,
        champion_version=champion.version if champion_scores is not None and champion else None,
        challenger_version=version.version,
        confidence=gate.confidence,
        n_resamples=gate.n_resamples,
        seed=settings.project.seed,
        groups=groups,
        resample_unit=gate.resample,
        slice_values={s.column: holdout[s.column].astype(str).to_numpy() for s in gate.slices},
        slices=gate.slices,
        operational=operational,
        task=d.task,
    )
    decision = decide(evidence, tuple(checks), gate)
    return Verdict(evidence, decision, y, champion_scores, challenger_scores, champion)


def ensure_promotion_limit() -> None:
    """Create the global concurrency limit that serialises promotions (one at a time)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectAlreadyExists

    # Another run may create it at the same moment: that is fine.
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.upsert_global_concurrency_limit_by_name(PROMOTION_LIMIT, 1)


def judge_and_act(
    settings: Settings,
    registry: Registry,
    version: VersionInfo,
    champion: VersionInfo | None,
    holdout: pd.DataFrame,
    base_checks: tuple[Check, ...],
    run_id: str | None,
    force_reason: str | None = None,
) -> tuple[Verdict, int | None]:
    """Evaluate, then promote under the promotion lock with compare-and-set, or retire.

    Two retrains finishing at once cannot both promote: promotions hold a Prefect global
    concurrency limit of one slot (``strict=True``, so a missing limit is an error, not a
    warning), and inside it ``champion`` moves only if it still points where the
    evaluation saw it. If it moved, the challenger is judged again against the new
    champion before anything changes.

    Returns:
        The final verdict, and the previous champion's version when a promotion happened.
    """
    log = get_run_logger()
    verdict = evaluate(settings, registry, version, champion, holdout, base_checks)
    decision = verdict.decision
    promoted_from: int | None = None
    wants = decision.promotes or force_reason is not None
    if wants:
        ensure_promotion_limit()
        with concurrency(PROMOTION_LIMIT, occupy=1, strict=True, timeout_seconds=600):
            expected = champion.version if champion else None
            current = registry.champion()
            current_v = current.version if current else None
            if current_v != expected:
                log.warning(
                    "Champion moved from v%s to v%s during evaluation; judging again",
                    expected,
                    current_v,
                )
                verdict = evaluate(settings, registry, version, current, holdout, base_checks)
                note = (
                    f"re-evaluated against v{current_v} after the champion moved from v{expected}"
                )
                verdict = replace(
                    verdict,
                    decision=replace(verdict.decision, reason=f"{note}: {verdict.decision.reason}"),
                )
                decision, expected = verdict.decision, current_v
            if force_reason is not None and not decision.promotes:
                decision = replace(
                    decision,
                    action="promote",
                    reason=f"FORCED by a person ({force_reason}); the gate said {decision.outcome.value}: {decision.reason}",
                )
            if decision.promotes and expected == version.version:
                decision = replace(
                    decision,
                    action="keep_champion",
                    reason=f"v{version.version} is already the champion",
                )
            elif decision.promotes:
                try:
                    promoted_from = registry.promote(
                        version.version,
                        expected,
                        reason=decision.reason,
                        run_id=run_id,
                        kind="forced" if force_reason is not None else "promote",
                    )
                except ChampionMoved as exc:
                    decision = replace(
                        decision,
                        outcome=Outcome.REJECT,
                        action="keep_champion",
                        reason=f"compare-and-set refused the promotion: {exc}",
                    )
        verdict = replace(verdict, decision=decision)
    if not decision.promotes:
        registry.retire_challenger(version.version)
    return verdict, promoted_from


def record(
    settings: Settings,
    registry: Registry,
    tracking: Tracking,
    version: VersionInfo,
    verdict: Verdict,
    card: str,
    result: dict[str, Any],
) -> None:
    """Write the decision everywhere a reviewer looks: version tags and description, MLflow
    artifacts (JSON, markdown report, plots) on the active run, and Prefect artifacts."""
    evidence, decision = verdict.evidence, verdict.decision
    registry.tag_version(
        version.version, reports.decision_tags(decision, evidence), description=card[:4900]
    )
    threshold = (
        settings.gate.min_improvement
        if settings.gate.rule == "superiority"
        else -settings.gate.margin
    )
    with tempfile.TemporaryDirectory() as tmp:
        plots = reports.write_plots(
            verdict.y,
            verdict.champion_scores,
            verdict.challenger_scores,
            evidence,
            threshold,
            Path(tmp),
        )
        for p in plots:
            tracking.log_file(p, "gate")
    report = reports.gate_report(
        model_name=settings.project.model_name,
        version=version.version,
        evidence=evidence,
        decision=decision,
        card=card,
        plots=[f"gate/{p.name}" for p in plots],
    )
    tracking.log_text(report, "gate/report.md")
    tracking.log_dict(result, "gate/decision.json")
    metrics = {
        f"holdout_{m}_{who}": v
        for m, row in evidence.secondary.items()
        for who, v in row.items()
        if who in ("champion", "challenger") and v is not None
    }
    if evidence.primary is not None:
        metrics |= {
            "delta": evidence.primary.delta,
            "delta_lower": evidence.primary.lower,
            "delta_upper": evidence.primary.upper,
        }
    for who, ops in evidence.operational.items():
        metrics |= {f"{who}_{k}": v for k, v in ops.to_dict().items() if v is not None}
    tracking.log_metrics(metrics)
    tracking.set_run_tags(
        {f"{TAG}gate_decision": decision.outcome.value, f"{TAG}version": str(version.version)}
    )
    create_table_artifact(
        reports.decision_table(result),
        key="gate-decision",
        description=f"{settings.project.model_name} v{version.version}: {decision.outcome.value}",
    )
    create_markdown_artifact(
        report, key="gate-report", description=f"Gate report of v{version.version}"
    )


def load_window(settings: Settings, data: str | None) -> tuple[pd.DataFrame, list[str]]:
    """The data to train and judge on: a given file, or the newest accepted batches."""
    if data:
        return read_table(data), [Path(data).stem]
    return assemble_window(
        settings.path(settings.data.accepted_dir),
        settings.training.window_batches,
        settings.data.timestamp,
    )


def holdout_newer_check(train_max_ts: str | None, holdout: pd.DataFrame, ts: str | None) -> Check:
    """Never validate on the past: every holdout row at least as new as every training row."""
    if not ts or ts not in holdout.columns or train_max_ts is None:
        return Check(
            "holdout_newer_than_training",
            True,
            "no timestamp",
            "newest rows held out",
            "no timestamp to compare: the holdout is a seeded random split",
        )
    h_min = pd.to_datetime(holdout[ts]).min()
    t_max = pd.Timestamp(train_max_ts)
    ok = bool(h_min >= t_max)
    return Check(
        "holdout_newer_than_training",
        ok,
        f"holdout from {h_min}",
        f">= {t_max}",
        "every holdout row is at least as new as every training row"
        if ok
        else f"holdout rows from {h_min} are older than training rows up to {t_max}: validating on the past",
    )
