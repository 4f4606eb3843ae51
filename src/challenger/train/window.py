"""The training window: what a retrain trains and judges on, and the holdout split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from challenger.config import Settings
from challenger.errors import DataError
from challenger.monitor.schema import batch_schema
from challenger.monitor.validation import ValidationResult, validate_batch
from challenger.store.batches import assemble_window, fingerprint, read_batch
from challenger.train.plan import check_training_frame


def time_split(
    df: pd.DataFrame, holdout_fraction: float, timestamp: str | None, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into (train, holdout); the holdout is the newest rows when a timestamp exists.

    Never validate on the past: with a timestamp, every holdout row is at least as new as
    every training row. Without one, a seeded random split.
    """
    n = len(df)
    n_hold = max(1, round(n * holdout_fraction))
    if timestamp and timestamp in df.columns:
        ordered = df.sort_values(timestamp, kind="stable", ignore_index=True)
        return ordered.iloc[: n - n_hold].reset_index(drop=True), ordered.iloc[
            n - n_hold :
        ].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(n)
    return df.iloc[idx[n_hold:]].reset_index(drop=True), df.iloc[idx[:n_hold]].reset_index(
        drop=True
    )


def labelled_rows(df: pd.DataFrame, target: str) -> pd.DataFrame:
    """The rows whose label has arrived."""
    if target not in df.columns:
        return df.iloc[0:0]
    return df[df[target].notna()]


@dataclass(frozen=True)
class TrainingWindow:
    """The labelled rows a retrain trains and judges on, split once.

    Attributes:
        frame: Every labelled row of the window.
        batches: The accepted batches (or the file) the rows came from, oldest first.
        train: The rows candidates are trained and cross-validated on.
        holdout: The rows champion and challenger are judged on (the newest, with a timestamp).
        fingerprint: Content hash of ``frame``.
        train_max_ts: The newest training timestamp, when there is a timestamp column.
        validation: The window's validation result (it passed).
    """

    frame: pd.DataFrame
    batches: tuple[str, ...]
    train: pd.DataFrame
    holdout: pd.DataFrame
    fingerprint: str
    train_max_ts: str | None
    validation: ValidationResult


def load_window(settings: Settings, data: str | None) -> tuple[pd.DataFrame, list[str]]:
    """The data to train and judge on, in the schema's dtypes: a given file, or the newest
    accepted batches (by time).

    Raises:
        DataError: Nothing to train on, or values no dtype can hold (integers beyond 64 bits).
    """
    if data:
        batch = read_batch(data, settings.data)
        if batch.problems:
            raise DataError(
                f"the training data {data} failed validation, so nothing was trained: "
                f"{batch.problems[0].message}"
            )
        return batch.frame, [Path(data).stem]
    return assemble_window(
        settings.path(settings.data.accepted_dir),
        settings.training.window_batches,
        settings.data,
    )


def holdout_of(settings: Settings, data: str | None) -> tuple[pd.DataFrame, list[str]]:
    """The newest holdout rows of the window (what a promotion is judged on), and its batches."""
    frame, batches = load_window(settings, data)
    frame = labelled_rows(frame, settings.data.target)
    _, holdout = time_split(
        frame, settings.training.holdout_fraction, settings.data.timestamp, settings.project.seed
    )
    return holdout, batches


def training_window(
    settings: Settings, data: str | None, reference: pd.DataFrame | None
) -> TrainingWindow:
    """Load, check, validate and split the window a retrain trains on, before any fit.

    Args:
        settings: The configuration.
        data: A CSV/Parquet file to train on instead of the newest accepted batches.
        reference: The champion's training data (validation learns its categories).

    Raises:
        DataError: Nothing to train on, the data cannot train a model, or it fails validation.
    """
    d = settings.data
    frame, batches = load_window(settings, data)
    check_training_frame(frame, settings)
    if settings.gate.resample == "groups" and settings.gate.group_column not in frame.columns:
        raise DataError(
            f"gate.group_column {settings.gate.group_column!r} is not a column of the training data"
        )
    validation = validate_batch(frame, batch_schema(settings, reference))
    if not validation.success:
        raise DataError(
            f"the training data failed validation, so nothing was trained: {validation.summary()}"
        )
    frame = labelled_rows(frame, d.target)
    train, holdout = time_split(
        frame, settings.training.holdout_fraction, d.timestamp, settings.project.seed
    )
    train_max_ts = (
        str(pd.to_datetime(train[d.timestamp]).max())
        if d.timestamp and d.timestamp in train
        else None
    )
    return TrainingWindow(
        frame, tuple(batches), train, holdout, fingerprint(frame), train_max_ts, validation
    )
