"""A data file's columns against the columns ``challenger.yaml`` declares.

A configured timestamp or id column missing from the data used to be ignored, and a missing
feature was found only deep inside a flow. :func:`check_file_columns` reads just the file's
header and names every declared column it lacks, with its key, before anything starts.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Literal

from challenger.config import Settings
from challenger.errors import DataError

Role = Literal["training", "batch"]
"""``training``: a file to train or judge on (needs the target); ``batch``: a monitored batch
(the target may arrive later; a label file needs only the id and the target)."""

_SUFFIXES = (".csv", ".parquet", ".pq")


def file_columns(path: Path | str) -> tuple[str, ...]:
    """The column names of a CSV or Parquet file, read from its header only.

    Raises:
        DataError: The file is missing, has an unknown suffix or cannot be read.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file {p} does not exist or is not a file; check the path")
    suffix = p.suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(f"data file {p} has suffix {suffix!r}; use one of {', '.join(_SUFFIXES)}")
    try:
        if suffix == ".csv":
            import pandas as pd

            try:
                return tuple(str(c) for c in pd.read_csv(p, nrows=0).columns)
            except pd.errors.EmptyDataError:
                return ()
        import pyarrow.parquet as pq

        names = pq.read_schema(p).names
        return tuple(n for n in names if not n.startswith("__index_level_"))
    except Exception as exc:
        raise DataError(f"data file {p} cannot be read as {suffix[1:]}: {exc}") from exc


def declared_columns(settings: Settings, role: Role, columns: Collection[str]) -> list[str]:
    """Declared columns that ``columns`` lacks, each as ``key 'name'`` (e.g. ``data.timestamp 'ts'``).

    A batch may leave out the target (labels arrive later); a label file (the id and the
    target, no feature) needs nothing else.
    """
    d = settings.data
    have = set(columns)
    is_labels = bool(d.id_column) and {d.id_column, d.target} <= have
    if role == "batch" and is_labels and not have & set(d.features):
        return []
    wanted: list[tuple[str, str]] = []
    if role == "training":
        wanted.append(("data.target", d.target))
    if d.timestamp:
        wanted.append(("data.timestamp", d.timestamp))
    if d.id_column:
        wanted.append(("data.id_column", d.id_column))
    wanted += [("data.numeric", c) for c in d.numeric]
    wanted += [("data.categorical", c) for c in d.categorical]
    if role == "training":
        cv, gate = settings.training.cv, settings.gate
        if cv.strategy == "group_kfold" and cv.group_column:
            wanted.append(("training.cv.group_column", cv.group_column))
        if gate.resample == "groups" and gate.group_column:
            wanted.append(("gate.group_column", gate.group_column))
    return [f"{key} {name!r}" for key, name in wanted if name not in have]


def check_file_columns(settings: Settings, path: Path | str, role: Role) -> tuple[str, ...]:
    """Refuse a file that lacks a column the configuration declares; returns its columns.

    Raises:
        DataError: The file cannot be read, or lacks declared columns (each named with its
            key, beside the columns the file has).
    """
    columns = file_columns(path)
    if not columns:
        raise DataError(f"data file {path} is empty: it has no header and no rows")
    missing = declared_columns(settings, role, columns)
    if missing:
        shown = ", ".join(columns[:12]) + (
            f" and {len(columns) - 12} more" if len(columns) > 12 else ""
        )
        raise DataError(
            f"data file {path} lacks {len(missing)} column(s) the configuration declares: "
            f"{', '.join(missing)} (the file has {shown}); fix those keys in challenger.yaml "
            "or the file, or write a configuration from the file with "
            f"`challenger init {path} --target COLUMN`"
        )
    return columns
