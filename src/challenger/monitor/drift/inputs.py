"""Checks and sampling of the frames a drift engine compares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from challenger.errors import DriftInputError

if TYPE_CHECKING:
    pass


def check_present(frame: pd.DataFrame, columns: Sequence[str], label: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DriftInputError(
            f"The {label} data has no column(s) {missing}; check the column names."
        )


def select(frame: pd.DataFrame, columns: Sequence[str], label: str) -> pd.DataFrame:
    check_present(frame, columns, label)
    selected = frame.loc[:, list(columns)]
    # Category dtypes with different category sets do not combine cleanly inside Evidently.
    categories = [c for c in columns if isinstance(selected[c].dtype, pd.CategoricalDtype)]
    if categories:
        selected = selected.astype(dict.fromkeys(categories, object))
    return selected


def sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed)


def check_numeric(frame: pd.DataFrame, column: str, label: str) -> None:
    dtype = frame[column].dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise DriftInputError(
            f"Column {column!r} is declared numeric but has dtype {dtype} in the {label} "
            "data; validate the batch first or declare it categorical."
        )


def check_not_empty(
    frame: pd.DataFrame, columns: Sequence[str], label: str, *, sampled: bool
) -> None:
    if frame.empty:
        raise DriftInputError(f"The {label} data has no rows; there is nothing to compare.")
    for column in columns:
        if not has_values(frame[column]):
            where = " after sampling" if sampled else ""
            raise DriftInputError(
                f"Column {column!r} is entirely null in the {label} data{where}; "
                "validate the batch before measuring drift or leave the column out."
            )


def has_values(series: pd.Series) -> bool:
    """Whether the column holds at least one value Evidently would keep (not null, finite)."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return len(series) > 0  # numpy integers hold no nulls
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return bool(np.isfinite(series.to_numpy()).any())  # a view, no copy
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return bool(np.isfinite(series.to_numpy(dtype="float64", na_value=np.nan)).any())
    return bool(series.notna().any())
