"""The monitor flow: validate a batch, measure drift, score the champion, decide whether to retrain.

Thin orchestration only: every computation is a call into ``challenger``. Given a
``batch`` it checks that file; without one (the scheduled deployment) it checks every new
file in ``data.incoming_dir``. A file holding only ids and labels is a label file: its
labels are joined to the accepted rows they belong to.

When a trigger fires, the retrain either runs here as a subflow (``retrain_via="subflow"``,
the command line and the demo) or is requested with a Prefect event
(``retrain_via="event"``, the deployment): ``challenger.drift.detected`` for a data change,
``challenger.performance.degraded`` for a performance drop, ``challenger.retrain.requested``
otherwise. ``prefect.yaml``'s ``retrain/on-trigger`` deployment starts on those events with
the decision and its evidence as parameters.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from challenger.config import Settings, load_config
from challenger.errors import BatchQuarantined, ConfigError
from challenger.monitor.drift import DriftResult, measure_drift
from challenger.monitor.intake import new_batches
from challenger.monitor.labels import apply_labels, archive_label_file, check_labels, is_label_file
from challenger.monitor.performance import (
    batches_since,
    labelled_rows_since,
    performance_windows,
    recent_labelled,
)
from challenger.monitor.quarantine import quarantine
from challenger.monitor.schema import batch_schema, schema_changes
from challenger.monitor.triggers import TriggerDecision, decide_retrain
from challenger.monitor.validation import ValidationResult, validate_batch
from challenger.ops.service import mlflow_ui_base
from challenger.problem import prediction_for_drift
from challenger.store.batches import accept_batch, accepted_batches, read_table
from challenger.store.registry import TAG, Registry, VersionInfo
from challenger.store.tracking import Tracking
from flows.retrain import retrain_flow

EVENTS = {
    "data_change": "challenger.drift.detected",
    "performance": "challenger.performance.degraded",
}
REQUESTED_EVENT = "challenger.retrain.requested"
_PREDICTION = "__champion_score__"


@task(name="validate", cache_policy=NO_CACHE)
def validate_task(
    frame: pd.DataFrame, settings: Settings, reference: pd.DataFrame | None
) -> ValidationResult:
    """Validate a batch against the configured suite, completed from the champion's data."""
    return validate_batch(frame, batch_schema(settings, reference))


@task(name="measure-drift", cache_policy=NO_CACHE)
def drift_task(
    reference: pd.DataFrame, current: pd.DataFrame, settings: Settings, html: Path
) -> DriftResult | None:
    """Feature, prediction and target drift; the HTML report is drawn on a bounded sample.

    Returns None when no feature has values on both sides (nothing to compare).
    """
    d, cfg = settings.data, settings.drift

    def measurable(columns: tuple[str, ...]) -> list[str]:
        # A column the configuration lets be all-null has nothing to compare; the schema
        # check reports it instead.
        return [c for c in columns if reference[c].notna().any() and current[c].notna().any()]

    numeric, categorical = measurable(d.numeric), measurable(d.categorical)
    if not numeric and not categorical:
        return None
    kept = set(numeric) | set(categorical)
    return measure_drift(
        reference,
        current,
        numeric=numeric,
        categorical=categorical,
        share_threshold=settings.triggers.data_change.drift_share,
        method=cfg.method,
        threshold=cfg.threshold,
        per_column_method={c: m for c, m in cfg.per_column_method.items() if c in kept},
        per_column_threshold={c: t for c, t in cfg.per_column_threshold.items() if c in kept},
        prediction=_PREDICTION if _PREDICTION in reference.columns else None,
        target=d.target,
        prediction_kind="categorical" if d.task == "multiclass" else "numeric",
        target_kind="numeric" if d.task == "regression" else "categorical",
        engine=cfg.engine,
        max_rows=cfg.max_rows,
        seed=settings.project.seed,
        html_path=html,
    )


