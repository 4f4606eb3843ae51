"""Per-column sketches of a reference: the drift decision without reading the reference rows.

A version's reference (the bounded sample of its training rows logged beside the model) is
sketched once, when the version is registered (``reference/sketch.json``), together with the
model's own output on those rows (the prediction drift needs it). A monitor run then decides
drift from the sketch and the current batch only: the reference rows are neither read nor
scored again.

What a column's sketch keeps, and how close its verdict is to the exact engine's
(``fast.py`` on the reference rows; tested in tests/unit/monitor/test_sketch.py):

* categorical columns: their value counts. Counts are sufficient statistics for every
  categorical test here, so the exact engine's scorers read both sides' counts: the same
  scores and verdicts (up to the order floating-point sums run in).
* numeric columns with at most ``COUNTED_MAX`` distinct values: their value counts; with at
  most ``LEVELS`` finite values: every value, sorted. Either determines the column, so it is
  rebuilt and the exact engine decides it against the batch: the same scores and verdicts.
* other numeric columns: the finite count, the standard deviation and the values at
  ``LEVELS`` evenly spaced quantile levels. The current batch is sorted (one vectorised sort
  per block of columns) and read exactly; only the reference side is approximated:

  - the K-S statistic is the largest gap between the reference's quantile levels and the
    current ECDF at the reference's quantiles, at most ``1 / (LEVELS - 1) + 1 / n_ref``
    from the exact statistic; its p-value comes from ``scipy.stats.kstwo``, as the exact
    engine's does when either side has more than 10,000 rows (below, the exact engine uses
    scipy's exact two-sample distribution, which a grid cannot: the p-values then differ
    slightly);
  - the normed Wasserstein distance is the integral of ``|Q_ref - Q_cur|`` over the grid.

  A verdict can therefore differ from the exact one only for a column whose statistic lies
  within that bound of its threshold. Tests the grid cannot carry (numeric PSI, K-L,
  Jensen-Shannon, Hellinger on binned values, or any Evidently-only test) are refused by
  :func:`sketch_gaps`, and the monitor then uses the reference rows as before.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from challenger.errors import DriftInputError
from challenger.monitor.drift.fast import (
    _SCORERS,
    KS_TEST,
    _Categorical,
    _drop_missing,
    _two_sample,
    fast_drifts,
    verdict,
)
from challenger.monitor.drift.methods import FEW_VALUES, METHODS, default_method
from challenger.monitor.drift.result import ColumnDrift, DriftKind
from challenger.monitor.kinds import value_kind
from challenger.problem import model_classes, prediction_for_drift
from challenger.store.tracking import SKETCH_ARTIFACT

__all__ = [
    "COUNTED_MAX",
    "FORMAT",
    "LEVELS",
    "SKETCH_ARTIFACT",
    "ColumnSketch",
    "ReferenceSketch",
    "column_kinds",
    "prediction_forms",
    "read_payload",
    "sketch_drifts",
    "sketch_frame",
    "sketch_gaps",
    "sketch_payload",
]

FORMAT = 2  # payloads of another format (or none) are not read: the monitor uses the rows
LEVELS = 1001
_GRID = np.linspace(0.0, 1.0, LEVELS)
_BLOCK = 128  # numeric columns sorted together (bounds the sorted copy's memory)
COUNTED_MAX = 1000  # reference numeric columns with at most this many values keep their counts
_WHOLE_MAX = LEVELS  # reference numeric columns with at most this many values are kept whole
GRID_METHODS = frozenset({"ks", "wasserstein"})
"""The numeric tests a quantile grid decides (the others need the reference's rows)."""
_UNCOMPARABLE = frozenset({"timestamps", "mixed"})  # such keys do not survive JSON


@dataclass(frozen=True)
class ColumnSketch:
    """What a drift test needs of one reference column, without its rows.

    Attributes:
        kind: ``numeric`` (sketched by its finite values) or ``categorical`` (counted).
        n: Finite (numeric) or non-null (categorical) values.
        std: Standard deviation of the finite values (numeric).
        quantiles: The values at ``LEVELS`` evenly spaced quantile levels (numeric).
        counts: Each value's count, when the column has at most ``COUNTED_MAX`` values
            (always for categorical columns).
        values: Every finite value, sorted, when there are at most ``LEVELS`` of them.
        holds: What the column's values are (``challenger.monitor.kinds.value_kind``).
    """

    kind: DriftKind
    n: int
    std: float = 0.0
    quantiles: tuple[float, ...] = ()
    counts: dict[Any, int] = field(default_factory=dict)
    values: tuple[float, ...] = ()
    holds: str = "empty"

    @property
    def whole(self) -> bool:
        """Whether the sketch determines the column's values exactly (counts or every value)."""
        return bool(self.counts) or len(self.values) == self.n

    def rows(self) -> pd.Series:
        """The column's values rebuilt from the sketch (only when :attr:`whole`), in no order."""
        if self.counts:
            keys = pd.Series(list(self.counts), dtype=float if self.kind == "numeric" else object)
            return keys.repeat(list(self.counts.values())).reset_index(drop=True)
        return pd.Series(self.values, dtype=float)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "kind": self.kind,
            "n": self.n,
            "std": self.std,
            "quantiles": list(self.quantiles),
            "counts": [[k, v] for k, v in self.counts.items()],
            "values": list(self.values),
            "holds": self.holds,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSketch:
        """The sketch :meth:`to_dict` wrote."""
        return cls(
            kind=data["kind"],
            n=int(data["n"]),
            std=float(data["std"]),
            quantiles=tuple(map(float, data["quantiles"])),
            counts={k: int(v) for k, v in data["counts"]},
            values=tuple(map(float, data["values"])),
            holds=str(data["holds"]),
        )


class ReferenceSketch:
    """A registered version's reference as sketches: its columns, and its model's output.

    A plain class, not a dataclass: an orchestrator that inspects a task's arguments walks
    dataclasses and tuples element by element, and a thousand columns of quantiles are
    a million floats.
    """

    __slots__ = ("columns", "n_rows", "predictions")

    def __init__(
        self,
        columns: Mapping[str, ColumnSketch],
        predictions: Mapping[str, ColumnSketch],
        n_rows: int,
    ) -> None:
        self.columns = dict(columns)
        self.predictions = dict(predictions)
        self.n_rows = n_rows

    def __repr__(self) -> str:
        return f"ReferenceSketch({len(self.columns)} columns, {self.n_rows} rows)"


def column_kinds(frame: pd.DataFrame) -> dict[str, DriftKind]:
    """Numeric for numeric non-boolean dtypes, categorical for the rest."""
    return {
        str(c): "numeric"
        if pd.api.types.is_numeric_dtype(frame[c].dtype)
        and not pd.api.types.is_bool_dtype(frame[c].dtype)
        else "categorical"
        for c in frame.columns
    }


def sketch_frame(frame: pd.DataFrame, kinds: Mapping[str, DriftKind]) -> dict[str, ColumnSketch]:
    """Sketch every column of ``frame``: numeric ones in one vectorised pass, the rest counted."""
    numeric = [c for c, k in kinds.items() if k == "numeric"]
    out: dict[str, ColumnSketch] = {}
    for start in range(0, len(numeric), _BLOCK):
        block = numeric[start : start + _BLOCK]
        out.update(zip(block, _sketch_matrix(_columns(frame, block)), strict=True))
    for column, kind in kinds.items():
        holds = value_kind(frame[column])
        if kind == "categorical":
            counts = frame[column].dropna().value_counts(sort=False)
            out[column] = ColumnSketch(
                kind="categorical", n=int(counts.sum()), counts=dict(counts.items()), holds=holds
            )
        else:
            out[column] = dataclasses.replace(out[column], holds=holds)
    return {c: out[c] for c in kinds}


def _sorted_block(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column sorted in place (non-finite values last, as NaN) and its finite count."""
    infinite = np.isinf(matrix)
    if infinite.any():
        matrix[infinite] = np.nan
    matrix.sort(axis=0)  # NaNs sort last
    return matrix, np.count_nonzero(~np.isnan(matrix), axis=0)


def _grid_quantiles(ordered: np.ndarray, n: np.ndarray) -> np.ndarray:
    """numpy's linear quantiles at ``_GRID`` of each sorted column (rows: levels)."""
    top = np.maximum(n - 1, 0)[None, :]
    position = _GRID[:, None] * top
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, top)
    lo_v = np.take_along_axis(ordered, low, axis=0)
    hi_v = np.take_along_axis(ordered, high, axis=0)
    return np.asarray(lo_v + (position - low) * (hi_v - lo_v))


def _sketch_matrix(matrix: np.ndarray) -> list[ColumnSketch]:
    with warnings.catch_warnings():  # a column without finite values has no spread: 0 below
        warnings.simplefilter("ignore", RuntimeWarning)
        std = np.nanstd(np.where(np.isfinite(matrix), matrix, np.nan), axis=0)
    ordered, n = _sorted_block(matrix)
    quantiles = _grid_quantiles(ordered, n)
    changes = np.count_nonzero((ordered[1:] != ordered[:-1]) & np.isfinite(ordered[1:]), axis=0)
    n_unique = np.where(n > 0, changes + 1, 0)
    sketches = []
    for j in range(matrix.shape[1]):
        finite = ordered[: n[j], j]
        counts: dict[Any, int] = {}
        if n_unique[j] <= COUNTED_MAX:
            keys, counted = np.unique(finite, return_counts=True)
            counts = {float(k): int(c) for k, c in zip(keys, counted, strict=True)}
        sketches.append(
            ColumnSketch(
                kind="numeric",
                n=int(n[j]),
                std=float(std[j]) if n[j] else 0.0,
                quantiles=tuple(quantiles[:, j].tolist()) if n[j] else (),
                counts=counts,
                values=tuple(finite.tolist()) if n[j] <= _WHOLE_MAX and not counts else (),
            )
        )
    return sketches


def prediction_forms(model: Any, X: pd.DataFrame) -> dict[str, np.ndarray]:
    """The model's output on ``X`` in each task's drift form it can take (see ``problem``).

    Registration does not know the configured task, so a classifier's output is kept both
    as P(class 1) (binary, when it knows class 1) and as its class (multiclass); a regressor's
    as its values.
    """
    try:
        classes = model_classes(model)
    except ValueError:
        return {"regression": prediction_for_drift(model, X, "regression")}
    out = {"multiclass": prediction_for_drift(model, X, "multiclass")}
    if 1 in classes:
        out["binary"] = prediction_for_drift(model, X, "binary")
    return out


def sketch_payload(
    frame: pd.DataFrame, predictions: Mapping[str, np.ndarray] | None = None
) -> dict[str, Any]:
    """The JSON payload of a reference's sketch, as logged at registration.

    Args:
        frame: The reference rows (every column is sketched).
        predictions: The model's output on those rows per task (:func:`prediction_forms`).
    """
    sketches = sketch_frame(frame, column_kinds(frame))
    outputs = pd.DataFrame({task: np.asarray(v) for task, v in (predictions or {}).items()})
    return {
        "format": FORMAT,
        "levels": LEVELS,
        "rows": len(frame),
        "columns": {c: s.to_dict() for c, s in sketches.items()},
        "predictions": {
            t: s.to_dict() for t, s in sketch_frame(outputs, column_kinds(outputs)).items()
        },
    }


def read_payload(payload: Mapping[str, Any] | None) -> ReferenceSketch | None:
    """The sketch of a logged payload; None (use the reference rows) when absent or older."""
    if not payload or payload.get("format") != FORMAT or payload.get("levels") != LEVELS:
        return None
    return ReferenceSketch(
        {c: ColumnSketch.from_dict(d) for c, d in payload["columns"].items()},
        {t: ColumnSketch.from_dict(d) for t, d in payload.get("predictions", {}).items()},
        int(payload["rows"]),
    )


def sketch_gaps(
    reference: Mapping[str, ColumnSketch],
    kinds: Mapping[str, DriftKind],
    methods: Mapping[str, str | None],
) -> list[str]:
    """Why the sketch cannot decide these columns as the exact engine would (empty: it can).

    A column needs a sketch of the right kind; a categorical one its counts, of values that
    survive JSON; a numeric one it does not determine exactly a test the grid carries.
    """
    gaps = []
    for name, kind in kinds.items():
        sketch, method = reference.get(name), methods.get(name)
        if sketch is None:
            gaps.append(f"column {name!r} is not in the sketch")
        elif method is not None and method not in METHODS:
            gaps.append(f"column {name!r} uses {method!r}, which only Evidently implements")
        elif kind == "categorical" and (not sketch.counts or sketch.holds in _UNCOMPARABLE):
            gaps.append(f"categorical column {name!r} has no comparable counts in the sketch")
        elif kind == "numeric" and sketch.kind != "numeric":
            gaps.append(f"numeric column {name!r} was sketched as {sketch.kind}")
        elif kind == "numeric" and not sketch.whole and method not in (None, *GRID_METHODS):
            gaps.append(f"numeric column {name!r} uses {method!r}, which needs the rows")
    return gaps


def sketch_drifts(
    reference: Mapping[str, ColumnSketch],
    current: pd.DataFrame,
    kinds: Mapping[str, DriftKind],
    methods: Mapping[str, str | None],
    thresholds: Mapping[str, float | None],
) -> dict[str, ColumnDrift]:
    """Every column's verdict against a stored reference sketch; the reference rows are not read.

    Categorical columns are decided from both sides' counts; numeric columns the sketch
    determines are rebuilt and decided by the exact engine; the other numeric columns from
    their quantile grids against the current batch, sorted in one vectorised pass per block
    of columns. Check :func:`sketch_gaps` first.
    """
    out: dict[str, ColumnDrift] = {}
    for name in [c for c in kinds if kinds[c] == "categorical"]:
        counted = _drop_missing(current[name]).value_counts(sort=False)
        out[name] = _counted_column(
            name, reference[name], dict(counted.items()), methods, thresholds
        )
    whole = [c for c in kinds if c not in out and reference[c].whole]
    if whole:
        rebuilt = {c: reference[c].rows() for c in whole}
        frame = pd.DataFrame(rebuilt)  # shorter columns padded with nulls, which are left out
        out.update(fast_drifts(frame, current, {c: kinds[c] for c in whole}, methods, thresholds))
    gridded = [c for c in kinds if c not in out]
    for start in range(0, len(gridded), _BLOCK):
        block = gridded[start : start + _BLOCK]
        ordered, n = _sorted_block(_columns(current, block))
        empty = [c for c, k in zip(block, n, strict=True) if k == 0]
        if empty:
            raise DriftInputError(
                f"Column {empty[0]!r} is entirely null in the current data; validate the "
                "batch before measuring drift or leave the column out."
            )
        quantiles = _grid_quantiles(ordered, n)
        for j, name in enumerate(block):
            out[name] = _grid_column(
                name, reference[name], ordered[: n[j], j], quantiles[:, j], methods, thresholds
            )
    return {c: out[c] for c in kinds}


def _columns(frame: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """The columns as one float matrix, each column contiguous (what a sort along rows wants)."""
    out = np.empty((len(frame), len(names)), dtype="float64", order="F")
    for j, name in enumerate(names):
        out[:, j] = frame[name].to_numpy(dtype="float64", na_value=np.nan)
    return out


def _counted_column(
    name: str,
    reference: ColumnSketch,
    current: Mapping[Any, int],
    methods: Mapping[str, str | None],
    thresholds: Mapping[str, float | None],
) -> ColumnDrift:
    """A categorical column's verdict from both sides' counts: the exact engine's scorers."""
    column = _Counted(reference.counts, current)
    method = methods[name] or default_method("categorical", reference.n, len(column.keys))
    score = _SCORERS[method](column)
    return verdict(name, "categorical", method, thresholds[name], score, _two_sample(column))


class _Counted(_Categorical):
    """A categorical column pair known by its counts (the exact engine's scorers apply)."""

    def __init__(self, reference: Mapping[Any, int], current: Mapping[Any, int]) -> None:
        self.keys = list(dict.fromkeys([*reference, *current]))
        self.ref_counts = np.array([reference.get(k, 0) for k in self.keys], dtype="float64")
        self.cur_counts = np.array([current.get(k, 0) for k in self.keys], dtype="float64")


def _grid_column(
    name: str,
    reference: ColumnSketch,
    current: np.ndarray,
    current_quantiles: np.ndarray,
    methods: Mapping[str, str | None],
    thresholds: Mapping[str, float | None],
) -> ColumnDrift:
    """A numeric column's verdict from its reference grid and the sorted current values."""
    method = methods[name] or default_method("numeric", reference.n, FEW_VALUES + 1)
    d = ks_statistic(reference, current)
    p_value = _ks_p(d, reference.n, current.size)
    if method == "wasserstein":
        score = wasserstein_from_grid(reference, current_quantiles)
    else:
        score = p_value
    return verdict(name, "numeric", method, thresholds[name], score, (p_value, KS_TEST, d))


def ks_statistic(reference: ColumnSketch, current: Sequence[float] | np.ndarray) -> float:
    """The K-S statistic of the sorted current values against a reference grid.

    At each reference quantile ``q_i`` the reference CDF is its level ``i / (LEVELS - 1)``
    (within ``1 / n_ref``); the current CDF is read exactly on both sides of ``q_i``.
    """
    values = np.asarray(current, dtype="float64")
    if values.size == 0 or not reference.quantiles:
        return 0.0
    q = np.asarray(reference.quantiles)
    right = values.searchsorted(q, side="right") / values.size
    left = values.searchsorted(q, side="left") / values.size
    return float(max(np.abs(right - _GRID).max(), np.abs(left - _GRID).max()))


def wasserstein_from_grid(reference: ColumnSketch, current_quantiles: np.ndarray) -> float:
    """Evidently's normed Wasserstein distance from the two quantile grids."""
    gap = np.abs(np.asarray(reference.quantiles) - np.asarray(current_quantiles))
    return float(np.trapezoid(gap, _GRID)) / max(reference.std, 0.001)


def _ks_p(d: float, n1: int, n2: int) -> float:
    m, k = max(n1, n2), min(n1, n2)
    if k == 0:
        return 1.0
    return float(np.clip(stats.kstwo.sf(d, np.round(m * k / (m + k))), 0, 1))
