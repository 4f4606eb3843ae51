"""Per-column sketches of a reference: quantile grids and value counts, decided without the rows.

A sketch keeps, per numeric column, its finite count, standard deviation and its values at
``LEVELS`` evenly spaced quantile levels (and its value counts when it has few values); per
categorical column, its category counts. The current batch's sketch is computed for the whole
numeric matrix at once (one sort along the rows, then gathers), not column by column.

How close the sketch tests are to the exact ones (tested in tests/unit/monitor/test_sketch.py):

* categorical columns and numeric columns with few values: counts are sufficient, so every
  method (chi-square, Z, Jensen-Shannon, PSI, ...) gives the exact engine's score;
* numeric Wasserstein: the integral of ``|Q_ref - Q_cur|`` over the quantile grid, within
  about ``1 / LEVELS`` of the reference's spread of the exact value;
* numeric K-S: the largest CDF gap read off the two grids, within ``2 / LEVELS`` of the exact
  statistic, its p-value from ``scipy.stats.kstwo`` as the exact engine does above 10,000 rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from challenger.errors import DriftInputError
from challenger.monitor.drift.fast import _SCORERS, KS_TEST, _Categorical, _two_sample, verdict
from challenger.monitor.drift.methods import FEW_VALUES, default_method
from challenger.monitor.drift.result import ColumnDrift, DriftKind

LEVELS = 1001
_GRID = np.linspace(0.0, 1.0, LEVELS)
_BLOCK = 128  # numeric columns sketched together (bounds the sorted copy's memory)
_COUNTED_MAX = FEW_VALUES  # numeric columns with at most this many values keep their counts


@dataclass(frozen=True)
class ColumnSketch:
    """What a drift test needs of one column, without its rows."""

    kind: DriftKind
    n: int
    std: float = 0.0
    quantiles: tuple[float, ...] = ()
    counts: dict[Any, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n": self.n,
            "std": self.std,
            "quantiles": list(self.quantiles),
            "counts": [[k, v] for k, v in self.counts.items()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSketch:
        return cls(
            kind=data["kind"],
            n=int(data["n"]),
            std=float(data["std"]),
            quantiles=tuple(float(q) for q in data["quantiles"]),
            counts={k: int(v) for k, v in data["counts"]},
        )


def sketch_frame(frame: pd.DataFrame, kinds: Mapping[str, DriftKind]) -> dict[str, ColumnSketch]:
    """Sketch every column of ``frame``: numeric ones in one vectorised pass, the rest counted."""
    numeric = [c for c, k in kinds.items() if k == "numeric"]
    out: dict[str, ColumnSketch] = {}
    for start in range(0, len(numeric), _BLOCK):
        block = numeric[start : start + _BLOCK]
        matrix = frame[block].to_numpy(dtype="float64", na_value=np.nan)
        out.update(zip(block, sketch_matrix(matrix), strict=True))
    for column, kind in kinds.items():
        if kind == "categorical":
            counts = frame[column].dropna().value_counts(sort=False)
            out[column] = ColumnSketch(
                kind="categorical", n=int(counts.sum()), counts=dict(counts.items())
            )
    return {c: out[c] for c in kinds}


def sketch_matrix(matrix: np.ndarray) -> list[ColumnSketch]:
    """Sketch each column of a 2-D float matrix (non-finite values left out) at once."""
    values = np.where(np.isfinite(matrix), matrix, np.nan)
    ordered = np.sort(values, axis=0)  # NaNs sort last
    n = np.isfinite(ordered).sum(axis=0)
    std = np.nanstd(values, axis=0) if len(values) else np.zeros(values.shape[1])
    position = _GRID[:, None] * np.maximum(n - 1, 0)[None, :]
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, np.maximum(n - 1, 0)[None, :])
    weight = position - low
    lo_v = np.take_along_axis(ordered, low, axis=0)
    hi_v = np.take_along_axis(ordered, high, axis=0)
    quantiles = lo_v + weight * (hi_v - lo_v)
    changes = np.count_nonzero((ordered[1:] != ordered[:-1]) & np.isfinite(ordered[1:]), axis=0)
    n_unique = np.where(n > 0, changes + 1, 0)
    sketches = []
    for j in range(matrix.shape[1]):
        counts: dict[Any, int] = {}
        if n_unique[j] <= _COUNTED_MAX:
            keys, counted = np.unique(ordered[: n[j], j], return_counts=True)
            counts = {float(k): int(c) for k, c in zip(keys, counted, strict=True)}
        sketches.append(
            ColumnSketch(
                kind="numeric",
                n=int(n[j]),
                std=float(std[j]),
                quantiles=tuple(quantiles[:, j].tolist()) if n[j] else (),
                counts=counts,
            )
        )
    return sketches


class _Counted(_Categorical):
    """A column pair known by its counts only (the fast engine's categorical scorers apply)."""

    def __init__(self, reference: Mapping[Any, int], current: Mapping[Any, int]) -> None:
        self.keys = list(dict.fromkeys([*reference, *current]))
        self.ref_counts = np.array([reference.get(k, 0) for k in self.keys], dtype="float64")
        self.cur_counts = np.array([current.get(k, 0) for k in self.keys], dtype="float64")


def ks_from_grids(reference: ColumnSketch, current: ColumnSketch) -> float:
    """The K-S statistic read off two quantile grids (each CDF interpolated at the other's points)."""
    q_ref, q_cur = np.asarray(reference.quantiles), np.asarray(current.quantiles)
    f_ref_at_cur = np.interp(q_cur, q_ref, _GRID, left=0.0, right=1.0)
    f_cur_at_ref = np.interp(q_ref, q_cur, _GRID, left=0.0, right=1.0)
    return float(max(np.abs(f_ref_at_cur - _GRID).max(), np.abs(f_cur_at_ref - _GRID).max()))


def wasserstein_from_grids(reference: ColumnSketch, current: ColumnSketch) -> float:
    """Evidently's normed Wasserstein distance from two quantile grids."""
    gap = np.abs(np.asarray(reference.quantiles) - np.asarray(current.quantiles))
    return float(np.trapezoid(gap, _GRID)) / max(reference.std, 0.001)


def _ks_p(d: float, n1: int, n2: int) -> float:
    m, k = max(n1, n2), min(n1, n2)
    return float(np.clip(stats.kstwo.sf(d, np.round(m * k / (m + k))), 0, 1))


def sketch_column(
    name: str,
    reference: ColumnSketch,
    current: ColumnSketch,
    method: str | None,
    threshold: float | None,
) -> ColumnDrift:
    """One column's verdict from the two sketches."""
    counted = reference.kind == "categorical" or (
        bool(reference.counts)
        and bool(current.counts)
        and len(set(reference.counts) | set(current.counts)) <= FEW_VALUES
    )
    n_values = len(set(reference.counts) | set(current.counts)) if counted else FEW_VALUES + 1
    if method is None:
        method = default_method(reference.kind, reference.n, n_values)
    if counted:
        column = _Counted(reference.counts, current.counts)
        return verdict(
            name, reference.kind, method, threshold, _SCORERS[method](column), _two_sample(column)
        )
    d = ks_from_grids(reference, current)
    p_value = _ks_p(d, reference.n, current.n)
    if method == "wasserstein":
        score = wasserstein_from_grids(reference, current)
    elif method == "ks":
        score = p_value
    else:
        raise DriftInputError(
            f"Drift method {method!r} for column {name!r} needs the reference rows; a stored "
            "sketch decides numeric columns with K-S or Wasserstein only."
        )
    return verdict(name, reference.kind, method, threshold, score, (p_value, KS_TEST, d))


def sketch_drifts(
    reference: Mapping[str, ColumnSketch],
    current: pd.DataFrame,
    kinds: Mapping[str, DriftKind],
    methods: Mapping[str, str | None],
    thresholds: Mapping[str, float | None],
) -> dict[str, ColumnDrift]:
    """Every column's verdict against a stored reference sketch; the reference rows are not read."""
    sketches = sketch_frame(current, kinds)
    return {
        c: sketch_column(c, reference[c], sketches[c], methods[c], thresholds[c]) for c in kinds
    }


SKETCH_ARTIFACT = "reference/sketch.json"
"""Where a registered version's reference sketch is logged, beside its reference rows."""


def column_kinds(frame: pd.DataFrame) -> dict[str, DriftKind]:
    """Numeric for numeric non-boolean dtypes, categorical for the rest."""
    return {
        str(c): "numeric"
        if pd.api.types.is_numeric_dtype(frame[c].dtype)
        and not pd.api.types.is_bool_dtype(frame[c].dtype)
        else "categorical"
        for c in frame.columns
    }


def sketch_payload(frame: pd.DataFrame) -> dict[str, Any]:
    """The JSON payload of a frame's sketch (every row, every column), as logged at registration."""
    sketches = sketch_frame(frame, column_kinds(frame))
    return {"levels": LEVELS, "columns": {c: s.to_dict() for c, s in sketches.items()}}


def read_payload(payload: Mapping[str, Any] | None) -> dict[str, ColumnSketch] | None:
    """The sketches of a logged payload; None (use the reference rows) when absent or of another grid."""
    if not payload or payload.get("levels") != LEVELS:
        return None
    return {c: ColumnSketch.from_dict(d) for c, d in payload["columns"].items()}
