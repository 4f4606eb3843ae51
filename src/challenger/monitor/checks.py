"""What the monitor computes about a batch, apart from GX and Evidently themselves.

The suite a batch must pass, the champion's performance on recent labelled windows, schema
changes, label files that arrive after their batches, the incoming folder the scheduled
monitor scans, and releasing a fixed file from quarantine. Pure library code: the monitor
flow sequences these calls.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from challenger.config import Settings
from challenger.errors import DataError
from challenger.monitor.triggers import PerformanceObservation
from challenger.monitor.validation import (
    RELEASED,
    BatchSchema,
    CheckFailure,
    ColumnSpec,
    ValidationResult,
    find_quarantined,
    quarantined,
    release,
    schema_from_reference,
    validate_batch,
)
from challenger.problem import scoreable, target_kind, truth_and_scores
from challenger.stats.bootstrap import METRICS, StatisticsInputError, metric_value
from challenger.store.batches import READABLE_SUFFIXES, accepted_batches, read_table, write_table


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
    task = settings.data.task
    y, scores = truth_and_scores(
        model, rows[list(settings.data.features)], rows[target], task, target
    )
    if not scoreable(y, task):
        return None
    metric = settings.training.primary_metric
    try:
        value = metric_value(metric, y, scores)
    except StatisticsInputError:
        return None  # undefined on these rows (e.g. a class missing for roc_auc)
    return PerformanceObservation(
        metric, value, reference_value, len(rows), METRICS[metric].higher_is_better
    )


# --- performance windows ------------------------------------------------------------------


def performance_windows(
    model: Any, labelled: pd.DataFrame, settings: Settings, reference_value: float | None
) -> list[PerformanceObservation]:
    """The champion's primary metric on the newest complete windows of labelled rows.

    ``labelled`` is split, oldest first, into consecutive windows of
    ``triggers.performance.window_rows`` rows; the newest ``triggers.performance.windows``
    complete ones are scored. A window the metric is undefined on (one class only for a
    ranking metric, a constant regression target) is left out.

    Args:
        model: The champion.
        labelled: Labelled rows, oldest first (see :func:`recent_labelled`).
        settings: The configuration.
        reference_value: The champion's holdout value of the primary metric.

    Returns:
        One observation per scored window, oldest first.
    """
    policy = settings.triggers.performance
    target, ts = settings.data.target, settings.data.timestamp
    size = policy.window_rows
    n_windows = min(policy.windows, len(labelled) // size)
    if n_windows == 0:
        return []
    newest = labelled.iloc[len(labelled) - n_windows * size :]
    metric, task = settings.training.primary_metric, settings.data.task
    y_all, scores = truth_and_scores(
        model, newest[list(settings.data.features)], newest[target], task, target
    )
    out: list[PerformanceObservation] = []
    for i in range(n_windows):
        part = slice(i * size, (i + 1) * size)
        y = y_all[part]
        if not scoreable(y, task):
            continue
        try:
            value = metric_value(metric, y, scores[part])
        except StatisticsInputError:
            continue
        rows = newest.iloc[part]
        label = f"rows {len(labelled) - (n_windows - i) * size + 1}-{len(labelled) - (n_windows - i - 1) * size}"
        if ts and ts in rows.columns:
            label += f" ({rows[ts].iloc[0]} to {rows[ts].iloc[-1]})"
        out.append(
            PerformanceObservation(
                metric,
                value,
                reference_value,
                size,
                METRICS[metric].higher_is_better,
                window=label,
            )
        )
    return out


def recent_labelled(
    accepted_dir: Path, settings: Settings, exclude: set[str], max_rows: int
) -> tuple[pd.DataFrame, list[str]]:
    """The newest labelled rows of accepted batches outside ``exclude``, oldest first.

    Batches are read newest first until ``max_rows`` labelled rows are found (the champion's
    own training batches belong in ``exclude``: scoring a model on its training rows says
    nothing).

    Returns:
        The rows (at most ``max_rows``, ordered by time when there is a timestamp) and the
        batches they came from, oldest first.
    """
    target, ts = settings.data.target, settings.data.timestamp
    parts: list[pd.DataFrame] = []
    used: list[str] = []
    found = 0
    for path in reversed(accepted_batches(accepted_dir)):
        if path.stem in exclude:
            continue
        rows = labelled_rows(read_table(path), target)
        if rows.empty:
            continue
        parts.append(rows)
        used.append(path.stem)
        found += len(rows)
        if found >= max_rows:
            break
    if not parts:
        return pd.DataFrame(), []
    frame = pd.concat(parts[::-1], ignore_index=True)
    if ts and ts in frame.columns:
        frame = frame.sort_values(ts, kind="stable", ignore_index=True)
    return frame.iloc[max(0, len(frame) - max_rows) :].reset_index(drop=True), used[::-1]


def labelled_rows_since(accepted_dir: Path, target: str, exclude: set[str]) -> int:
    """Labelled rows in accepted batches outside ``exclude`` (the champion's training window)."""
    total = 0
    for path in accepted_batches(accepted_dir):
        if path.stem in exclude:
            continue
        try:
            column = pd.read_parquet(path, columns=[target])[target]
        except (KeyError, ValueError):
            continue  # a batch without the target column has no labels yet
        total += int(column.notna().sum())
    return total


def batches_since(accepted: list[str], training_batches: list[str]) -> int | None:
    """Accepted batches after the newest one the champion was trained on (None if unknown)."""
    if not training_batches or training_batches[-1] not in accepted:
        return None
    return len(accepted) - 1 - accepted.index(training_batches[-1])


# --- schema changes -----------------------------------------------------------------------


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


# --- label files --------------------------------------------------------------------------

LABELS_JOIN = "expect_labels_to_join_accepted_rows"


def is_label_file(frame: pd.DataFrame, settings: Settings) -> bool:
    """Whether a file holds labels for earlier rows: the id and target, and no feature."""
    data = settings.data
    if not data.id_column or data.id_column not in frame.columns:
        return False
    return data.target in frame.columns and not set(data.features) & set(frame.columns)


def check_labels(
    labels: pd.DataFrame, settings: Settings, accepted_dir: Path
) -> tuple[ValidationResult, dict[Path, pd.DataFrame]]:
    """Validate a label file and join it to the accepted rows it labels.

    The file must have unique, non-null ids and 0/1 labels (Great Expectations), and every
    id must match a row of an accepted batch: labels that join nothing are refused, so
    they are quarantined with the file rather than silently dropped.

    Returns:
        The validation result, and for each accepted batch the labels that belong to it.
    """
    data = settings.data
    id_column = data.id_column or ""
    schema = BatchSchema(
        columns=(
            ColumnSpec(id_column, "id"),
            ColumnSpec(data.target, target_kind(data.task)),
            *((ColumnSpec(data.timestamp, "timestamp", required=False),) if data.timestamp else ()),
        ),
        min_rows=1,
        unique_columns=(id_column,),
    )
    result = validate_batch(labels, schema)
    if not result.success:
        return result, {}
    ids = labels[id_column]
    matched = pd.Series(False, index=labels.index)
    per_batch: dict[Path, pd.DataFrame] = {}
    for path in accepted_batches(accepted_dir):
        try:
            batch_ids = pd.read_parquet(path, columns=[id_column])[id_column]
        except (KeyError, ValueError):
            continue
        hit = ids.isin(batch_ids) & ~matched
        if hit.any():
            per_batch[path] = labels.loc[hit, [id_column, data.target]]
            matched |= hit
    unmatched = int((~matched).sum())
    if unmatched == 0:
        return result, per_batch
    examples = ", ".join(map(repr, ids[~matched].head(3).tolist()))
    failure = CheckFailure(
        column=id_column,
        expectation=LABELS_JOIN,
        unexpected_count=unmatched,
        message=(
            f"Column {id_column!r} failed {LABELS_JOIN} on {unmatched} of {len(labels)} rows "
            f"(ids found in no accepted batch under {accepted_dir}); e.g. {examples}."
        ),
    )
    return (
        ValidationResult(
            success=False,
            n_rows=result.n_rows,
            n_expectations=result.n_expectations + 1,
            failures=(failure,),
            report=result.report,
        ),
        {},
    )


def apply_labels(per_batch: dict[Path, pd.DataFrame], settings: Settings) -> int:
    """Write joined labels into their accepted batches (atomically); returns rows labelled."""
    data = settings.data
    id_column = data.id_column or ""
    written = 0
    for path, labels in per_batch.items():
        batch = read_table(path)
        merged = batch.drop(columns=[data.target], errors="ignore").merge(
            labels, on=id_column, how="left", validate="one_to_one"
        )
        if data.target in batch.columns:
            merged[data.target] = merged[data.target].fillna(batch[data.target])
        keep = [*batch.columns, *([] if data.target in batch.columns else [data.target])]
        write_table(merged[keep], path)
        written += len(labels)
    return written


def archive_label_file(path: Path, accepted_dir: Path) -> Path:
    """Keep an applied label file beside the accepted batches (``labels/``), never overwriting."""
    folder = accepted_dir / "labels"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    i = 0
    while target.exists():
        i += 1
        target = folder / f"{path.stem}-{i}{path.suffix}"
    shutil.move(str(path), str(target))
    return target


# --- incoming batches ---------------------------------------------------------------------


def new_batches(incoming_dir: Path, accepted_dir: Path) -> list[Path]:
    """Files in the incoming folder that the monitor has not accepted yet, by name.

    Quarantined files have left the folder and applied label files are archived, so this is
    exactly what the scheduled monitor still has to look at.
    """
    if not incoming_dir.is_dir():
        return []
    accepted = {p.stem for p in accepted_batches(accepted_dir)}
    return sorted(
        p
        for p in incoming_dir.iterdir()
        if p.is_file()
        and p.suffix.lower() in READABLE_SUFFIXES
        and not p.name.startswith(".")
        and p.stem not in accepted
    )


# --- quarantine ---------------------------------------------------------------------------


def list_quarantined(quarantine_dir: Path) -> list[dict[str, Any]]:
    """Quarantined batches and label files with the summary of their report, oldest first."""
    return [q.to_dict() for q in quarantined(quarantine_dir)]


def release_quarantined(
    settings: Settings,
    name: str,
    *,
    replacement: Path | None = None,
    destination: Path | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Validate a fixed quarantined file again and, if it passes, release it.

    A batch is checked against the same suite as the monitor's (categories from the current
    champion's training data); a label file must again join accepted rows. The file goes
    back to the folder it came from (or ``destination``); the record moves to
    ``<quarantine>/released/``.

    Args:
        settings: The configuration.
        name: The quarantine folder's name, or the quarantined file's name.
        replacement: A fixed copy to release instead of the quarantined file.
        destination: Folder to release into (default: where the file came from, else the
            incoming folder).
        force: Release without validating again.

    Returns:
        What was released, where to, and on what evidence.

    Raises:
        DataError: Nothing matches ``name``, or the file still fails validation.
    """
    entry = find_quarantined(settings.path(settings.data.quarantine_dir), name)
    if destination is None and entry.source is None:
        destination = settings.path(settings.data.incoming_dir)
    checked = Path(replacement) if replacement is not None else entry.file
    revalidation: ValidationResult | None = None
    if not force:
        if checked is None:
            raise DataError(
                f"Quarantine folder {entry.folder} holds no file; pass the fixed one with --file."
            )
        frame = read_table(checked)
        if entry.kind == "labels":
            revalidation, _ = check_labels(
                frame, settings, settings.path(settings.data.accepted_dir)
            )
        else:
            from challenger.store.registry import Registry
            from challenger.store.tracking import Tracking

            champion = Registry.from_settings(settings).champion()
            tracking = Tracking.from_settings(settings)
            reference = tracking.load_reference(champion.run_id) if champion else None
            revalidation = validate_batch(frame, batch_schema(settings, reference))
    released = release(entry, destination, revalidation=revalidation, replacement=replacement)
    return {
        "name": entry.name,
        "kind": entry.kind,
        "released_to": str(released),
        "forced": force,
        "revalidation": None if revalidation is None else revalidation.summary(),
        "record": str(settings.path(settings.data.quarantine_dir) / RELEASED / entry.name),
        "next": f"challenger monitor --batch {released}",
    }
