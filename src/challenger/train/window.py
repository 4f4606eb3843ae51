"""The training window: what a retrain trains and judges on, and a holdout no model has seen.

A version's record says what it was trained on: the rows, by fingerprint (a stable 64-bit
hash of each row's feature and target values, normalised so that a CSV and a Parquet copy of
the same row hash alike), and the window (its batches and time span). The holdout is drawn
from rows that no model being compared trained on:

* with ``data.timestamp``, the newest ``holdout_fraction`` of the window, less any row the
  champion trained on or that duplicates a training row (rows reappear across batches);
* without it, seeded random rows among those the champion never trained on — rows with the
  same fingerprint always fall on the same side — so that a retrain on the same file with
  another seed is judged on the champion's own holdout, never on its training rows.

When no such row is left the draw refuses (:class:`~challenger.errors.NoUnseenHoldout`,
exit code 2). The judgement checks the result again as a hard check
(``challenger.gate.judge``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from challenger.config import DataConfig, Settings
from challenger.errors import DataError, NoUnseenHoldout
from challenger.monitor.schema import batch_schema
from challenger.monitor.validation import ValidationResult, validate_batch
from challenger.store.batches import assemble_window, fingerprint, read_batch
from challenger.train.folds import time_order
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


# ---- what a model was trained on: row fingerprints ---------------------------------------------


def _as_label(column: pd.Series) -> pd.Series:
    """A categorical value as text; whole numbers without a decimal part (1.0 and 1 alike)."""
    if pd.api.types.is_bool_dtype(column):
        return column.astype("int64").astype(str)
    if pd.api.types.is_numeric_dtype(column):
        values = pd.to_numeric(column, errors="coerce")
        whole = values.notna() & np.isfinite(values) & (values == np.round(values))
        text = values.astype(str)
        text[whole] = values[whole].astype("int64").astype(str)
        return text.where(values.notna(), "<NA>")
    return column.astype("string").fillna("<NA>").astype(str)


def row_hashes(frame: pd.DataFrame, data: DataConfig) -> np.ndarray:
    """A uint64 fingerprint per row of its feature and target values.

    Numeric features are compared as float64, categorical features and a classification
    target as text (an integer-coded category read as 3 from a CSV and "3" from a Parquet
    file hash alike), a regression target as float64. Ids and timestamps are left out: a row
    that comes back in a later batch with a new id is still the row a model trained on.

    Raises:
        DataError: A feature or the target is not a column of the frame.
    """
    columns = [*data.features, data.target]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"the data lacks the columns {missing}; every feature and the target are needed "
            "to tell which rows a model trained on"
        )
    normal = pd.DataFrame(index=frame.index)
    for c in data.numeric:
        normal[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    for c in data.categorical:
        normal[c] = _as_label(frame[c])
    if data.task == "regression":
        normal[data.target] = pd.to_numeric(frame[data.target], errors="coerce").astype("float64")
    else:
        normal[data.target] = _as_label(frame[data.target])
    return np.asarray(pd.util.hash_pandas_object(normal, index=False), dtype=np.uint64)


def fingerprints(frame: pd.DataFrame, data: DataConfig) -> np.ndarray:
    """The sorted, distinct row fingerprints of a frame (what a version's record keeps)."""
    return np.unique(row_hashes(frame, data))


def seen_in(hashes: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Which rows (by fingerprint) are in ``seen`` (sorted distinct fingerprints)."""
    if seen.size == 0 or hashes.size == 0:
        return np.zeros(hashes.shape, dtype=bool)
    pos = np.clip(np.searchsorted(seen, hashes), 0, seen.size - 1)
    return np.asarray(seen[pos] == hashes, dtype=bool)


@dataclass(frozen=True)
class HoldoutDraw:
    """How a holdout was drawn, for the record.

    Attributes:
        how: In words: the newest rows, or random rows no model trained on.
        rows: Holdout rows.
        excluded: Rows that could have been held out but were not, because a compared model
            trained on them (or, with a timestamp, they duplicate a training row).
        unknown: Versions whose training rows are not recorded (registered before
            challenger kept them): rows they trained on cannot be excluded.
    """

    how: str
    rows: int
    excluded: int
    unknown: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {
            "how": self.how,
            "rows": self.rows,
            "excluded": self.excluded,
            "unknown": list(self.unknown),
        }


def _known(seen: Mapping[int, np.ndarray | None]) -> tuple[np.ndarray, tuple[int, ...]]:
    known = [fps for fps in seen.values() if fps is not None]
    union = np.unique(np.concatenate(known)) if known else np.empty(0, dtype=np.uint64)
    return union, tuple(sorted(v for v, fps in seen.items() if fps is None))


def _versions(seen: Mapping[int, np.ndarray | None], unknown: tuple[int, ...]) -> str:
    return " and ".join(f"v{v}" for v in sorted(seen) if v not in unknown)


def _refuse(source: str, seen: Mapping[int, np.ndarray | None], rows: int) -> NoUnseenHoldout:
    who = " and ".join(f"v{v}" for v in sorted(seen)) or "the training split"
    return NoUnseenHoldout(
        f"{source}: none of its {rows} labelled rows is unseen by {who}, so no holdout can "
        "judge the models fairly; add rows no model trained on (a new batch, or --data with "
        "new labelled rows) and run again"
    )


def split_unseen(
    frame: pd.DataFrame,
    fraction: float,
    data: DataConfig,
    seed: int,
    seen: Mapping[int, np.ndarray | None],
    source: str,
) -> tuple[pd.DataFrame, pd.DataFrame, HoldoutDraw]:
    """Split into (train, holdout) with no holdout row seen in training by any model.

    Args:
        frame: The labelled rows of the window.
        fraction: ``training.holdout_fraction`` of the window's rows to hold out.
        data: The data section (timestamp, features, target, task).
        seed: Seed of the random draw without a timestamp.
        seen: Version -> the sorted fingerprints of the rows it trained on (None: unknown).
        source: The data's name, for the refusal.

    Raises:
        NoUnseenHoldout: No row is left that no model trained on.
    """
    train_idx, hold_idx, draw, _ = _unseen_positions(frame, fraction, data, seed, seen, source)
    return _rows(frame, train_idx), _rows(frame, hold_idx), draw


def _rows(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    return frame.iloc[np.sort(positions)].reset_index(drop=True)


def _unseen_positions(
    frame: pd.DataFrame,
    fraction: float,
    data: DataConfig,
    seed: int,
    seen: Mapping[int, np.ndarray | None],
    source: str,
) -> tuple[np.ndarray, np.ndarray, HoldoutDraw, np.ndarray]:
    """:func:`split_unseen`'s row positions (train, holdout), its draw and the row hashes."""
    n = len(frame)
    n_hold = max(1, round(n * fraction))
    hashes = row_hashes(frame, data)
    union, unknown = _known(seen)
    ts = data.timestamp
    if ts and ts in frame.columns:
        order = time_order(frame[ts])
        eligible = np.flatnonzero(~seen_in(hashes[order], union))  # positions in time order
        chosen = eligible[-n_hold:]
        cut = int(chosen.min()) if chosen.size else n
        # Every training row is older than the holdout; a seen row newer than the cut is in
        # neither (a copy of a row the champion trained on, come back in a later batch).
        train_idx = order[:cut]
        held = order[chosen]
        copy = np.isin(hashes[held], hashes[train_idx])
        hold_idx = held[~copy]
        excluded = (n - cut - chosen.size) + int(copy.sum())
        how = f"the newest {hold_idx.size} rows by {ts}" + (
            f" that {_versions(seen, unknown) or 'no model'} did not train on and that duplicate "
            f"no training row ({excluded} such rows left out)"
            if excluded
            else ""
        )
    else:
        distinct, inverse = np.unique(hashes, return_inverse=True)
        eligible = np.flatnonzero(~seen_in(distinct, union))
        counts = np.bincount(inverse, minlength=distinct.size)
        picked = np.random.default_rng(seed).permutation(eligible)
        held = picked[: int(np.searchsorted(np.cumsum(counts[picked]), n_hold) + 1)]
        in_holdout = np.isin(inverse, held)
        hold_idx, train_idx = np.flatnonzero(in_holdout), np.flatnonzero(~in_holdout)
        excluded = int(counts[~np.isin(np.arange(distinct.size), eligible)].sum())
        versions = _versions(seen, unknown)
        how = f"{len(hold_idx)} seeded random rows" + (
            f" that {versions} did not train on" if versions else ""
        )
    if hold_idx.size == 0:
        raise _refuse(source, seen, n)
    return train_idx, hold_idx, HoldoutDraw(how, int(hold_idx.size), excluded, unknown), hashes


@dataclass(frozen=True)
class TrainingWindow:
    """The labelled rows a retrain trains and judges on, split once.

    Attributes:
        frame: Every labelled row of the window.
        batches: The accepted batches (or the file) the rows came from, oldest first.
        train: The rows candidates are trained and cross-validated on.
        holdout: The rows champion and challenger are judged on: none of them a row either
            model trained on (the newest, with a timestamp).
        fingerprint: Content hash of ``frame``.
        train_max_ts: The newest training timestamp, when there is a timestamp column.
        validation: The window's validation result (it passed).
        draw: How the holdout was drawn.
        train_rows: The sorted distinct fingerprints of ``train`` (logged with the version).
        train_min_ts: The oldest training timestamp, when there is a timestamp column.
    """

    frame: pd.DataFrame
    batches: tuple[str, ...]
    train: pd.DataFrame
    holdout: pd.DataFrame
    fingerprint: str
    train_max_ts: str | None
    validation: ValidationResult
    draw: HoldoutDraw
    train_rows: np.ndarray
    train_min_ts: str | None = None


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


def _source(data: str | None, batches: Sequence[str]) -> str:
    return f"data file {data}" if data else f"the accepted batches {', '.join(batches) or '(none)'}"


def holdout_of(
    settings: Settings, data: str | None, seen: Mapping[int, np.ndarray | None]
) -> tuple[pd.DataFrame, list[str], HoldoutDraw]:
    """The holdout a promotion is judged on, its batches and how it was drawn.

    The newest rows of the window (random rows without a timestamp), less every row one of
    the ``seen`` versions (the one to promote and the champion) trained on.

    Raises:
        NoUnseenHoldout: Every row was seen by one of them.
    """
    frame, batches = load_window(settings, data)
    frame = labelled_rows(frame, settings.data.target)
    if frame.empty:
        raise DataError(f"{_source(data, batches)} has no labelled rows to judge a promotion on")
    _, holdout, draw = split_unseen(
        frame,
        settings.training.holdout_fraction,
        settings.data,
        settings.project.seed,
        seen,
        _source(data, batches),
    )
    return holdout, batches, draw


def training_window(
    settings: Settings,
    data: str | None,
    reference: pd.DataFrame | None,
    seen: Mapping[int, np.ndarray | None] | None = None,
) -> TrainingWindow:
    """Load, check, validate and split the window a retrain trains on, before any fit.

    Args:
        settings: The configuration.
        data: A CSV/Parquet file to train on instead of the newest accepted batches.
        reference: The champion's training data (validation learns its categories).
        seen: The champion's version -> the fingerprints of the rows it trained on (None:
            not recorded); no holdout row is one of them.

    Raises:
        DataError: Nothing to train on, the data cannot train a model, or it fails validation.
        NoUnseenHoldout: Every labelled row is one the champion trained on.
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
    train_idx, hold_idx, draw, hashes = _unseen_positions(
        frame,
        settings.training.holdout_fraction,
        d,
        settings.project.seed,
        dict(seen or {}),
        _source(data, batches),
    )
    train, holdout = _rows(frame, train_idx), _rows(frame, hold_idx)
    stamps = pd.to_datetime(train[d.timestamp]) if d.timestamp and d.timestamp in train else None
    return TrainingWindow(
        frame,
        tuple(batches),
        train,
        holdout,
        fingerprint(frame),
        str(stamps.max()) if stamps is not None else None,
        validation,
        draw,
        np.unique(hashes[train_idx]),  # fingerprints(train, d), from the hashes at hand
        str(stamps.min()) if stamps is not None else None,
    )
