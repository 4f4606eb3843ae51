"""The check of one incoming file: validate, accept, measure drift, watch the champion, decide.

This is the sequence the monitor flow runs for each file, written once here so the flow only
orchestrates it. :func:`check_file` reads a batch or label file; a batch is validated against
the configured suite completed from the champion's data, accepted into the batch store, and
compared with the champion's reference (drift) and labels (concept); a label file is joined to
the accepted rows it labels and the champion's performance re-checked. Either way the trigger
policy decides whether to retrain. A file that fails validation is quarantined with its report
(a file the user named is copied, never moved) and :class:`~challenger.errors.BatchQuarantined`
is raised with the quarantine report as Markdown for the caller to publish.

The steps that should show in an orchestrator's UI (validation, drift, the concept watch) are
passed in as :class:`Steps`, so a flow can wrap them as tasks while the library stays free of
Prefect; :func:`incoming_files` lists what a scan still has to look at.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from challenger.config import Settings
from challenger.errors import BatchQuarantined
from challenger.monitor import assess, report, stream
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
from challenger.monitor.lineage import Effectiveness, assess_lineage, lineage_plot
from challenger.monitor.lineage import from_versions as lineage_of
from challenger.monitor.quarantine import quarantine, unchanged_originals
from challenger.monitor.schema import batch_schema
from challenger.monitor.validation import BatchSchema, ValidationResult
from challenger.online import batch_shadow
from challenger.online.batch_shadow import BatchShadowOutcome
from challenger.results import FileCheck
from challenger.store.batches import Conformed, accept_batch
from challenger.store.registry import Registry, VersionInfo
from challenger.store.tracking import Tracking
from challenger.train.window import labelled_rows


class Log(Protocol):
    """The logger the steps report to (a flow passes its run logger)."""

    def info(self, msg: str, *args: object) -> None: ...

    def warning(self, msg: str, *args: object) -> None: ...


@dataclass(frozen=True)
class Steps:
    """The monitor's visible steps; a flow passes them wrapped as tasks."""

    validate: Callable[[Conformed, BatchSchema], ValidationResult] = check_batch
    drift: Callable[..., DriftResult | None] = assess.batch_drift
    report: Callable[..., DriftResult | None] = assess.with_report  # after a sketch decision
    concept: Callable[..., ConceptResult | None] = watch_concept
    batch_shadow: Callable[..., BatchShadowOutcome] = batch_shadow.shadow_accepted


@dataclass(frozen=True)
class Checked:
    """One checked file: what the monitor saw and decided, and where its drift report went."""

    file: FileCheck
    validation: ValidationResult
    drift_run: str | None = None  # the MLflow run that holds the drift report
    drift_html: Path | None = None
    effectiveness: Effectiveness | None = None  # whether retraining still pays off


def incoming_files(settings: Settings) -> list[Path]:
    """The files of ``data.incoming_dir`` a scan still has to check, oldest first.

    Named files the monitor copied (to quarantine, or an applied label file to the archive)
    stay where they are and are skipped while unchanged, so each is looked at once.
    """
    d = settings.data
    incoming, accepted = settings.path(d.incoming_dir), settings.path(d.accepted_dir)
    seen = unchanged_originals(settings.path(d.quarantine_dir), incoming)
    seen += applied_label_files(accepted, incoming)
    return new_batches(incoming, accepted, skip=seen)


def check_file(
    path: Path,
    settings: Settings,
    stores: tuple[Registry, Tracking],
    reason: str,
    *,
    owned: bool,
    log: Log,
    steps: Steps = Steps(),
) -> Checked:
    """Validate one file, accept it, and decide whether a trigger fires.

    ``owned``: the file is in the monitor's own incoming folder (a failing one leaves it);
    a file the user named is never moved.

    Raises:
        BatchQuarantined: The file failed validation; it is in quarantine with its report.
        DataError: The file is missing or cannot be read.
    """
    at = _At(path, settings, stores, reason, owned, log, steps)
    if stream.is_large(path, settings):  # too large for memory: row groups (monitor.stream)
        return stream.check_large_batch(at)
    batch = read_incoming(path, settings)
    if is_label_file(batch.frame, settings):
        return _check_labels(at, batch)
    return _check_batch(at, batch)


