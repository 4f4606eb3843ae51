"""What the monitor concludes about a batch: drift against the champion's data, and the trigger.

The monitor flow validates a file, then asks this module: :func:`batch_drift` measures
feature, prediction and target drift on the columns both sides can compare, with column
alarms at a stated error rate (``drift.control``), from the champion's stored reference
sketch when it has one (:func:`drift_sketch`; the HTML report is then drawn apart, by
:func:`with_report`); :func:`trigger_decision` gathers every trigger's evidence (the
champion's performance windows, the change detector on its errors, schema changes, new
labels, the cooldown) and applies the policy; :func:`merge_decisions` turns a scan in which
several files fired into one retrain.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from challenger.config import Settings
from challenger.monitor.concept import ConceptResult
from challenger.monitor.drift import (
    DriftResult,
    DriftSpec,
    drift_report,
    measure_drift,
    measure_drift_from_sketch,
)
from challenger.monitor.drift.result import DriftKind
from challenger.monitor.drift.sketch import ReferenceSketch, read_payload, sketch_gaps
from challenger.monitor.performance import (
    batches_since,
    labelled_rows_since,
    performance_windows,
    recent_labelled,
)
from challenger.monitor.schema import schema_changes
from challenger.monitor.triggers import TriggerDecision, decide_retrain
from challenger.problem import prediction_for_drift
from challenger.store.batches import accepted_batches
from challenger.store.registry import VersionInfo

PREDICTION = "__champion_score__"
"""The column that carries the champion's output on both sides of the drift comparison."""


def with_prediction(
    frame: pd.DataFrame, model: Any, features: Sequence[str], task: str
) -> pd.DataFrame:
    """The frame with the champion's output in :data:`PREDICTION` (its drift is measured too)."""
    return frame.assign(**{PREDICTION: prediction_for_drift(model, frame[list(features)], task)})


def batch_drift(
    reference: pd.DataFrame | ReferenceSketch,
    current: pd.DataFrame,
    settings: Settings,
    html: Path | None,
) -> DriftResult | None:
    """Feature, prediction and target drift; the HTML report is drawn on a bounded sample.

    Args:
        reference: The champion's training data, with its output in :data:`PREDICTION`; or
            its stored sketch (:func:`drift_sketch`), when the decision is taken without the
            rows (no report then: see :func:`with_report`).
        current: The batch, likewise.
        settings: The configuration (``drift``, the data's columns).
        html: Where Evidently's HTML report goes; None draws none.

    Returns:
        The drift, or None when no feature has values on both sides (nothing to compare).
    """
    d, cfg = settings.data, settings.drift
    if isinstance(reference, ReferenceSketch):
        return _sketch_drift(reference, current, settings)

    def measurable(columns: tuple[str, ...]) -> list[str]:
        # A column the configuration lets be all-null has nothing to compare; the schema
        # check reports it instead.
        return [c for c in columns if reference[c].notna().any() and current[c].notna().any()]

    numeric, categorical = measurable(d.numeric), measurable(d.categorical)
    if not numeric and not categorical:
        return None
    return measure_drift(
        reference,
        current,
        _drift_options(settings, numeric, categorical, PREDICTION in reference.columns),
        engine=cfg.engine,
        max_rows=cfg.max_rows,
        seed=settings.project.seed,
        html_path=html,
    )


def _drift_options(
    settings: Settings, numeric: list[str], categorical: list[str], with_prediction: bool
) -> DriftSpec:
    """What the drift decision takes from the configuration, for the measured columns."""
    d, cfg = settings.data, settings.drift
    kept = set(numeric) | set(categorical)
    return DriftSpec(
        numeric=numeric,
        categorical=categorical,
        share_threshold=settings.triggers.data_change.drift_share,
        method=cfg.method,
        threshold=cfg.threshold,
        per_column_method={c: m for c, m in cfg.per_column_method.items() if c in kept},
        per_column_threshold={c: t for c, t in cfg.per_column_threshold.items() if c in kept},
        prediction=PREDICTION if with_prediction else None,
        target=d.target,
        prediction_kind="categorical" if d.task == "multiclass" else "numeric",
        target_kind="numeric" if d.task == "regression" else "categorical",
        control=cfg.control,
        alarm_rate=cfg.alarm_rate,
        min_effect=cfg.min_effect,
    )


def drift_sketch(payload: Mapping[str, Any] | None, settings: Settings) -> ReferenceSketch | None:
    """The champion's stored reference sketch, when it decides drift as the rows would.

    None (measure against the reference rows, as before sketches) when the champion has no
    sketch (a version registered before them), the engine is ``evidently``, or a configured
    column or test is one the sketch cannot carry (``drift.sketch.sketch_gaps``).

    Args:
        payload: What ``Tracking.load_sketch`` read from the champion's run.
        settings: The configuration (``drift``, the data's columns).
    """
    stored = read_payload(payload)
    if stored is None or settings.drift.engine == "evidently":
        return None
    d, cfg = settings.data, settings.drift
    prediction = stored.predictions.get(d.task)
    if prediction is None:
        return None
    kinds: dict[str, DriftKind] = dict.fromkeys(d.numeric, "numeric")
    kinds.update(dict.fromkeys(d.categorical, "categorical"))
    kinds[PREDICTION] = "categorical" if d.task == "multiclass" else "numeric"
    if d.target in stored.columns:
        kinds[d.target] = "numeric" if d.task == "regression" else "categorical"
    methods = {c: cfg.per_column_method.get(c, cfg.method) for c in kinds}
    columns = {**stored.columns, PREDICTION: prediction}
    if sketch_gaps(columns, kinds, methods):
        return None
    return ReferenceSketch(columns, stored.predictions, stored.n_rows)


