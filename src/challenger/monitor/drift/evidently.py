"""The Evidently drift engine and the HTML report: Evidently's ValueDrift on a seeded sample.

The only module that reads Evidently's output: snapshots are parsed here into
:class:`~challenger.monitor.drift.result.ColumnDrift`. Evidently is imported lazily (it takes
seconds), so the fast engine needs it only to draw the report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from challenger.errors import DriftInputError
from challenger.monitor.drift.inputs import check_not_empty, has_values, sample, select
from challenger.monitor.drift.methods import METHODS, resolve_stattest
from challenger.monitor.drift.result import ColumnDrift, DriftKind
from challenger.monitor.drift.spec import DriftSpec

if TYPE_CHECKING:
    from evidently.core.container import MetricOrContainer

logger = logging.getLogger(__name__)

_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
_DRIFTED = "FAIL"
_NOT_DRIFTED = "SUCCESS"


def _definition(kinds: Mapping[str, DriftKind]) -> Any:
    from evidently import DataDefinition

    return DataDefinition(
        numerical_columns=[c for c, k in kinds.items() if k == "numeric"],
        categorical_columns=[c for c, k in kinds.items() if k == "categorical"],
    )


def _run_report(
    metrics: list[MetricOrContainer],
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    kinds: Mapping[str, DriftKind],
) -> Any:
    from evidently import Dataset, Report

    definition = _definition(kinds)
    report = Report(metrics, include_tests=True)  # the per-column verdicts are its tests
    try:
        return report.run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )
    except ValueError as exc:
        raise DriftInputError(
            f"Evidently could not compare the frames: {exc} Validate the batch first."
        ) from exc


def evidently_drifts(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    kinds: Mapping[str, DriftKind],
    methods: Mapping[str, str | None],
    thresholds: Mapping[str, float | None],
) -> dict[str, ColumnDrift]:
    from evidently.metrics import ValueDrift

    metrics: list[MetricOrContainer] = [
        ValueDrift(column=c, method=methods[c], threshold=thresholds[c]) for c in kinds
    ]
    snapshot = _run_report(metrics, ref, cur, kinds)
    return _parse_snapshot(json.loads(snapshot.json()), kinds)


def save_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, DriftKind],
    extras: Mapping[str, DriftKind],
    spec: DriftSpec,
    *,
    max_rows: int,
    seed: int,
    html_path: Path,
) -> int:
    """Draw Evidently's HTML report on a seeded sample; returns the rows per side used."""
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    ref = sample(select(reference, list(kinds), "reference"), max_rows, seed)
    cur = sample(select(current, list(kinds), "current"), max_rows, seed)
    features = [*spec.numeric, *spec.categorical]
    method, threshold = spec.method, spec.threshold
    per_column_method, per_column_threshold = spec.per_column_method, spec.per_column_threshold
    for frame, original, label in ((ref, reference, "reference"), (cur, current, "current")):
        check_not_empty(frame, features, label, sampled=len(frame) < len(original))
    # The preset adds the dataset-level drift table people expect; prediction and target
    # get their own widgets so they do not count in its share of drifted columns.
    metrics: list[MetricOrContainer] = [
        DataDriftPreset(
            columns=features,
            drift_share=spec.share_threshold,
            method=method,
            threshold=threshold,
            per_column_method=dict(per_column_method) if per_column_method else None,
            per_column_threshold=dict(per_column_threshold) if per_column_threshold else None,
        )
    ]
    metrics += [
        ValueDrift(column=c, method=method, threshold=threshold)
        for c in extras
        if has_values(ref[c]) and has_values(cur[c])
    ]
    snapshot = _run_report(metrics, ref, cur, kinds)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(html_path))  # Evidently writes nothing for a Path object
    logger.info("Saved the drift report (%d rows per side at most) to %s", max_rows, html_path)
    return max(len(ref), len(cur))


def _parse_snapshot(
    payload: Mapping[str, Any], kinds: Mapping[str, DriftKind]
) -> dict[str, ColumnDrift]:
    """Turn a snapshot's ``json()`` into one :class:`ColumnDrift` per column of ``kinds``."""
    values: dict[str, tuple[str, float, float]] = {}
    for metric in payload.get("metrics", []):
        config = metric.get("config") or {}
        if config.get("type") != _VALUE_DRIFT:
            continue
        column = str(config["column"])
        values[column] = (str(config["method"]), float(metric["value"]), float(config["threshold"]))
    verdicts: dict[str, bool] = {}
    for test in payload.get("tests", []):
        params = (test.get("metric_config") or {}).get("params") or {}
        if params.get("type") != _VALUE_DRIFT:
            continue
        status = str(test.get("status"))
        if status not in (_DRIFTED, _NOT_DRIFTED):
            raise RuntimeError(
                f"Evidently returned drift test status {status!r} for column "
                f"{params.get('column')!r}; expected {_DRIFTED} or {_NOT_DRIFTED}."
            )
        verdicts[str(params["column"])] = status == _DRIFTED

    drifts: dict[str, ColumnDrift] = {}
    for column, kind in kinds.items():
        if column not in values or column not in verdicts:
            raise RuntimeError(
                f"Evidently returned no drift result for column {column!r}; is evidently "
                "0.7.23 installed?"
            )
        method, score, limit = values[column]
        drifts[column] = ColumnDrift(
            column=column,
            kind=kind,
            method=display_name(method, kind),
            score=score,
            threshold=limit,
            drifted=verdicts[column],
        )
    return drifts


def display_name(method: str, kind: DriftKind) -> str:
    """Evidently reports a method it chose by display name and one it was given by id."""
    known = METHODS.get(method)
    if known is not None:
        return known.display_name
    try:
        return resolve_stattest(method, kind, column="")
    except DriftInputError:
        return method
