"""Registering the chosen candidate as the challenger: its record, drift reference and training rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from challenger.monitor.drift.sketch import SKETCH_ARTIFACT, prediction_forms, sketch_payload
from challenger.store.record import PENDING, VersionRecord
from challenger.store.registry import Registry, VersionInfo
from challenger.store.tracking import Tracking
from challenger.train.log import trigger_document
from challenger.train.selection import CVResult, FittedModel
from challenger.train.window import TrainingWindow

_EXAMPLE_ROWS = 200


def registration_record(
    trigger: str,
    window: TrainingWindow,
    cv: CVResult,
    primary_metric: str,
    fitted: FittedModel,
    trigger_evidence: Mapping[str, Any] | None,
) -> VersionRecord:
    """What a new version's record says from the moment it is registered."""
    return VersionRecord(
        trigger=trigger,
        data_fingerprint=window.fingerprint,
        cv_strategy=f"{cv.strategy}(k={cv.n_splits})",
        candidate=cv.candidate,
        estimator=cv.estimator,
        cv_scores={primary_metric: f"{cv.mean(primary_metric):.4f} ± {cv.std(primary_metric):.4f}"},
        training_batches=window.batches,
        train_rows=len(window.train),
        holdout_rows=len(window.holdout),
        gate_decision=PENDING,
        training_seconds=fitted.seconds,
        peak_memory_mb=fitted.peak_memory_mb,
        train_max_ts=window.train_max_ts,
        train_min_ts=window.train_min_ts,
        train_fingerprint_rows=int(window.train_rows.size),
    ).with_trigger(trigger_document(trigger, trigger_evidence))


def register_challenger(
    registry: Registry,
    tracking: Tracking,
    run_id: str,
    fitted: FittedModel,
    window: TrainingWindow,
    features: tuple[str, ...],
    record: VersionRecord,
    seed: int,
    target: str,
) -> VersionInfo:
    """Log the model, its drift reference (rows and sketch) and its training rows on the active run, register it.

    The training rows are kept as fingerprints (``Tracking.log_training_rows``), so that every
    later judgement can prove its holdout holds none of them. The new version is marked
    challenger.

    Returns:
        The new version, with its model size recorded.
    """
    tracking.log_metrics(
        {"training_seconds": fitted.seconds, "peak_memory_mb": fitted.peak_memory_mb}
    )
    reference = tracking.log_reference(window.train, seed)
    # The sketch is of the very rows logged as the reference, and carries the model's output
    # on them, so a monitor run decides drift from it as it would from those rows.
    outputs = prediction_forms(fitted.model, reference[list(features)])
    # The columns a monitor decides drift on (features, target, outputs): an id or a
    # timestamp would be sketched as thousands of distinct counts nobody reads (0.5 s and
    # most of the artifact's 1-2 MB at 20,000 rows).
    judged = [c for c in (*features, target) if c in reference.columns]
    tracking.log_dict(sketch_payload(reference[judged], outputs), SKETCH_ARTIFACT, indent=None)
    tracking.log_training_rows(window.train_rows)
    model_uri = tracking.log_model(fitted.model, window.train[list(features)].head(_EXAMPLE_ROWS))
    size = registry.artifact_size_mb(model_uri)  # known before registering: one record write
    if size is not None:
        record = replace(record, model_size_mb=size)
    version = registry.register(
        model_uri, run_id, {}, "Under evaluation by the challenger gate.", record=record
    )
    registry.mark_challenger(version.version)
    if size is None and (size := registry.model_size_mb(version.version)) is not None:
        registry.update_record(version.version, VersionRecord(model_size_mb=size))
    return registry.version(version.version)
