"""The monitor flow: validate a batch, measure drift, score the champion, decide whether to retrain.

Orchestration only: every computation is a call into ``challenger``. Given a ``batch`` it
checks that file; without one (the scheduled deployment) it checks every new file in
``data.incoming_dir``. A file holding only ids and labels is a label file: its labels are
joined to the accepted rows they belong to. A file the caller named is never moved: a copy of
a failing one goes to quarantine and a copy of an applied label file is archived; the scan
takes its own files out of the incoming folder (and skips named ones it has already seen).

When a trigger fires, the retrain either runs here as a subflow (``retrain_via="subflow"``,
the command line and the demo) or is requested with a Prefect event
(``retrain_via="event"``, the deployment): ``challenger.drift.detected`` for a data change,
``challenger.performance.degraded`` for a performance drop, ``challenger.retrain.requested``
otherwise. ``prefect.yaml``'s ``retrain/on-trigger`` deployment starts on those events with
the decision and its evidence as parameters.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from challenger.config import Settings, load_config
from challenger.errors import BatchQuarantined, ConfigError
from challenger.monitor import assess, report
from challenger.monitor.concept import ConceptResult, watch_concept
from challenger.monitor.drift import DriftResult
from challenger.monitor.intake import check_batch, new_batches, read_incoming
from challenger.monitor.labels import (
    applied_label_files,
    apply_labels,
    archive_label_file,
    check_labels,
    is_label_file,
    newly_labelled,
)
from challenger.monitor.quarantine import quarantine, unchanged_originals
from challenger.monitor.schema import batch_schema
from challenger.monitor.triggers import TriggerDecision
from challenger.monitor.validation import ValidationResult
from challenger.ops.service import mlflow_ui_base
from challenger.results import FileCheck, MonitorResult, RetrainRequest, RetrainResult, ScanResult
from challenger.store.batches import Conformed, accept_batch
from challenger.train.window import labelled_rows
from flows.common import claim_flow_run, crash_dead_flow_runs, stores
from flows.retrain import retrain_flow

EVENTS = {
    "data_change": "challenger.drift.detected",
    "performance": "challenger.performance.degraded",
    "concept": "challenger.performance.degraded",  # the champion's errors rose
}
REQUESTED_EVENT = "challenger.retrain.requested"


@task(name="validate", cache_policy=NO_CACHE)
def validate_task(
    batch: Conformed, settings: Settings, reference: pd.DataFrame | None, name: str
) -> ValidationResult:
    """Validate a batch against the configured suite, completed from the champion's data."""
    return check_batch(batch, batch_schema(settings, reference, incoming=name))


drift_task = task(name="measure-drift", cache_policy=NO_CACHE)(assess.batch_drift)
concept_task = task(name="watch-concept", cache_policy=NO_CACHE)(watch_concept)


