"""The schema a batch must have, and how a batch's schema differs from the champion's data.

The validation suite's schema comes from the configuration, completed from the champion's
training data (its categories); :func:`schema_changes` names each difference for the
data-change trigger."""

from __future__ import annotations

import pandas as pd

from challenger.config import Settings
from challenger.monitor.validation import BatchSchema, ColumnSpec, schema_from_reference
from challenger.problem import target_kind


def batch_schema(settings: Settings, reference: pd.DataFrame | None) -> BatchSchema:
    """The validation suite's schema: configuration first, completed from the reference.

    Features are required; the target is optional (labels may arrive later) but must fit
    ``data.task`` when present (0/1, known classes, or numbers). Allowed categories come from the champion's training data, unless
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
    cols.append(
        ColumnSpec(data.target, target_kind(data.task), max_null_fraction=1.0, required=False)
    )
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


def schema_changes(
    reference: pd.DataFrame, current: pd.DataFrame, settings: Settings
) -> tuple[str, ...]:
    """How ``current``'s schema differs from the champion's training data, one sentence each.

    Columns added or gone, columns left without values (possible when
    ``validation.max_null_fraction`` allows it), numeric columns whose values changed type
    (integers and floats count as the same), and categories of a categorical column that the champion never saw
    (only possible when ``validation.allow_new_categories`` is set; otherwise validation
    quarantines the batch first).
    """
    data = settings.data
    changes: list[str] = []
    added = [c for c in current.columns if c not in reference.columns]
    gone = [c for c in reference.columns if c not in current.columns and c != data.target]
    if added:
        changes.append(f"new column(s) {', '.join(map(repr, added))}")
    if gone:
        changes.append(f"column(s) {', '.join(map(repr, gone))} no longer present")
    both = [c for c in data.features if c in reference.columns and c in current.columns]
    for column in both:
        if current[column].isna().all() and reference[column].notna().any():
            changes.append(f"column {column!r} has no values")
    for column in data.numeric:
        if column in reference.columns and column in current.columns:
            before, after = _kind(reference[column]), _kind(current[column])
            if before != after:
                changes.append(f"column {column!r} changed type from {before} to {after}")
    for column in data.categorical:
        if column in reference.columns and column in current.columns:
            seen = set(reference[column].dropna().astype(str))
            new = sorted(set(current[column].dropna().astype(str)) - seen)
            if new:
                shown = ", ".join(map(repr, new[:5])) + (" …" if len(new) > 5 else "")
                changes.append(f"column {column!r} has new categories {shown}")
    return tuple(changes)


def _kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series.dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "number"
    return str(series.dtype)