def _sketch_drift(
    reference: ReferenceSketch, current: pd.DataFrame, settings: Settings
) -> DriftResult | None:
    d = settings.data

    present = current.notna().any()  # one vectorised pass, not one per column

    def measurable(columns: tuple[str, ...]) -> list[str]:
        return [c for c in columns if reference.columns[c].n > 0 and present[c]]

    numeric, categorical = measurable(d.numeric), measurable(d.categorical)
    if not numeric and not categorical:
        return None
    with_prediction = PREDICTION in reference.columns and PREDICTION in current.columns
    return measure_drift_from_sketch(
        reference.columns,
        reference.n_rows,
        current,
        _drift_options(settings, numeric, categorical, with_prediction),
    )


def with_report(
    drift: DriftResult | None,
    reference: pd.DataFrame,
    model: Any,
    current: pd.DataFrame,
    settings: Settings,
    html: Path,
) -> DriftResult | None:
    """Draw Evidently's HTML report of a decision taken from the sketch; the decision stands.

    The report is the one step that still needs reference rows (scored by the champion for
    the prediction), on a seeded sample of at most ``drift.max_rows`` rows per side.
    """
    if drift is None or not settings.drift.report:
        return drift
    d, cfg = settings.data, settings.drift
    numeric = [c for c in d.numeric if any(c == x.column for x in drift.columns)]
    categorical = [c for c in d.categorical if any(c == x.column for x in drift.columns)]
    rows = drift_report(
        with_prediction(reference, model, d.features, d.task),
        current,
        html,
        _drift_options(settings, numeric, categorical, drift.prediction is not None),
        max_rows=cfg.max_rows,
        seed=settings.project.seed,
    )
    return dataclasses.replace(drift, report_rows=rows)


def first_model_decision(settings: Settings, reason: str) -> TriggerDecision:
    """The decision when there is no champion yet: train the first one."""
    return decide_retrain(
        policy=settings.triggers, has_champion=False, drift_share=None, requested=reason
    )


def trigger_decision(
    settings: Settings,
    champion: VersionInfo,
    model: Any,
    newest_version_ms: int,
    reason: str,
    drift: DriftResult | None,
    reference: pd.DataFrame | None,
    frame: pd.DataFrame | None,
    concept: ConceptResult | None = None,
) -> TriggerDecision:
    """Gather the evidence every trigger needs and apply the policy.

    Args:
        settings: The configuration.
        champion: The champion (its record names its training batches and holdout value).
        model: The champion's model, to score the recent labelled windows.
        newest_version_ms: Creation time of the newest registered version (the cooldown).
        reason: ``scheduled``, ``manual`` or ``interval``.
        drift: The batch's drift, when measured.
        reference: The champion's training data (schema changes), for a batch.
        frame: The batch (schema changes); None for a label file.
        concept: What the change detector on the champion's errors saw in this file.
    """
    d, policy = settings.data, settings.triggers
    accepted_dir = settings.path(d.accepted_dir)
    record = champion.record
    trained_on = set(record.training_batches)
    names = [p.stem for p in accepted_batches(accepted_dir)]
    labelled, _ = recent_labelled(
        accepted_dir,
        settings,
        exclude=trained_on,
        max_rows=policy.performance.window_rows * policy.performance.windows,
    )
    holdout = record.holdout_value(settings.training.primary_metric)
    windows = (
        performance_windows(model, labelled, settings, holdout, record.holdout)
        if not labelled.empty
        else []
    )
    return decide_retrain(
        policy=policy,
        has_champion=True,
        drift_share=drift.drift_share if drift else None,
        drifted_columns=drift.drifted_columns() if drift else (),
        drift_control=drift.control.to_dict() if drift and drift.control else None,
        drift_notes=drift.notes if drift else (),
        performance_windows=windows,
        schema_changes=schema_changes(reference, frame, settings)
        if reference is not None and frame is not None
        else (),
        new_labelled_rows=labelled_rows_since(accepted_dir, d.target, trained_on),
        requested=reason if reason in ("manual", "interval") else None,
        batches_since_retrain=batches_since(names, list(record.training_batches)),
        minutes_since_retrain=(time.time() * 1000 - newest_version_ms) / 60_000
        if newest_version_ms
        else None,
        concept=concept,
    )


def merge_decisions(named: Sequence[tuple[str, TriggerDecision]]) -> TriggerDecision:
    """One decision for a scan in which several files fired a trigger (one retrain for all)."""
    first = named[0][1]
    if len(named) == 1:
        return first
    reasons = tuple(f"{batch}: {reason}" for batch, d in named for reason in d.reasons)
    evidence = {batch: d.evidence for batch, d in named}
    return TriggerDecision(True, first.trigger, reasons, evidence)