@flow(name="monitor", log_prints=False)
def monitor_flow(
    batch: str | None = None,
    reason: str = "scheduled",
    config: str | None = None,
    retrain: bool = True,
    retrain_via: str = "subflow",
) -> dict[str, Any]:
    """Check a batch (or every new file in the incoming folder) and retrain if a trigger fires.

    Args:
        batch: Path of a CSV/Parquet batch or label file; None checks every new file in
            ``data.incoming_dir`` (what the scheduled deployment does).
        reason: Why the monitor runs: ``scheduled``, or ``manual`` to force a retrain.
        config: Path to challenger.yaml.
        retrain: Start a retrain when a trigger fires (False: only report).
        retrain_via: ``subflow`` runs the retrain inside this run; ``event`` emits the
            trigger's event for the ``retrain/on-trigger`` deployment instead.

    Returns:
        For one batch: what the monitor saw and decided (and the retrain's result when it
        ran as a subflow). Without a batch: ``{"batches": [...], "quarantined": [...]}``.

    Raises:
        BatchQuarantined: A file failed validation; it was moved to quarantine with its
            report (when scanning, after the other files were checked).
    """
    log = get_run_logger()
    settings = load_config(config)
    if retrain_via not in ("subflow", "event"):
        raise ConfigError(f"retrain_via is {retrain_via!r}; use subflow or event")
    if batch is not None:
        result = _check_file(Path(batch), settings, reason)
        result["retrain_request"] = None
        if retrain:
            result["retrain"], result["retrain_request"] = _dispatch(
                result["trigger_decision"], settings, config, retrain_via, [result["batch"]]
            )
        result.pop("trigger_decision")
        return result

    incoming = settings.path(settings.data.incoming_dir)
    paths = new_batches(incoming, settings.path(settings.data.accepted_dir))
    log.info("%d new file(s) in %s", len(paths), incoming)
    results: list[dict[str, Any]] = []
    failed: list[BatchQuarantined] = []
    for path in paths:
        try:
            results.append(_check_file(path, settings, reason))
        except BatchQuarantined as exc:
            failed.append(exc)
    firing = [r for r in results if r["trigger_decision"].retrain]
    out: dict[str, Any] = {
        "batches": results,
        "quarantined": [{"error": str(e), "path": e.quarantine_path} for e in failed],
        "retrain": None,
        "retrain_request": None,
    }
    if retrain and firing:
        # One retrain for the whole scan: it trains on the newest accepted batches anyway.
        out["retrain"], out["retrain_request"] = _dispatch(
            _merge(firing), settings, config, retrain_via, [r["batch"] for r in firing]
        )
    for r in results:
        r.pop("trigger_decision")
    if failed:
        summary = "; ".join(str(e) for e in failed)
        raise BatchQuarantined(
            f"{len(failed)} of {len(paths)} file(s) failed validation and were quarantined "
            f"(the other {len(results)} were checked): {summary}",
            failed[0].quarantine_path,
        )
    return out


def _check_file(path: Path, settings: Settings, reason: str) -> dict[str, Any]:
    """Validate one file, accept it, and decide whether a trigger fires."""
    log = get_run_logger()
    d = settings.data
    frame = read_table(path)
    registry = Registry.from_settings(settings)
    tracking = Tracking.from_settings(settings)
    champion = registry.champion()
    accepted_dir = settings.path(d.accepted_dir)
    if is_label_file(frame, settings):
        return _check_labels(path, frame, settings, registry, champion, reason)

    reference = tracking.load_reference(champion.run_id) if champion else None
    validation: ValidationResult = validate_task(frame, settings, reference)
    if not validation.success:
        _quarantine(path, validation, settings, kind="batch")
    batch_id = path.stem
    accept_batch(frame, batch_id, accepted_dir)
    log.info(
        "Batch %s passed %d expectations on %d rows",
        batch_id,
        validation.n_expectations,
        validation.n_rows,
    )
    result: dict[str, Any] = {
        "batch": batch_id,
        "kind": "batch",
        "status": "accepted",
        "rows": validation.n_rows,
        "champion": champion.version if champion else None,
        "drift": None,
        "retrain": None,
    }
    if champion is None or reference is None:
        decision = decide_retrain(
            policy=settings.triggers, has_champion=False, drift_share=None, requested=reason
        )
        return _finish(result, decision, None, validation, settings)

    model = registry.load_model(champion.version)
    features = list(d.features)
    ref = reference.assign(
        **{_PREDICTION: prediction_for_drift(model, reference[features], d.task)}
    )
    cur = frame.assign(**{_PREDICTION: prediction_for_drift(model, frame[features], d.task)})
    html = settings.path(d.reports_dir) / f"{batch_id}-drift.html"
    drift: DriftResult | None = drift_task(ref, cur, settings, html)
    decision = _decide(settings, registry, champion, model, reason, drift, reference, frame)
    if drift is None:
        log.warning("No feature of %s has values on both sides: drift was not measured", batch_id)
        return _finish(result, decision, None, validation, settings)
    log.info("Drift: %s", drift.summary())
    result["drift"] = drift.to_dict()
    run_id = _log_monitor_run(tracking, settings, batch_id, frame, drift, decision, champion, html)
    _drift_artifacts(settings, tracking, run_id, batch_id, drift, html)
    return _finish(result, decision, drift, validation, settings)


