"""The schema a batch must have, and how a batch's schema differs from the champion's data.

The validation suite comes from the configuration, completed from the champion's training
data, its *profile*: the categories it holds, the range of each numeric column the
configuration leaves open (widened by ``validation.range_tolerance`` spans), and how often
its rows coincide by chance, which bounds how many repeated rows a new batch may hold.
:func:`schema_changes` names each schema difference for the data-change trigger."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from challenger.config import Settings
from challenger.monitor.kinds import collision_probability, row_hashes
from challenger.monitor.validation import (
    BatchSchema,
    ColumnSpec,
    DuplicateRule,
    schema_from_reference,
)
from challenger.problem import target_kind
from challenger.store.batches import accepted_batches, parquet_columns, read_chunks

RECENT_BATCHES = 5
"""Accepted batches an incoming batch's rows are compared with, besides the reference."""
SEEN_CHUNK_ROWS = 250_000
"""Rows of an accepted batch hashed at once (the "seen before" rows cost 8 bytes each)."""
DUPLICATE_TOLERANCE = 0.05
"""Share of repeated rows tolerated beyond what chance explains (learned rule)."""


def batch_schema(
    settings: Settings, reference: pd.DataFrame | None, *, incoming: str | None = None
) -> BatchSchema:
    """The validation suite's schema: configuration first, completed from the reference.

    Features are required; the target is optional (labels may arrive later) but must fit
    ``data.task`` when present (0/1, known classes, or numbers). From the champion's
    training data come the allowed categories (unless ``validation.allow_new_categories``),
    the ranges of numeric columns ``validation.ranges`` does not name (unless
    ``validation.range_tolerance`` is None), and, for an incoming batch, how many of its
    rows may repeat each other or rows seen before.

    Args:
        settings: The configuration.
        reference: The champion's training data, or None before the first champion.
        incoming: The name of a new batch (monitor, release): its rows are also checked
            for repeats of the reference and of the newest accepted batches other than
            itself. None for data that may legitimately overlap what came before (a
            retrain's window).
    """
    data, val = settings.data, settings.validation
    learned = _learned_ranges(reference, settings)
    cols: list[ColumnSpec] = []
    for c in data.numeric:
        lo, hi = val.ranges.get(c, learned.get(c, (None, None)))
        cols.append(
            ColumnSpec(
                c,
                "numeric",
                min=lo,
                max=hi,
                max_null_fraction=val.max_null_fraction,
                learned=c not in val.ranges and c in learned,
            )
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
        duplicates=None if incoming is None else duplicate_rule(settings, reference, incoming),
    )
    if reference is not None and not val.allow_new_categories:
        schema = schema_from_reference(reference, schema)
    return schema


def learned_range(values: pd.Series, tolerance: float) -> tuple[float, float] | None:
    """The observed range of a numeric column widened by ``tolerance`` spans on each side.

    A column that never went below 0 (or above 0) keeps that bound — a ``-999`` sentinel in
    a score or an amount fails — but only when its own tail stays clear of zero: when the
    distance from its extreme to 0 is at least the distance from that extreme to the
    column's 1 % quantile (its tail's reach). A column that merely happened to stay
    positive, e.g. a normal feature whose lowest value is 0.2 with most rows near 10, may
    go a little below 0 without failing. A constant column is widened by its own size (at
    least 1) instead of its zero span. None when the column holds no finite number.
    """
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    numbers = numbers[np.isfinite(numbers)]
    if numbers.size == 0:
        return None
    lo, hi = float(numbers.min()), float(numbers.max())
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    low, high = lo - tolerance * span, hi + tolerance * span
    k = max(2, math.ceil(0.01 * numbers.size))  # the 1 % tail, at least the second value
    ordered = np.partition(numbers, (min(k, numbers.size) - 1, max(numbers.size - k, 0)))
    near_lo, near_hi = float(ordered[min(k, numbers.size) - 1]), float(ordered[-k])
    if lo >= 0 and lo >= near_lo - lo:
        low = max(low, 0.0)
    if hi <= 0 and -hi >= hi - near_hi:
        high = min(high, 0.0)
    return low, high


def _learned_ranges(
    reference: pd.DataFrame | None, settings: Settings
) -> dict[str, tuple[float, float]]:
    tolerance = settings.validation.range_tolerance
    if reference is None or tolerance is None:
        return {}
    out: dict[str, tuple[float, float]] = {}
    for c in settings.data.numeric:
        if c in settings.validation.ranges or c not in reference.columns:
            continue
        bounds = learned_range(reference[c], tolerance)
        if bounds is not None:
            out[c] = bounds
    return out


def duplicate_rule(
    settings: Settings, reference: pd.DataFrame | None, incoming: str
) -> DuplicateRule | None:
    """How many repeated rows an incoming batch may hold (see :class:`DuplicateRule`).

    The rows seen before are the reference's and those of the newest
    :data:`RECENT_BATCHES` accepted batches other than ``incoming``. Without a reference
    only a configured ``validation.max_duplicate_share`` applies, within the batch.
    """
    data, limit = settings.data, settings.validation.max_duplicate_share
    if limit is not None and limit >= 1.0:
        return None  # switched off
    numeric, categorical = tuple(data.numeric), tuple(data.categorical)
    if reference is None or not set(data.features) <= set(reference.columns):
        if limit is None:
            return None
        return DuplicateRule(numeric, categorical, max_share=limit)
    reference_hashes = row_hashes(reference, numeric, categorical)
    hashes = [reference_hashes]
    recent = [p for p in accepted_batches(settings.path(data.accepted_dir)) if p.stem != incoming][
        -RECENT_BATCHES:
    ]
    used = 0
    for path in recent:  # only the features, a chunk at a time: any batch size fits
        if not set(data.features) <= set(parquet_columns(path)):
            continue
        used += 1
        for chunk in read_chunks(path, [*numeric, *categorical], SEEN_CHUNK_ROWS):
            hashes.append(row_hashes(chunk, numeric, categorical))
    seen = np.unique(np.concatenate(hashes))
    source = "the champion's training data" + (
        f" or the {used} newest accepted batch(es)" if used else ""
    )
    collision = collision_probability(reference_hashes)
    return DuplicateRule(
        numeric,
        categorical,
        collision=collision if math.isfinite(collision) else 0.0,
        tolerance=DUPLICATE_TOLERANCE,
        max_share=limit,
        seen=seen,
        seen_from=source,
    )


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