@dataclass(frozen=True)
class _At:
    """The file being checked and what its check runs with."""

    path: Path
    settings: Settings
    stores: tuple[Registry, Tracking]
    reason: str
    owned: bool
    log: Log
    steps: Steps


def _check_batch(at: _At, batch: Conformed) -> Checked:
    path, settings, reason, log, steps = at.path, at.settings, at.reason, at.log, at.steps
    d, frame, batch_id = settings.data, batch.frame, path.stem
    registry, tracking = at.stores
    champion = registry.champion()
    reference = tracking.load_reference(champion.run_id) if champion else None
    validation = steps.validate(batch, batch_schema(settings, reference, incoming=batch_id))
    if not validation.success:
        _quarantine(path, validation, settings, kind="batch", move=at.owned)
    accept_batch(frame, batch_id, settings.path(d.accepted_dir), d.timestamp)
    log.info(
        "Batch %s passed %d expectations on %d rows",
        batch_id,
        validation.n_expectations,
        len(frame),
    )
    if champion is None or reference is None:
        decision = assess.first_model_decision(settings, reason)
        version = champion.version if champion else None
        checked = FileCheck(batch_id, "batch", "accepted", validation.n_rows, version, decision)
        return Checked(checked, validation)

    model = registry.load_model(champion.version)
    start = time.perf_counter()
    cur = assess.with_prediction(frame, model, d.features, d.task)
    if settings.rollout.shadow.batch:  # the champion's scores once, for drift and the shadow
        ms = (time.perf_counter() - start) * 1000.0 / max(len(frame), 1)
        scored = None if d.task == "multiclass" else (cur[assess.PREDICTION].to_numpy(), ms)
        _shadow(at, batch_id, frame, (champion.version, model), scored)
    html = settings.path(d.reports_dir) / f"{batch_id}-drift.html"
    html.unlink(missing_ok=True)  # only this check's report may be logged with it
    stored = assess.drift_sketch(tracking.load_sketch(champion.run_id), settings)
    if stored is not None:  # decided from the sketch; the report, apart, needs the rows
        drift = steps.report(
            steps.drift(stored, cur, settings, None), reference, model, cur, settings, html
        )
    else:  # a champion without a (usable) sketch: the reference rows, as before
        ref = assess.with_prediction(reference, model, d.features, d.task)
        drift = steps.drift(ref, cur, settings, html if settings.drift.report else None)
    labelled = [(batch_id, labelled_rows(frame, d.target))]
    concept = steps.concept(
        settings, champion, model, labelled, reference, source=batch_id, once=True
    )
    versions = registry.versions()  # one read: the cooldown and the lineage both use it
    newest = max((v.created_ms for v in versions), default=0)
    decision = assess.trigger_decision(
        settings, champion, model, newest, reason, drift, reference, frame, concept
    )
    checked = FileCheck(
        batch_id, "batch", "accepted", validation.n_rows, champion.version, decision, drift
    )
    if drift is None:
        log.warning("No feature of %s has values on both sides: drift was not measured", batch_id)
        return Checked(checked, validation)
    log.info("Drift: %s", drift.summary())
    run_id, effect = record_measured(at, checked, drift, versions, html)
    return Checked(checked, validation, run_id, html if html.exists() else None, effect)


def record_measured(
    at: _At,
    checked: FileCheck,
    drift: DriftResult,
    versions: Sequence[VersionInfo],
    html: Path,
) -> tuple[str, Effectiveness]:
    """The end of every measured batch's check (in memory or streamed): whether retraining
    still pays off (the champion lineage, its plot, a warning on an alarm) and the MLflow
    monitor run with the drift, the trigger decision and the lineage. Returns (run id,
    the lineage's verdict)."""
    settings, (registry, tracking) = at.settings, at.stores
    metric = settings.training.primary_metric
    promotions, retrains = lineage_of(versions, registry.history(), metric)
    effect = assess_lineage(promotions, retrains, metric, settings.triggers.effectiveness)
    png = settings.path(settings.data.reports_dir) / f"{checked.batch}-lineage.png"
    plot = lineage_plot(promotions, retrains, metric, png) if len(promotions) > 1 else None
    if effect.alarm:
        at.log.warning("%s", effect.message)
    assert checked.champion is not None  # measured: against a champion
    run_id = report.log_monitor_run(
        tracking,
        metric,
        checked.batch,
        checked.rows,
        drift,
        checked.decision,
        checked.champion,
        html,
        (effect, plot),
    )
    return run_id, effect