def _check_labels(
    path: Path,
    frame: pd.DataFrame,
    settings: Settings,
    registry: Registry,
    champion: VersionInfo | None,
    reason: str,
) -> dict[str, Any]:
    """Join a label file to the accepted rows it labels, then re-check performance."""
    log = get_run_logger()
    accepted_dir = settings.path(settings.data.accepted_dir)
    validation, per_batch = check_labels(frame, settings, accepted_dir)
    if not validation.success:
        _quarantine(path, validation, settings, kind="labels")
    written = apply_labels(per_batch, settings)
    kept = archive_label_file(path, accepted_dir)
    log.info(
        "Labels %s: %d rows labelled in %d batch(es); kept in %s",
        path.name,
        written,
        len(per_batch),
        kept,
    )
    result: dict[str, Any] = {
        "batch": path.stem,
        "kind": "labels",
        "status": "labels applied",
        "rows": written,
        "labelled_batches": sorted(p.stem for p in per_batch),
        "champion": champion.version if champion else None,
        "drift": None,
        "retrain": None,
    }
    if champion is None:
        decision = decide_retrain(
            policy=settings.triggers, has_champion=False, drift_share=None, requested=reason
        )
    else:
        model = registry.load_model(champion.version)
        decision = _decide(settings, registry, champion, model, reason, None, None, None)
    return _finish(result, decision, None, validation, settings)


def _decide(
    settings: Settings,
    registry: Registry,
    champion: VersionInfo,
    model: Any,
    reason: str,
    drift: DriftResult | None,
    reference: pd.DataFrame | None,
    frame: pd.DataFrame | None,
) -> TriggerDecision:
    """Gather the evidence every trigger needs and apply the policy."""
    d, policy = settings.data, settings.triggers
    accepted_dir = settings.path(d.accepted_dir)
    trained_on = [b for b in champion.tags.get(f"{TAG}training_batches", "").split(",") if b]
    names = [p.stem for p in accepted_batches(accepted_dir)]
    holdout = champion.tags.get(f"{TAG}holdout_{settings.training.primary_metric}")
    labelled, _ = recent_labelled(
        accepted_dir,
        settings,
        exclude=set(trained_on),
        max_rows=policy.performance.window_rows * policy.performance.windows,
    )
    windows = (
        performance_windows(model, labelled, settings, float(holdout) if holdout else None)
        if not labelled.empty
        else []
    )
    newest = max((v.created_ms for v in registry.versions()), default=0)
    return decide_retrain(
        policy=policy,
        has_champion=True,
        drift_share=drift.drift_share if drift else None,
        drifted_columns=drift.drifted_columns() if drift else (),
        performance_windows=windows,
        schema_changes=schema_changes(reference, frame, settings)
        if reference is not None and frame is not None
        else (),
        new_labelled_rows=labelled_rows_since(accepted_dir, d.target, set(trained_on)),
        requested=reason if reason in ("manual", "interval") else None,
        batches_since_retrain=batches_since(names, trained_on),
        minutes_since_retrain=(time.time() * 1000 - newest) / 60_000 if newest else None,
    )


def _finish(
    result: dict[str, Any],
    decision: TriggerDecision,
    drift: DriftResult | None,
    validation: ValidationResult,
    settings: Settings,
) -> dict[str, Any]:
    get_run_logger().info("Trigger: %s (%s)", decision.trigger, "; ".join(decision.reasons))
    create_table_artifact(
        [
            {"item": "file", "value": result["batch"]},
            {"item": "kind", "value": result["kind"]},
            {"item": "rows", "value": result["rows"]},
            {"item": "validation", "value": f"passed {validation.n_expectations} expectations"},
            {
                "item": "drift share",
                "value": "n/a" if drift is None else f"{drift.drift_share:.0%}",
            },
            {"item": "retrain", "value": f"{decision.retrain} ({decision.trigger})"},
            *[{"item": "reason", "value": r} for r in decision.reasons],
        ],
        key="monitor-decision",
        description=f"monitor of {result['batch']}",
    )
    result["trigger"] = decision.to_dict()
    result["trigger_decision"] = decision
    return result


def _quarantine(path: Path, validation: ValidationResult, settings: Settings, kind: Any) -> None:
    where = quarantine(path, validation, settings.path(settings.data.quarantine_dir), kind=kind)
    create_markdown_artifact(
        f"## `{path.name}` quarantined\n\n```\n{validation.summary()}\n```\n\n"
        f"Report: `{where}/validation.json` (GX data docs: `{where}/data_docs.html`). "
        f"Fix the file there and run `challenger release {where.name}`.",
        key="quarantine",
        description=f"{path.name} failed validation",
    )
    raise BatchQuarantined(
        f"{kind} {path.name} failed validation and was moved to {where} with its report: "
        f"{validation.summary()}",
        str(where),
    )