@flow(name="monitor", log_prints=False)
def monitor_flow(
    batch: str | None = None,
    reason: str = "scheduled",
    config: str | None = None,
    retrain: bool = True,
    retrain_via: str = "subflow",
) -> MonitorResult | ScanResult:
    """Check a batch (or every new file in the incoming folder) and retrain if a trigger fires.

    Args:
        batch: Path of a CSV/Parquet batch or label file; None checks every new file in
            ``data.incoming_dir`` (what the scheduled deployment does).
        reason: Why the monitor runs: ``scheduled``, or ``manual`` to force a retrain.
        config: Path to challenger.yaml.
        retrain: Start a retrain when a trigger fires (False: only report).
        retrain_via: ``subflow`` runs the retrain inside this run; ``event`` emits the
            trigger's event for the ``retrain/on-trigger`` deployment instead.

    Raises:
        BatchQuarantined: A file failed validation; a copy went to quarantine with its
            report and the named file stayed where it is (a scanned file leaves the
            incoming folder); when scanning, after the other files were checked.
    """
    settings = load_config(config)
    if retrain_via not in ("subflow", "event"):
        raise ConfigError(f"retrain_via is {retrain_via!r}; use subflow or event")
    claim_flow_run()
    crashed = crash_dead_flow_runs()
    if crashed:
        get_run_logger().warning("Closed runs of killed processes: %s", "; ".join(crashed))
    if batch is not None:
        checked = _check_file(Path(batch), settings, reason, owned=False)
        if not retrain:
            return MonitorResult(checked)
        run, request = _dispatch(checked.decision, settings, config, retrain_via, [checked.batch])
        return MonitorResult(checked, run, request)

    incoming = settings.path(settings.data.incoming_dir)
    accepted_dir = settings.path(settings.data.accepted_dir)
    seen = unchanged_originals(settings.path(settings.data.quarantine_dir), incoming)
    seen += applied_label_files(accepted_dir, incoming)  # named files stay where they are
    paths = new_batches(incoming, accepted_dir, skip=seen)
    get_run_logger().info("%d new file(s) in %s", len(paths), incoming)
    results: list[FileCheck] = []
    failed: list[BatchQuarantined] = []
    for path in paths:
        try:
            results.append(_check_file(path, settings, reason, owned=True))
        except BatchQuarantined as exc:
            failed.append(exc)
    firing = [(r.batch, r.decision) for r in results if r.decision.retrain]
    run, request = None, None
    if retrain and firing:  # one retrain for the whole scan: it trains on the newest batches
        merged = assess.merge_decisions(firing)
        run, request = _dispatch(merged, settings, config, retrain_via, [b for b, _ in firing])
    if failed:
        raise BatchQuarantined(
            f"{len(failed)} of {len(paths)} file(s) failed validation and were quarantined "
            f"(the other {len(results)} were checked): {'; '.join(str(e) for e in failed)}",
            failed[0].quarantine_path,
        )
    return ScanResult(tuple(results), run, request)


def _check_file(path: Path, settings: Settings, reason: str, *, owned: bool) -> FileCheck:
    """Validate one file, accept it, and decide whether a trigger fires.

    ``owned``: the file is in the monitor's own incoming folder (a failing one leaves it);
    a file the user named is never moved.
    """
    log = get_run_logger()
    d = settings.data
    batch = read_incoming(path, settings)
    frame = batch.frame
    registry, tracking = stores(settings)
    champion = registry.champion()
    if is_label_file(frame, settings):
        return _check_labels(path, batch, settings, reason, owned=owned)
    reference = tracking.load_reference(champion.run_id) if champion else None
    validation = validate_task(batch, settings, reference, path.stem)
    if not validation.success:
        _quarantine(path, validation, settings, kind="batch", move=owned)
    batch_id = path.stem
    accept_batch(frame, batch_id, settings.path(d.accepted_dir), d.timestamp)
    log.info(
        "Batch %s passed %d expectations on %d rows",
        batch_id,
        validation.n_expectations,
        len(frame),
    )
    if champion is None or reference is None:
        decision = assess.first_model_decision(settings, reason)
        checked = FileCheck(
            batch_id, "batch", "accepted", validation.n_rows,
            champion.version if champion else None, decision,
        )  # fmt: skip
        return _finish(checked, validation)

    model = registry.load_model(champion.version)
    ref = assess.with_prediction(reference, model, d.features, d.task)
    cur = assess.with_prediction(frame, model, d.features, d.task)
    html = settings.path(d.reports_dir) / f"{batch_id}-drift.html"
    drift: DriftResult | None = drift_task(ref, cur, settings, html)
    labelled = [(batch_id, labelled_rows(frame, d.target))]
    concept: ConceptResult | None = concept_task(
        settings, champion, model, labelled, reference, source=batch_id, once=True
    )
    newest = max((v.created_ms for v in registry.versions()), default=0)
    decision = assess.trigger_decision(
        settings, champion, model, newest, reason, drift, reference, frame, concept
    )
    checked = FileCheck(
        batch_id, "batch", "accepted", validation.n_rows, champion.version, decision, drift
    )
    if drift is None:
        log.warning("No feature of %s has values on both sides: drift was not measured", batch_id)
        return _finish(checked, validation)
    log.info("Drift: %s", drift.summary())
    metric = settings.training.primary_metric
    run_id = report.log_monitor_run(
        tracking, metric, batch_id, frame, drift, decision, champion.version, html
    )
    link = (
        f"{mlflow_ui_base(settings)}/#/experiments/{tracking.experiment_id}/runs/{run_id}"
        f"/artifacts/drift/{html.name}"
    )
    create_link_artifact(
        link=link,
        link_text=f"Evidently drift report of {batch_id} (MLflow)",
        key="drift-report",
        description=f"Evidently HTML report logged to MLflow run {run_id}; local copy {html}",
    )
    create_markdown_artifact(
        report.drift_markdown(batch_id, drift, link),
        key="drift-summary",
        description=f"drift of {batch_id}",
    )
    return _finish(checked, validation)


