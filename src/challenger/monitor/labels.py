"""Label files: labels that arrive after their batches, joined to the accepted rows they label.

A file with only the id column and the target (and optionally the timestamp) is a label file.
Its ids must all match accepted rows; labels that join nothing are refused, so the file is
quarantined rather than silently dropped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from challenger.config import Settings
from challenger.monitor.validation import (
    BatchSchema,
    CheckFailure,
    ColumnSpec,
    ValidationResult,
    validate_batch,
)
from challenger.problem import target_kind
from challenger.store.batches import accepted_batches, read_table, write_table

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


def newly_labelled(
    per_batch: dict[Path, pd.DataFrame], settings: Settings
) -> list[tuple[str, pd.DataFrame]]:
    """The accepted rows these labels label for the first time, with their features.

    Call it before :func:`apply_labels`: a row that already had its label is left out, so
    a label file delivered twice feeds the champion's change detector once.

    Returns:
        ``(batch, rows)`` per accepted batch, rows in the batch's order with the new label.
    """
    data = settings.data
    id_column = data.id_column or ""
    out: list[tuple[str, pd.DataFrame]] = []
    for path, labels in per_batch.items():
        batch = read_table(path)
        unlabelled = (
            batch[data.target].isna()
            if data.target in batch.columns
            else pd.Series(True, index=batch.index)
        )
        rows = batch[unlabelled].drop(columns=[data.target], errors="ignore")
        rows = rows.merge(labels, on=id_column, how="inner", validate="one_to_one")
        if not rows.empty:
            out.append((path.stem, rows))
    return out


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
