"""Label files: labels that arrive after their batches, joined to the accepted rows they label.

A file with only the id column and the target (and optionally the timestamp) is a label file.
Its ids must all match accepted rows; labels that join nothing are refused, so the file is
quarantined rather than silently dropped. Ids are matched as text (``as_text``), so labels
from a CSV join rows accepted from a Parquet file and the other way round; an accepted batch
keeps the dtypes it was stored with."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from challenger.config import Settings
from challenger.monitor.gx_failures import CheckFailure
from challenger.monitor.intake import check_batch
from challenger.monitor.validation import (
    BatchSchema,
    ColumnSpec,
    ValidationResult,
)
from challenger.problem import target_kind
from challenger.store.batches import (
    Conformed,
    accepted_batches,
    as_text,
    conform,
    file_sha256,
    read_table,
    rewrite_batch,
)

LABELS_JOIN = "expect_labels_to_join_accepted_rows"


def is_label_file(frame: pd.DataFrame, settings: Settings) -> bool:
    """Whether a file holds labels for earlier rows: the id and target, and no feature."""
    data = settings.data
    if not data.id_column or data.id_column not in frame.columns:
        return False
    return data.target in frame.columns and not set(data.features) & set(frame.columns)


def check_labels(
    labels: pd.DataFrame | Conformed, settings: Settings, accepted_dir: Path
) -> tuple[ValidationResult, dict[Path, pd.DataFrame]]:
    """Validate a label file and join it to the accepted rows it labels.

    The file must have unique, non-null ids and 0/1 labels (Great Expectations), and every
    id must match a row of an accepted batch: labels that join nothing are refused, so
    they are quarantined with the file rather than silently dropped.

    Args:
        labels: The label file's rows (brought to the schema's dtypes here if not yet).
        settings: The configuration.
        accepted_dir: The store of accepted batches.

    Returns:
        The validation result, and for each accepted batch the labels that belong to it.
    """
    data = settings.data
    batch = labels if isinstance(labels, Conformed) else conform(labels, data)
    labels = batch.frame
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
    result = check_batch(batch, schema)
    if not result.success:
        return result, {}
    ids = as_text(labels[id_column])
    matched = pd.Series(False, index=labels.index)
    per_batch: dict[Path, pd.DataFrame] = {}
    for path in accepted_batches(accepted_dir, data.timestamp):
        try:
            batch_ids = as_text(pd.read_parquet(path, columns=[id_column])[id_column])
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
    """Write joined labels into their accepted batches (atomically); returns rows labelled.

    Rows are matched by their ids as text; each batch keeps its columns, dtypes and place in
    the store's order.
    """
    data = settings.data
    id_column = data.id_column or ""
    key = "__challenger_id__"
    written = 0
    for path, labels in per_batch.items():
        batch = read_table(path)
        sent = pd.DataFrame({key: as_text(labels[id_column]), data.target: labels[data.target]})
        merged = (
            batch.drop(columns=[data.target], errors="ignore")
            .assign(**{key: as_text(batch[id_column])})
            .merge(sent, on=key, how="left", validate="one_to_one")
        )
        if data.target in batch.columns:
            merged[data.target] = merged[data.target].fillna(batch[data.target])
        keep = [*batch.columns, *([] if data.target in batch.columns else [data.target])]
        rewrite_batch(merged[keep], path)
        written += len(labels)
    return written


def archive_label_file(path: Path, accepted_dir: Path, *, move: bool = False) -> Path:
    """Keep an applied label file beside the accepted batches (``labels/``), never overwriting.

    A copy is kept and the file left where it is (a file the user named stays in their
    folder); ``move`` takes it out of the folder instead (the monitor's own incoming folder,
    so that its next scan does not apply it again).
    """
    folder = accepted_dir / "labels"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    i = 0
    while target.exists():
        i += 1
        target = folder / f"{path.stem}-{i}{path.suffix}"
    if move:
        shutil.move(str(path), str(target))
    else:
        shutil.copy2(path, target)
    return target


def applied_label_files(accepted_dir: Path, folder: Path) -> list[Path]:
    """Files in ``folder`` identical to a label file already applied and archived.

    A label file the user named stays where it is (a copy is archived); the scheduled
    monitor skips it in its incoming folder instead of applying it again.
    """
    archive = accepted_dir / "labels"
    if not archive.is_dir() or not folder.is_dir():
        return []
    applied = []
    for path in folder.iterdir():
        if not path.is_file() or path.name.startswith("."):
            continue
        kept = [archive / path.name, *archive.glob(f"{path.stem}-*{path.suffix}")]
        size = path.stat().st_size
        same = [k for k in kept if k.is_file() and k.stat().st_size == size]
        if same:
            digest = file_sha256(path)
            if any(file_sha256(k) == digest for k in same):
                applied.append(path)
    return applied