def _check_labels(
    path: Path, labels: Conformed, settings: Settings, reason: str, *, owned: bool
) -> FileCheck:
    """Join a label file to the accepted rows it labels, then re-check performance."""
    registry, tracking = stores(settings)
    champion = registry.champion()
    accepted_dir = settings.path(settings.data.accepted_dir)
    validation, per_batch = check_labels(labels, settings, accepted_dir)
    if not validation.success:
        _quarantine(path, validation, settings, kind="labels", move=owned)
    fresh = newly_labelled(per_batch, settings)
    written = apply_labels(per_batch, settings)
    kept = archive_label_file(path, accepted_dir, move=owned)
    get_run_logger().info(
        "Labels %s: %d rows labelled in %d batch(es); kept in %s",
        path.name,
        written,
        len(per_batch),
        kept,
    )
    if champion is None:
        decision = assess.first_model_decision(settings, reason)
    else:
        model = registry.load_model(champion.version)
        reference = tracking.load_reference(champion.run_id)
        concept = concept_task(settings, champion, model, fresh, reference, source=path.name)
        newest = max((v.created_ms for v in registry.versions()), default=0)
        decision = assess.trigger_decision(
            settings, champion, model, newest, reason, None, None, None, concept
        )
    labelled = tuple(sorted(p.stem for p in per_batch))
    checked = FileCheck(
        path.stem, "labels", "labels applied", written, champion.version if champion else None,
        decision, labelled_batches=labelled,
    )  # fmt: skip
    return _finish(checked, validation)


def _finish(checked: FileCheck, validation: ValidationResult) -> FileCheck:
    decision = checked.decision
    get_run_logger().info("Trigger: %s (%s)", decision.trigger, "; ".join(decision.reasons))
    create_table_artifact(
        report.decision_rows(
            checked.batch, checked.kind, checked.rows, validation, checked.drift, decision
        ),
        key="monitor-decision",
        description=f"monitor of {checked.batch}",
    )
    return checked


def _quarantine(
    path: Path, validation: ValidationResult, settings: Settings, kind: str, *, move: bool
) -> None:
    where = quarantine(
        path,
        validation,
        settings.path(settings.data.quarantine_dir),
        kind="labels" if kind == "labels" else "batch",
        move=move,
    )
    create_markdown_artifact(
        report.quarantine_markdown(path.name, validation, where),
        key="quarantine",
        description=f"{path.name} failed validation",
    )
    what = "was moved to" if move else f"stays in {path.parent}; a copy is in"
    raise BatchQuarantined(
        f"{kind} {path.name} failed validation and {what} {where} with its report: "
        f"{validation.summary()}",
        str(where),
    )


def _dispatch(
    decision: TriggerDecision,
    settings: Settings,
    config: str | None,
    retrain_via: str,
    batches: list[str],
) -> tuple[RetrainResult | None, RetrainRequest | None]:
    """Start the retrain the decision asks for: as a subflow, or by emitting its event."""
    if not decision.retrain:
        return None, None
    if retrain_via == "subflow":
        run = retrain_flow(
            reason=decision.trigger, config=config, trigger_evidence=decision.to_dict()
        )
        return run, None
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
    return None, RetrainRequest(name, None if event is None else str(event.id))