def _check_labels(at: _At, labels: Conformed) -> Checked:
    """Join a label file to the accepted rows it labels, then re-check performance."""
    path, settings, reason, owned = at.path, at.settings, at.reason, at.owned
    registry, tracking = at.stores
    champion = registry.champion()
    accepted_dir = settings.path(settings.data.accepted_dir)
    validation, per_batch = check_labels(labels, settings, accepted_dir)
    if not validation.success:
        _quarantine(path, validation, settings, kind="labels", move=owned)
    fresh = newly_labelled(per_batch, settings)
    written = apply_labels(per_batch, settings)
    if settings.rollout.shadow.batch:
        _shadow_labels(at, fresh)
    kept = archive_label_file(path, accepted_dir, move=owned)
    at.log.info(
        "Labels %s: %d rows labelled in %d batch(es); kept in %s",
        path.name, written, len(per_batch), kept,
    )  # fmt: skip
    if champion is None:
        decision = assess.first_model_decision(settings, reason)
    else:
        model = registry.load_model(champion.version)
        reference = tracking.load_reference(champion.run_id)
        concept = at.steps.concept(settings, champion, model, fresh, reference, source=path.name)
        newest = max((v.created_ms for v in registry.versions()), default=0)
        decision = assess.trigger_decision(
            settings, champion, model, newest, reason, None, None, None, concept
        )
    checked = FileCheck(
        path.stem, "labels", "labels applied", written, champion.version if champion else None,
        decision, labelled_batches=tuple(sorted(p.stem for p in per_batch)),
    )  # fmt: skip
    return Checked(checked, validation)


def _shadow(
    at: _At,
    batch_id: str,
    frame: pd.DataFrame,
    champion: tuple[int, Any],
    scored: tuple[Any, float] | None = None,
) -> None:
    """Batch shadow of an accepted batch; whatever goes wrong is logged, never raised.
    ``scored``: the champion's scores and ms per row, when the monitor has them already."""
    try:
        out = at.steps.batch_shadow(
            at.settings, at.stores[0], batch_id, frame, champion, champion_scored=scored
        )
    except Exception as exc:  # the batch is accepted; its shadow is an extra
        at.log.warning("Batch shadow of %s failed (the batch is unaffected): %s", batch_id, exc)
        return
    if not out.scored:
        at.log.info("Batch shadow: %s is already in the prediction log", batch_id)
        return
    failed = "; ".join(f"v{v}: {e}" for v, e in out.shadow_errors.items())
    at.log.info(
        "Batch shadow: %d rows of %s scored by champion v%d and the configured shadows%s",
        len(frame), batch_id, champion[0], f" (failed: {failed})" if failed else "",
    )  # fmt: skip


def _shadow_labels(at: _At, fresh: list[tuple[str, pd.DataFrame]]) -> None:
    """Labels of batch-shadowed rows into the prediction log; failures are logged only."""
    try:
        n = batch_shadow.label_rows(at.settings, at.stores[0], fresh)
    except Exception as exc:
        at.log.warning("Batch shadow labels of %s not stored: %s", at.path.name, exc)
        return
    if n:
        at.log.info("Batch shadow: %d labels stored for the online analysis", n)


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
    what = "was moved to" if move else f"stays in {path.parent}; a copy is in"
    raise BatchQuarantined(
        f"{kind} {path.name} failed validation and {what} {where} with its report: "
        f"{validation.summary()}",
        str(where),
        report=report.quarantine_markdown(path.name, validation, where),
    )
