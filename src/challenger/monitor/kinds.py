"""What a column's values are, and the one way categories are compared as text.

Validation and drift must agree on when two values are the same category: a code read as
``3`` from a CSV file, ``3.0`` from a column with a gap, and ``"3"`` from a file written as
text all mean category ``"3"``. :func:`challenger.store.batches.as_text` is that rule (the batch store reads every
categorical column with it); :func:`value_kind`
names what a column holds, so a comparison of two frames can say when their columns do not
hold the same kind of values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from challenger.store.batches import as_text

ValueKind = Literal[
    "integer codes", "numbers", "strings", "booleans", "timestamps", "mixed", "empty"
]


def value_kind(series: pd.Series) -> ValueKind:
    """What the non-null values of ``series`` are.

    Whole-number floats (an integer column with a gap, as pandas reads it) count as integer
    codes, so ``[1, 2]`` and ``[1.0, None, 2.0]`` are the same kind.
    """
    values = series.dropna()
    if values.empty:
        return "empty"
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "booleans"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer codes"
    if pd.api.types.is_float_dtype(dtype):
        finite = values.to_numpy(dtype="float64")
        whole = bool(np.all(np.isfinite(finite))) and bool(np.all(finite % 1 == 0))
        return "integer codes" if whole else "numbers"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamps"
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    return {
        "string": "strings",
        "integer": "integer codes",
        "floating": "numbers",
        "mixed-integer-float": "numbers",
        "decimal": "numbers",
        "boolean": "booleans",
        "datetime": "timestamps",
    }.get(inferred, "mixed")  # type: ignore[return-value]


def row_hashes(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> np.ndarray:
    """One 64-bit hash per row of the given columns, equal for rows with equal values.

    Numeric columns are compared as floats (``3`` equals ``3.0``) and categorical ones as
    category text (code ``3`` in one file equals ``"3"`` in the next), so the hash does not
    depend on how a file happened to store a column.
    """
    normal = {c: pd.to_numeric(frame[c], errors="coerce").astype("float64") for c in numeric}
    normal |= {c: as_text(frame[c]) for c in categorical}
    return np.asarray(
        pd.util.hash_pandas_object(pd.DataFrame(normal, index=frame.index), index=False),
        dtype=np.uint64,
    )


def collision_probability(hashes: np.ndarray) -> float:
    """The chance that two distinct rows of a sample coincide: sum of n_k(n_k - 1) / (N(N - 1))."""
    n = hashes.size
    if n < 2:
        return 0.0
    _, counts = np.unique(hashes, return_counts=True)
    return float(np.sum(counts * (counts - 1.0)) / (n * (n - 1.0)))
