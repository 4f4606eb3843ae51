"""What the monitor computes about a batch, apart from GX and Evidently themselves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from challenger.config import Settings
from challenger.evaluation import positive_scores
from challenger.stats import METRICS, metric_value
from challenger.triggers import PerformanceObservation
from challenger.validation import BatchSchema, ColumnSpec, schema_from_reference


def batch_schema(settings: Settings, reference: pd.DataFrame | None) -> BatchSchema:
    """The validation suite's schema: configuration first, completed from the reference.

    Features are required; the target is optional (labels may arrive later) but must be 0/1
    when present. Allowed categories come from the champion's training data, unless
    ``validation.allow_new_categories`` is set.
    """
    data, val = settings.data, settings.validation
    cols: list[ColumnSpec] = []
    for c in data.numeric:
        lo, hi = val.ranges.get(c, (None, None))
        cols.append(
            ColumnSpec(c, "numeric", min=lo, max=hi, max_null_fraction=val.max_null_fraction)
        )
    for c in data.categorical:
        cols.append(ColumnSpec(c, "categorical", max_null_fraction=val.max_null_fraction))
    cols.append(ColumnSpec(data.target, "binary", max_null_fraction=1.0, required=False))
    if data.timestamp:
        cols.append(ColumnSpec(data.timestamp, "timestamp", required=False))
    if data.id_column:
        cols.append(ColumnSpec(data.id_column, "id", required=False))
    schema = BatchSchema(
        columns=tuple(cols),
        min_rows=val.min_rows,
        unique_columns=(data.id_column,) if data.id_column else (),
        allow_extra_columns=val.allow_extra_columns,
    )
    if reference is not None and not val.allow_new_categories:
        schema = schema_from_reference(reference, schema)
    return schema


def labelled_rows(df: pd.DataFrame, target: str) -> pd.DataFrame:
    """The rows whose label has arrived."""
    if target not in df.columns:
        return df.iloc[0:0]
    return df[df[target].notna()]


def champion_performance(
    model: Any,
    batch: pd.DataFrame,
    settings: Settings,
    reference_value: float | None,
    min_rows: int = 100,
) -> PerformanceObservation | None:
    """The champion's primary metric on the batch's labelled rows (None if too few or one class)."""
    target = settings.data.target
    rows = labelled_rows(batch, target)
    if len(rows) < min_rows:
        return None
    y = rows[target].to_numpy().astype(int)
    if len(np.unique(y)) < 2:
        return None
    metric = settings.training.primary_metric
    scores = positive_scores(model, rows[list(settings.data.features)])
    value = metric_value(metric, y, scores)
    return PerformanceObservation(
        metric, value, reference_value, len(rows), METRICS[metric].higher_is_better
    )


def list_quarantined(quarantine_dir: Path) -> list[dict[str, Any]]:
    """Quarantined batches with the summary of their validation report, oldest first."""
    if not quarantine_dir.is_dir():
        return []
    out: list[dict[str, Any]] = []
    for folder in sorted(p for p in quarantine_dir.iterdir() if p.is_dir()):
        report_path = folder / "validation.json"
        files = [p.name for p in folder.iterdir() if p.name != "validation.json" and p.is_file()]
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            report = {}
        failures = report.get("failures", [])
        summary = "; ".join(str(f.get("message", "")) for f in failures[:3]) or "no readable report"
        out.append(
            {
                "batch": files[0] if files else folder.name,
                "path": str(folder),
                "failed_checks": len(failures),
                "summary": summary,
            }
        )
    return out