def _log_monitor_run(
    tracking: Tracking,
    settings: Settings,
    batch_id: str,
    frame: pd.DataFrame,
    drift: DriftResult,
    decision: TriggerDecision,
    champion: VersionInfo,
    html: Path,
) -> str:
    tags = {
        f"{TAG}kind": "monitor",
        f"{TAG}batch": batch_id,
        f"{TAG}trigger": decision.trigger,
        f"{TAG}champion_version": str(champion.version),
    }
    with tracking.start_run(f"monitor-{batch_id}", tags=tags) as run_id:
        metrics = {"drift_share": drift.drift_share, "rows": len(frame)}
        if drift.prediction is not None:
            metrics["prediction_drift_score"] = drift.prediction.score
        if drift.target is not None:
            metrics["target_drift_score"] = drift.target.score
        for i, window in enumerate(decision.evidence.get("performance", {}).get("windows", [])):
            tracking.log_metrics(
                {f"champion_{settings.training.primary_metric}": window["value"]}, step=i
            )
        tracking.log_metrics(metrics)
        tracking.log_dict(drift.to_dict(), "drift/drift.json")
        tracking.log_dict(decision.to_dict(), "trigger.json")
        tracking.log_file(html, "drift")
    return str(run_id)


def _drift_artifacts(
    settings: Settings,
    tracking: Tracking,
    run_id: str,
    batch_id: str,
    drift: DriftResult,
    html: Path,
) -> None:
    base = mlflow_ui_base(settings)
    link = (
        f"{base}/#/experiments/{tracking.experiment_id}/runs/{run_id}/artifacts/drift/{html.name}"
    )
    create_link_artifact(
        link=link,
        link_text=f"Evidently drift report of {batch_id} (MLflow)",
        key="drift-report",
        description=f"Evidently HTML report logged to MLflow run {run_id}; local copy {html}",
    )
    rows = [
        f"| {c.column} | {c.kind} | {c.method} | {c.score:.4g} | {c.threshold:.4g} | "
        f"{'**drift**' if c.drifted else 'ok'} |"
        for c in (*drift.columns, drift.prediction, drift.target)
        if c is not None
    ]
    sample = (
        f" The HTML report shows Evidently on a seeded sample of {drift.report_rows:,} rows per side."
        if drift.report_rows and drift.report_rows < max(drift.n_reference, drift.n_current)
        else ""
    )
    create_markdown_artifact(
        "\n".join(
            [
                f"## Drift of `{batch_id}`: {drift.n_drifted} of {len(drift.columns)} features "
                f"({drift.drift_share:.0%}, threshold {drift.share_threshold:.0%})",
                "",
                f"Verdicts by the {drift.engine} engine on {drift.n_current:,} current vs "
                f"{drift.n_reference:,} reference rows.{sample} "
                f"[Evidently report in MLflow]({link})",
                "",
                "| column | kind | method | score | threshold | verdict |",
                "|---|---|---|---|---|---|",
                *rows,
            ]
        ),
        key="drift-summary",
        description=f"drift of {batch_id}",
    )


def _merge(results: list[dict[str, Any]]) -> TriggerDecision:
    """One decision for a scan in which several files fired a trigger."""
    decisions: list[TriggerDecision] = [r["trigger_decision"] for r in results]
    first = decisions[0]
    if len(decisions) == 1:
        return first
    reasons = tuple(
        f"{r['batch']}: {reason}" for r in results for reason in r["trigger"]["reasons"]
    )
    evidence = {r["batch"]: r["trigger"]["evidence"] for r in results}
    return TriggerDecision(True, first.trigger, reasons, evidence)


def _dispatch(
    decision: TriggerDecision,
    settings: Settings,
    config: str | None,
    retrain_via: str,
    batches: list[str],
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Start the retrain the decision asks for: as a subflow, or by emitting its event."""
    if not decision.retrain:
        return None, None
    if retrain_via == "subflow":
        return (
            retrain_flow(
                reason=decision.trigger, config=config, trigger_evidence=decision.to_dict()
            ),
            None,
        )
    name = EVENTS.get(decision.trigger, REQUESTED_EVENT)
    model = settings.project.model_name
    event = emit_event(
        event=name,
        resource={
            "prefect.resource.id": f"challenger.model.{model}",
            "prefect.resource.name": model,
        },
        payload={
            "trigger": decision.trigger,
            "evidence": decision.to_dict(),
            "batches": batches,
            "config": config,
        },
    )
    get_run_logger().info("Emitted %s for %s: %s", name, model, "; ".join(decision.reasons))
    return None, {"event": name, "id": None if event is None else str(event.id)}
