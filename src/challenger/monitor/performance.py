"""The champion's performance on recent labelled rows, in the windows the performance trigger reads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from challenger import metrics
from challenger.config import Settings
from challenger.errors import StatisticsInputError
from challenger.monitor.triggers import PerformanceObservation
from challenger.problem import scoreable, truth_and_scores
from challenger.stats import metric_value
from challenger.store.batches import accepted_batches, read_table
from challenger.train.window import labelled_rows


def performance_windows(
    model: Any,
    labelled: pd.DataFrame,
    settings: Settings,
    reference_value: float | None,
    references: Mapping[str, float] | None = None,
) -> list[PerformanceObservation]:
    """The champion's primary and watched metrics on the newest complete labelled windows.

    ``labelled`` is split, oldest first, into consecutive windows of
    ``triggers.performance.window_rows`` rows; the newest ``triggers.performance.windows``
    complete ones are scored on the primary metric and on every metric watched besides it
    (``triggers.performance.also_watch``: by default the Brier score for classification,
    which a moved decision threshold raises although the ranking, and ROC AUC, stay put). A
    window a metric is undefined on (one class only for a ranking metric, a constant
    regression target) is left out for that metric.

    Args:
        model: The champion.
        labelled: Labelled rows, oldest first (see :func:`recent_labelled`).
        settings: The configuration.
        reference_value: The champion's holdout value of the primary metric.
        references: The champion's holdout values of other metrics (its record's
            ``holdout``); a watched metric without one is scored but cannot breach.

    Returns:
        One observation per scored window and metric: the primary metric's windows first,
        oldest first, then each watched metric's.
    """
    policy = settings.triggers.performance
    target, ts = settings.data.target, settings.data.timestamp
    size = policy.window_rows
    n_windows = min(policy.windows, len(labelled) // size)
    if n_windows == 0:
        return []
    newest = labelled.iloc[len(labelled) - n_windows * size :]
    primary, task = settings.training.primary_metric, settings.data.task
    y_all, scores = truth_and_scores(
        model, newest[list(settings.data.features)], newest[target], task, target
    )
    watched: dict[str, float | None] = {primary: None}
    watched |= {m: margin for m, margin in policy.watched(task).items() if m not in watched}
    out: list[PerformanceObservation] = []
    for metric, margin in watched.items():
        reference = reference_value if margin is None else (references or {}).get(metric)
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
                    reference,
                    size,
                    metrics.info(metric).higher_is_better,
                    window=label,
                    margin=margin,
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
        rows = _newest_labelled(path, target, max_rows - found)
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


#: Accepted batches with more rows than this are read from their last row groups only, as
#: many as hold the labelled rows wanted, so a huge batch is never read whole for a window.
TAIL_READ_ROWS = 1_000_000


def _newest_labelled(path: Path, target: str, wanted: int) -> pd.DataFrame:
    """The labelled rows of one accepted batch: all of them, or for a batch of more than
    :data:`TAIL_READ_ROWS` rows those of its last row groups (file order), enough for
    ``wanted`` rows, so the memory used follows the window, not the batch."""
    meta = pq.ParquetFile(path) if path.suffix == ".parquet" else None
    if meta is None or meta.metadata.num_rows <= TAIL_READ_ROWS:
        return labelled_rows(read_table(path), target)
    parts: list[pd.DataFrame] = []
    found = 0
    for group in reversed(range(meta.num_row_groups)):
        rows = labelled_rows(meta.read_row_group(group).to_pandas(), target)
        parts.append(rows)
        found += len(rows)
        if found >= wanted:
            break
    return pd.concat(parts[::-1], ignore_index=True)


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
