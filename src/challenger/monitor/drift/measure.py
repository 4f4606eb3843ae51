"""Data, prediction and target drift, returned as our own types.

:func:`measure_drift` compares a current batch with reference data column by column and
returns a :class:`DriftResult`; nothing outside this module reads Evidently output.

Two engines reach the same verdicts:

* ``fast`` computes every column's statistic with vectorised numpy/scipy on *all* rows:
  each numeric column is sorted once and the Wasserstein distance, the K-S statistic and
  the histograms are read off the sorted arrays; categorical columns are counted once.
  Columns run in parallel threads (numpy releases the GIL while sorting). Its method
  choice, formulas and thresholds are Evidently 0.7's own, so the verdicts match
  Evidently's on the same rows (a unit test holds them equal). One million rows times
  twenty columns take seconds, where Evidently takes minutes.
* ``evidently`` runs Evidently's ``ValueDrift`` metrics on a seeded sample of at most
  ``max_rows`` rows per side.

``auto`` (the default) uses ``fast`` whenever it implements every requested method.
The Evidently HTML report, when asked for, is always built on a seeded sample of at most
``max_rows`` rows per side, so it stays quick on large frames; its figures may then
differ from the decision's by sampling error. For a sample of ``n`` rows the sampled
empirical CDF of a column is within ``sqrt(ln(2/alpha) / (2n))`` of the full one with
probability ``1 - alpha`` (Dvoretzky-Kiefer-Wolfowitz): 0.0061 for 50,000 rows at
alpha = 0.05, well inside the 0.1 thresholds of the default tests.

Evidently is imported lazily: importing it takes seconds, and the fast engine needs it
only to draw the HTML report.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from challenger.errors import DataError

if TYPE_CHECKING:
    from evidently.core.container import MetricOrContainer

__all__ = [
    "FAST_METHODS",
    "ColumnDrift",
    "DriftInputError",
    "DriftResult",
    "Engine",
    "measure_drift",
]

logger = logging.getLogger(__name__)

DriftKind = Literal["numeric", "categorical"]
Engine = Literal["auto", "fast", "evidently"]
FloatArray = np.ndarray

_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
_DRIFTED = "FAIL"
_NOT_DRIFTED = "SUCCESS"
# Evidently picks its default test from the reference size and the number of values.
_SMALL_REFERENCE = 1000
_FEW_VALUES = 5
_BINNED_MIN_VALUES = 20  # above this many reference values, numeric columns are binned
_KS_EXACT_MAX_N = 10_000  # scipy's ks_2samp is exact up to this size, asymptotic above


@dataclass(frozen=True)
class _Method:
    """One statistical test the fast engine implements, as Evidently 0.7.23 defines it."""

    display_name: str
    default_threshold: float
    kinds: frozenset[DriftKind]
    p_value: bool  # True: drift when the score is below the threshold; False: at or above
    inclusive: bool = False  # p-value tests: Evidently's K-S uses <=, the others <


_BOTH: frozenset[DriftKind] = frozenset({"numeric", "categorical"})
_NUMERIC: frozenset[DriftKind] = frozenset({"numeric"})
_CATEGORICAL: frozenset[DriftKind] = frozenset({"categorical"})
_METHODS: dict[str, _Method] = {
    "ks": _Method("K-S p_value", 0.05, _NUMERIC, p_value=True, inclusive=True),
    "wasserstein": _Method("Wasserstein distance (normed)", 0.1, _NUMERIC, p_value=False),
    "psi": _Method("PSI", 0.1, _BOTH, p_value=False),
    "jensenshannon": _Method("Jensen-Shannon distance", 0.1, _BOTH, p_value=False),
    "kl_div": _Method("Kullback-Leibler divergence", 0.1, _BOTH, p_value=False),
    "hellinger": _Method("Hellinger distance", 0.1, _BOTH, p_value=False),
    "chisquare": _Method("chi-square p_value", 0.05, _CATEGORICAL, p_value=True),
    "z": _Method("Z-test p_value", 0.05, _CATEGORICAL, p_value=True),
}
FAST_METHODS: frozenset[str] = frozenset(_METHODS)
"""Evidently stattest names the fast engine implements."""


class DriftInputError(DataError, ValueError):
    """The frames or options given to :func:`measure_drift` cannot be compared.

    A ``ValueError`` for library callers and a ``DataError`` (exit code 2) for the CLI.
    """


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column.

    Attributes:
        column: Column name.
        kind: ``numeric`` or ``categorical``.
        method: Display name of the statistical test, e.g.
            ``"Wasserstein distance (normed)"`` or ``"K-S p_value"``.
        score: The test's score: a p-value for tests named "... p_value" (drift when below
            the threshold), a distance otherwise (drift when at or above it).
        threshold: The threshold the score was compared with.
        drifted: The verdict.
    """

    column: str
    kind: DriftKind
    method: str
    score: float
    threshold: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DriftResult:
    """Drift of a current batch against reference data.

    Attributes:
        columns: One entry per compared feature column, numeric columns first, in the
            order given.
        n_drifted: Feature columns with drift.
        drift_share: ``n_drifted / len(columns)``.
        share_threshold: Share of drifted columns from which the dataset counts as drifted.
        dataset_drift: ``drift_share >= share_threshold``.
        n_reference: Reference rows the verdicts were computed on.
        n_current: Current rows the verdicts were computed on.
        engine: ``fast`` (numpy/scipy on every row) or ``evidently`` (Evidently on a sample).
        prediction: Drift of the model's scores (reference vs current), when compared.
        target: Drift of the label, when the current data has labels.
        report_rows: Rows per side in the HTML report (None when no report was drawn).
    """

    columns: tuple[ColumnDrift, ...]
    n_drifted: int
    drift_share: float
    share_threshold: float
    dataset_drift: bool
    n_reference: int
    n_current: int
    engine: Literal["fast", "evidently"] = "evidently"
    prediction: ColumnDrift | None = None
    target: ColumnDrift | None = None
    report_rows: int | None = None

    def drifted_columns(self) -> tuple[str, ...]:
        """Names of the drifted feature columns, in result order."""
        return tuple(c.column for c in self.columns if c.drifted)

    def column(self, name: str) -> ColumnDrift:
        """Return the drift of feature column ``name``.

        Raises:
            KeyError: If ``name`` was not compared.
        """
        for drift in self.columns:
            if drift.column == name:
                return drift
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "columns": [c.to_dict() for c in self.columns],
            "drifted_columns": list(self.drifted_columns()),
            "n_drifted": self.n_drifted,
            "drift_share": self.drift_share,
            "share_threshold": self.share_threshold,
            "dataset_drift": self.dataset_drift,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "engine": self.engine,
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "target": None if self.target is None else self.target.to_dict(),
            "report_rows": self.report_rows,
        }

    def summary(self) -> str:
        """Return a short multi-line summary for people."""
        verdict = "dataset drift" if self.dataset_drift else "no dataset drift"
        head = (
            f"{self.n_drifted} of {len(self.columns)} columns drifted "
            f"(share {self.drift_share:.0%}, threshold {self.share_threshold:.0%}): {verdict}; "
            f"{self.n_current} current vs {self.n_reference} reference rows."
        )
        lines = [head]
        for c in (*self.columns, self.prediction, self.target):
            if c is None:
                continue
            mark = "DRIFT" if c.drifted else "ok"
            lines.append(
                f"- {c.column} ({c.kind}): {mark}, {c.method} {c.score:.4g} "
                f"(threshold {c.threshold:.4g})"
            )
        return "\n".join(lines)


def measure_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    share_threshold: float = 0.5,
    method: str | None = None,
    threshold: float | None = None,
    per_column_method: Mapping[str, str] | None = None,
    per_column_threshold: Mapping[str, float] | None = None,
    prediction: str | None = None,
    target: str | None = None,
    prediction_kind: DriftKind = "numeric",
    target_kind: DriftKind = "categorical",
    engine: Engine = "auto",
    max_rows: int = 50_000,
    seed: int = 0,
    html_path: Path | None = None,
) -> DriftResult:
    """Measure drift of ``current`` against ``reference``.

    Method choice follows Evidently 0.7: without a method, a reference of up to 1,000 rows
    gets the K-S p-value (numeric) and chi-square or Z-test p-values (categorical); a
    larger one gets the normed Wasserstein distance (numeric) and the Jensen-Shannon
    distance (categorical, and numeric columns with at most five values).

    Args:
        reference: Reference data, e.g. the champion's training sample.
        current: The batch to compare.
        numeric: Numeric feature columns.
        categorical: Categorical feature columns.
        share_threshold: Share of drifted feature columns from which the dataset counts as
            drifted.
        method: Evidently stattest name for all columns (e.g. ``"ks"``, ``"wasserstein"``,
            ``"psi"``, ``"jensenshannon"``, ``"chisquare"``); None for Evidently's defaults.
        threshold: Drift threshold for all columns; None for each test's default.
        per_column_method: Stattest name per column, overriding ``method``.
        per_column_threshold: Threshold per column, overriding ``threshold``.
        prediction: A column of model outputs present in both frames; its drift is
            reported apart from the features and does not count in the share.
        target: The label column; its drift is reported when both frames hold labels
            (rows without a label are left out), apart from the features.
        prediction_kind: ``numeric`` (scores, a regression's values) or ``categorical``
            (predicted classes).
        target_kind: ``categorical`` (class labels) or ``numeric`` (a regression target).
        engine: ``fast``, ``evidently`` or ``auto`` (see the module docstring).
        max_rows: Rows per side in Evidently's computations (the ``evidently`` engine and
            the HTML report); the ``fast`` engine always uses every row.
        seed: Seed for the sampling.
        html_path: If given, Evidently's HTML report (the data drift preset, plus the
            prediction and target) is saved there.

    Returns:
        The per-column verdicts and the dataset verdict.

    Raises:
        DriftInputError: If a column is missing, entirely null, not numeric although
            declared numeric, declared twice, or a method is unknown, does not apply, or
            is not implemented by the requested engine.
    """
    columns = _check_columns(numeric, categorical)
    _check_options(share_threshold, max_rows, per_column_method, per_column_threshold, columns)
    if engine not in ("auto", "fast", "evidently"):
        raise DriftInputError(f"engine is {engine!r}; use auto, fast or evidently.")
    for name, role in ((prediction, "prediction"), (target, "target")):
        if name is not None and name in columns:
            raise DriftInputError(
                f"The {role} column {name!r} is also listed as a feature; keep it out of "
                "numeric/categorical."
            )
    if prediction is not None and prediction == target:
        raise DriftInputError(f"Column {prediction!r} cannot be both prediction and target.")

    kinds: dict[str, DriftKind] = {name: "numeric" for name in numeric}
    kinds.update({name: "categorical" for name in categorical})
    for label, frame in (("reference", reference), ("current", current)):
        _check_present(frame, columns, label)
        for name in numeric:
            _check_numeric(frame, name, label)
        _check_not_empty(frame, columns, label, sampled=False)
    extras = _extras(reference, current, prediction, target, prediction_kind, target_kind)
    kinds.update(extras)

    methods = {name: (per_column_method or {}).get(name, method) for name in columns}
    for extra in extras:
        methods[extra] = method
    thresholds = {name: (per_column_threshold or {}).get(name, threshold) for name in methods}
    for name, chosen in methods.items():
        if chosen is not None:
            _check_method(chosen, kinds[name], column=name)

    unsupported = sorted({m for m in methods.values() if m is not None and m not in _METHODS})
    if engine == "fast" and unsupported:
        raise DriftInputError(
            f"The fast drift engine does not implement {unsupported}; use engine evidently "
            f"or one of {sorted(_METHODS)}."
        )
    use_fast = engine == "fast" or (engine == "auto" and not unsupported)

    if use_fast:
        drifts = _fast_drifts(reference, current, kinds, methods, thresholds)
        n_reference, n_current = len(reference), len(current)
    else:
        ref = _sample(_select(reference, list(kinds), "reference"), max_rows, seed)
        cur = _sample(_select(current, list(kinds), "current"), max_rows, seed)
        for frame, original, label in ((ref, reference, "reference"), (cur, current, "current")):
            _check_not_empty(frame, columns, label, sampled=len(frame) < len(original))
        drifts = _evidently_drifts(ref, cur, kinds, methods, thresholds)
        n_reference, n_current = len(ref), len(cur)

    report_rows: int | None = None
    if html_path is not None:
        report_rows = _save_report(
            reference,
            current,
            kinds,
            numeric=numeric,
            categorical=categorical,
            extras=extras,
            method=method,
            threshold=threshold,
            per_column_method=per_column_method,
            per_column_threshold=per_column_threshold,
            share_threshold=share_threshold,
            max_rows=max_rows,
            seed=seed,
            html_path=Path(html_path),
        )

    features = tuple(drifts[name] for name in columns)
    n_drifted = sum(d.drifted for d in features)
    share = n_drifted / len(features)
    return DriftResult(
        columns=features,
        n_drifted=n_drifted,
        drift_share=share,
        share_threshold=share_threshold,
        dataset_drift=share >= share_threshold,
        n_reference=n_reference,
        n_current=n_current,
        engine="fast" if use_fast else "evidently",
        prediction=drifts.get(prediction) if prediction is not None else None,
        target=drifts.get(target) if target is not None else None,
        report_rows=report_rows,
    )


# --- checks ---------------------------------------------------------------------------------


def _check_columns(numeric: Sequence[str], categorical: Sequence[str]) -> list[str]:
    if isinstance(numeric, str) or isinstance(categorical, str):
        raise DriftInputError("numeric and categorical must be sequences of column names.")
    columns = [*numeric, *categorical]
    if not columns:
        raise DriftInputError("No columns to compare; name at least one numeric or categorical.")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise DriftInputError(
            f"Columns {repeated} are named more than once in numeric/categorical; keep one."
        )
    return columns


def _check_options(
    share_threshold: float,
    max_rows: int,
    per_column_method: Mapping[str, str] | None,
    per_column_threshold: Mapping[str, float] | None,
    columns: Sequence[str],
) -> None:
    if not 0.0 < share_threshold <= 1.0:
        raise DriftInputError(
            f"share_threshold is {share_threshold}; use a share above 0 and at most 1."
        )
    if max_rows < 1:
        raise DriftInputError(f"max_rows is {max_rows}; use at least 1.")
    for label, mapping in (
        ("per_column_method", per_column_method),
        ("per_column_threshold", per_column_threshold),
    ):
        unknown = sorted(set(mapping or {}) - set(columns))
        if unknown:
            raise DriftInputError(
                f"{label} names {unknown}, which are not compared; list them in "
                "numeric or categorical."
            )
    bad = sorted(c for c, t in (per_column_threshold or {}).items() if not t > 0)
    if bad:
        raise DriftInputError(f"per_column_threshold must be above 0; check columns {bad}.")


def _check_present(frame: pd.DataFrame, columns: Sequence[str], label: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DriftInputError(
            f"The {label} data has no column(s) {missing}; check the column names."
        )


def _select(frame: pd.DataFrame, columns: Sequence[str], label: str) -> pd.DataFrame:
    _check_present(frame, columns, label)
    selected = frame.loc[:, list(columns)]
    # Category dtypes with different category sets do not combine cleanly inside Evidently.
    categories = [c for c in columns if isinstance(selected[c].dtype, pd.CategoricalDtype)]
    if categories:
        selected = selected.astype(dict.fromkeys(categories, object))
    return selected


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed)


def _check_numeric(frame: pd.DataFrame, column: str, label: str) -> None:
    dtype = frame[column].dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise DriftInputError(
            f"Column {column!r} is declared numeric but has dtype {dtype} in the {label} "
            "data; validate the batch first or declare it categorical."
        )


def _check_not_empty(
    frame: pd.DataFrame, columns: Sequence[str], label: str, *, sampled: bool
) -> None:
    if frame.empty:
        raise DriftInputError(f"The {label} data has no rows; there is nothing to compare.")
    for column in columns:
        if not _has_values(frame[column]):
            where = " after sampling" if sampled else ""
            raise DriftInputError(
                f"Column {column!r} is entirely null in the {label} data{where}; "
                "validate the batch before measuring drift or leave the column out."
            )


def _has_values(series: pd.Series) -> bool:
    """Whether the column holds at least one value Evidently would keep (not null, finite)."""
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return bool(np.isfinite(series.to_numpy(dtype="float64", na_value=np.nan)).any())
    return bool(series.notna().any())


def _extras(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    prediction: str | None,
    target: str | None,
    prediction_kind: DriftKind = "numeric",
    target_kind: DriftKind = "categorical",
) -> dict[str, DriftKind]:
    """The prediction and target columns that can be compared, with their kinds."""
    out: dict[str, DriftKind] = {}
    if prediction is not None:
        for frame, label in ((reference, "reference"), (current, "current")):
            _check_present(frame, [prediction], label)
            if prediction_kind == "numeric":
                _check_numeric(frame, prediction, label)
            if not _has_values(frame[prediction]):
                raise DriftInputError(
                    f"The prediction column {prediction!r} is entirely null in the {label} data."
                )
        out[prediction] = prediction_kind
    if target is not None and all(
        target in frame.columns and _has_values(frame[target]) for frame in (reference, current)
    ):
        if target_kind == "numeric":
            for frame, label in ((reference, "reference"), (current, "current")):
                _check_numeric(frame, target, label)
        out[target] = target_kind
    return out


def _check_method(name: str, kind: DriftKind, *, column: str) -> None:
    """Check that stattest ``name`` exists and applies to a ``kind`` column.

    The fast engine's own methods are checked against its table (no Evidently import);
    any other name is looked up in Evidently's registry.

    Raises:
        DriftInputError: If there is no such test or it does not apply to ``kind``.
    """
    known = _METHODS.get(name)
    if known is not None:
        if kind not in known.kinds:
            raise DriftInputError(
                f"Drift method {name!r} cannot be used for {kind} column {column!r}: it "
                f"applies to {' and '.join(sorted(known.kinds))} columns only."
            )
        return
    _resolve_stattest(name, kind, column=column)


def _resolve_stattest(name: str, kind: DriftKind, *, column: str) -> str:
    """Return the display name of Evidently stattest ``name`` for a ``kind`` column.

    Raises:
        DriftInputError: If Evidently has no such test or it does not apply to ``kind``.
    """
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    try:
        return str(get_registered_stattest(name, column_type).display_name)
    except ValueError as exc:
        raise DriftInputError(
            f"Drift method {name!r} cannot be used for {kind} column {column!r}: {exc}"
        ) from exc


# --- the fast engine --------------------------------------------------------------------------


def _fast_drifts(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, DriftKind],
    methods: Mapping[str, str | None],
    thresholds: Mapping[str, float | None],
) -> dict[str, ColumnDrift]:
    """Every column's verdict with numpy/scipy, columns in parallel threads."""

    def one(name: str) -> ColumnDrift:
        return _fast_column(
            name, kinds[name], reference[name], current[name], methods[name], thresholds[name]
        )

    names = list(kinds)
    workers = max(1, min(len(names), os.cpu_count() or 1))
    if workers == 1:
        return {name: one(name) for name in names}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift") as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


class _Numeric:
    """A numeric column pair, sorted once; the statistics read off the sorted arrays."""

    def __init__(self, reference: pd.Series, current: pd.Series) -> None:
        self.ref = np.sort(_finite(reference))
        self.cur = np.sort(_finite(current))
        self._merged: FloatArray | None = None

    @property
    def merged(self) -> FloatArray:
        """Both samples, sorted (timsort merges the two sorted runs in linear time)."""
        if self._merged is None:
            self._merged = np.sort(np.concatenate([self.ref, self.cur]), kind="stable")
        return self._merged

    def cdf_gaps(self) -> tuple[FloatArray, FloatArray]:
        """``|F_ref - F_cur|`` at every merged value but the last, and the gaps between values."""
        points = self.merged[:-1]
        f_ref = self.ref.searchsorted(points, side="right") / self.ref.size
        f_cur = self.cur.searchsorted(points, side="right") / self.cur.size
        return np.abs(f_ref - f_cur), np.diff(self.merged)

    def n_unique_ref(self) -> int:
        return _n_unique_sorted(self.ref)

    def n_unique_union(self, limit: int) -> int:
        """Distinct values of both samples, counted exactly up to ``limit + 1``."""
        if self.n_unique_ref() > limit or _n_unique_sorted(self.cur) > limit:
            return limit + 1
        return len(np.union1d(self.ref, self.cur))

    def counts(self) -> tuple[FloatArray, FloatArray]:
        """Counts of each distinct value of both samples, aligned."""
        keys = np.union1d(np.unique(self.ref), np.unique(self.cur))
        return _sorted_counts(self.ref, keys), _sorted_counts(self.cur, keys)


def _finite(series: pd.Series) -> FloatArray:
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(values[np.isfinite(values)], dtype="float64")


def _n_unique_sorted(values: FloatArray) -> int:
    if values.size == 0:
        return 0
    return 1 + int(np.count_nonzero(values[1:] != values[:-1]))


def _sorted_counts(sorted_values: FloatArray, keys: FloatArray) -> FloatArray:
    """How often each of the sorted ``keys`` occurs in ``sorted_values``."""
    left = sorted_values.searchsorted(keys, side="left")
    right = sorted_values.searchsorted(keys, side="right")
    return np.asarray(right - left, dtype="float64")


def _binned_counts(sorted_values: FloatArray, edges: FloatArray) -> FloatArray:
    """``np.histogram(values, edges)[0]`` for sorted values (last bin closed on the right)."""
    index = sorted_values.searchsorted(edges, side="left")
    index[-1] = sorted_values.searchsorted(edges[-1], side="right")
    return np.asarray(np.diff(index), dtype="float64")


class _Categorical:
    """A categorical column pair, counted once per category present on either side."""

    def __init__(self, reference: pd.Series, current: pd.Series) -> None:
        ref, cur = _drop_missing(reference), _drop_missing(current)
        codes, uniques = pd.factorize(pd.concat([ref, cur], ignore_index=True), sort=False)
        self.keys: list[Any] = list(uniques)
        k = len(self.keys)
        self.ref_counts = np.bincount(codes[: len(ref)], minlength=k).astype("float64")
        self.cur_counts = np.bincount(codes[len(ref) :], minlength=k).astype("float64")

    def counts(self) -> tuple[FloatArray, FloatArray]:
        """Counts of each category (nulls left out), aligned."""
        return self.ref_counts, self.cur_counts

    def sorted_counts(self) -> tuple[list[Any], FloatArray, FloatArray]:
        """Categories in Python's sort order with their counts (the Z-test needs the order)."""
        order = sorted(range(len(self.keys)), key=lambda i: self.keys[i])
        return [self.keys[i] for i in order], self.ref_counts[order], self.cur_counts[order]


def _drop_missing(series: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(series.dtype):
        return series[np.isfinite(series.to_numpy(dtype="float64", na_value=np.nan))]
    return series.dropna()


def _default_method(kind: DriftKind, n_reference: int, n_values: int) -> str:
    """Evidently 0.7.23's default stattest (``_get_default_stattest``)."""
    if n_reference <= _SMALL_REFERENCE:
        if kind == "numeric" and n_values > _FEW_VALUES:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if kind == "numeric" and n_values > _FEW_VALUES:
        return "wasserstein"
    return "jensenshannon"


def _fast_column(
    name: str,
    kind: DriftKind,
    reference: pd.Series,
    current: pd.Series,
    method: str | None,
    threshold: float | None,
) -> ColumnDrift:
    column: _Numeric | _Categorical
    if kind == "numeric":
        column = _Numeric(reference, current)
        n_reference, n_values = column.ref.size, column.n_unique_union(limit=_FEW_VALUES)
    else:
        column = _Categorical(reference, current)
        n_reference, n_values = int(column.ref_counts.sum()), len(column.keys)
    if method is None:
        method = _default_method(kind, n_reference, n_values)
    spec = _METHODS[method]
    limit = spec.default_threshold if threshold is None else float(threshold)
    score = _SCORERS[method](column)
    if spec.p_value:
        drifted = score <= limit if spec.inclusive else score < limit
    else:
        drifted = score >= limit
    return ColumnDrift(
        column=name,
        kind=kind,
        method=spec.display_name,
        score=float(score),
        threshold=limit,
        drifted=bool(drifted),
    )


def _score_wasserstein(column: _Numeric | _Categorical) -> float:
    assert isinstance(column, _Numeric)
    norm = max(float(np.std(column.ref)), 0.001)
    gaps, deltas = column.cdf_gaps()
    return float(np.dot(gaps, deltas)) / norm


def _score_ks(column: _Numeric | _Categorical) -> float:
    assert isinstance(column, _Numeric)
    n1, n2 = column.ref.size, column.cur.size
    if max(n1, n2) <= _KS_EXACT_MAX_N:
        return float(stats.ks_2samp(column.ref, column.cur).pvalue)
    gaps, _ = column.cdf_gaps()
    d = float(gaps.max()) if gaps.size else 0.0
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1))


def _percents(column: _Numeric | _Categorical, fill_zeroes: bool) -> tuple[FloatArray, FloatArray]:
    """Evidently's ``get_binned_data``: shares per Sturges bin or per value."""
    if isinstance(column, _Numeric) and column.n_unique_ref() > _BINNED_MIN_VALUES:
        edges = np.histogram_bin_edges(column.merged, bins="sturges")
        ref_p = _binned_counts(column.ref, edges) / column.ref.size
        cur_p = _binned_counts(column.cur, edges) / column.cur.size
    else:
        ref_c, cur_c = column.counts()
        ref_p, cur_p = ref_c / ref_c.sum(), cur_c / cur_c.sum()
    if fill_zeroes:
        ref_p, cur_p = _fill_zeroes(ref_p), _fill_zeroes(cur_p)
    return ref_p, cur_p


def _fill_zeroes(percents: FloatArray) -> FloatArray:
    out = percents.copy()
    smallest = out[out != 0].min()
    out[out == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return out


def _score_psi(column: _Numeric | _Categorical) -> float:
    ref_p, cur_p = _percents(column, fill_zeroes=True)
    return float(np.sum((ref_p - cur_p) * np.log(ref_p / cur_p)))


def _score_kl(column: _Numeric | _Categorical) -> float:
    ref_p, cur_p = _percents(column, fill_zeroes=True)
    return float(stats.entropy(ref_p, cur_p))


def _score_js(column: _Numeric | _Categorical) -> float:
    ref_p, cur_p = _percents(column, fill_zeroes=False)
    return float(distance.jensenshannon(ref_p, cur_p))


def _score_hellinger(column: _Numeric | _Categorical) -> float:
    if isinstance(column, _Categorical):
        ref_c, cur_c = column.counts()
        overlap = float(np.sum(np.sqrt((ref_c / ref_c.sum()) * (cur_c / cur_c.sum()))))
    else:
        keys = np.union1d(np.unique(column.ref), np.unique(column.cur))
        edges = np.histogram_bin_edges(keys, bins="sturges")
        widths = np.diff(edges)
        ref_c = _binned_counts(column.ref, edges)
        cur_c = _binned_counts(column.cur, edges)
        ref_d = ref_c / widths / ref_c.sum()
        cur_d = cur_c / widths / cur_c.sum()
        bin_width = (edges.max() - edges.min()) / (len(edges) - 1)
        overlap = float(np.sum(np.sqrt(ref_d * cur_d)) * bin_width)
    return math.sqrt(1 - float(np.clip(overlap, 0, 1)))


def _score_chisquare(column: _Numeric | _Categorical) -> float:
    ref_c, cur_c = column.counts()
    expected = ref_c * (cur_c.sum() / ref_c.sum())
    return float(stats.chisquare(cur_c, expected).pvalue)


def _score_z(column: _Numeric | _Categorical) -> float:
    if isinstance(column, _Numeric):
        ref_c, cur_c = column.counts()  # numeric keys come sorted already
        n_keys = len(ref_c)
    else:
        keys, ref_c, cur_c = column.sorted_counts()
        n_keys = len(keys)
    if n_keys == 1:
        return 1.0  # one and the same value on both sides
    n1, n2 = ref_c.sum(), cur_c.sum()
    # Evidently's proportions z-test on "not the first value in sorted order".
    p1, p2 = (n1 - ref_c[0]) / n1, (n2 - cur_c[0]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


_SCORERS: dict[str, Callable[[_Numeric | _Categorical], float]] = {
    "ks": _score_ks,
    "wasserstein": _score_wasserstein,
    "psi": _score_psi,
    "jensenshannon": _score_js,
    "kl_div": _score_kl,
    "hellinger": _score_hellinger,
    "chisquare": _score_chisquare,
    "z": _score_z,
}


# --- the Evidently engine and report --------------------------------------------------------


def _definition(kinds: Mapping[str, DriftKind]) -> Any:
    from evidently import DataDefinition

    return DataDefinition(
        numerical_columns=[c for c, k in kinds.items() if k == "numeric"],
        categorical_columns=[c for c, k in kinds.items() if k == "categorical"],
    )


def _run_report(
    metrics: list[MetricOrContainer],
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    kinds: Mapping[str, DriftKind],
) -> Any:
    from evidently import Dataset, Report

    definition = _definition(kinds)
    report = Report(metrics, include_tests=True)  # the per-column verdicts are its tests
    try:
        return report.run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )
    except ValueError as exc:
        raise DriftInputError(
            f"Evidently could not compare the frames: {exc} Validate the batch first."
        ) from exc


def _evidently_drifts(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    kinds: Mapping[str, DriftKind],
    methods: Mapping[str, str | None],
    thresholds: Mapping[str, float | None],
) -> dict[str, ColumnDrift]:
    from evidently.metrics import ValueDrift

    metrics: list[MetricOrContainer] = [
        ValueDrift(column=c, method=methods[c], threshold=thresholds[c]) for c in kinds
    ]
    snapshot = _run_report(metrics, ref, cur, kinds)
    return _parse_snapshot(json.loads(snapshot.json()), kinds)


def _save_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, DriftKind],
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    extras: Mapping[str, DriftKind],
    method: str | None,
    threshold: float | None,
    per_column_method: Mapping[str, str] | None,
    per_column_threshold: Mapping[str, float] | None,
    share_threshold: float,
    max_rows: int,
    seed: int,
    html_path: Path,
) -> int:
    """Draw Evidently's HTML report on a seeded sample; returns the rows per side used."""
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    ref = _sample(_select(reference, list(kinds), "reference"), max_rows, seed)
    cur = _sample(_select(current, list(kinds), "current"), max_rows, seed)
    features = [*numeric, *categorical]
    for frame, original, label in ((ref, reference, "reference"), (cur, current, "current")):
        _check_not_empty(frame, features, label, sampled=len(frame) < len(original))
    # The preset adds the dataset-level drift table people expect; prediction and target
    # get their own widgets so they do not count in its share of drifted columns.
    metrics: list[MetricOrContainer] = [
        DataDriftPreset(
            columns=features,
            drift_share=share_threshold,
            method=method,
            threshold=threshold,
            per_column_method=dict(per_column_method) if per_column_method else None,
            per_column_threshold=dict(per_column_threshold) if per_column_threshold else None,
        )
    ]
    metrics += [
        ValueDrift(column=c, method=method, threshold=threshold)
        for c in extras
        if _has_values(ref[c]) and _has_values(cur[c])
    ]
    snapshot = _run_report(metrics, ref, cur, kinds)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(html_path))  # Evidently writes nothing for a Path object
    logger.info("Saved the drift report (%d rows per side at most) to %s", max_rows, html_path)
    return max(len(ref), len(cur))


# --- parsing Evidently's JSON (the only place that reads it) ------------------------------


def _parse_snapshot(
    payload: Mapping[str, Any], kinds: Mapping[str, DriftKind]
) -> dict[str, ColumnDrift]:
    """Turn a snapshot's ``json()`` into one :class:`ColumnDrift` per column of ``kinds``."""
    values: dict[str, tuple[str, float, float]] = {}
    for metric in payload.get("metrics", []):
        config = metric.get("config") or {}
        if config.get("type") != _VALUE_DRIFT:
            continue
        column = str(config["column"])
        values[column] = (str(config["method"]), float(metric["value"]), float(config["threshold"]))
    verdicts: dict[str, bool] = {}
    for test in payload.get("tests", []):
        params = (test.get("metric_config") or {}).get("params") or {}
        if params.get("type") != _VALUE_DRIFT:
            continue
        status = str(test.get("status"))
        if status not in (_DRIFTED, _NOT_DRIFTED):
            raise RuntimeError(
                f"Evidently returned drift test status {status!r} for column "
                f"{params.get('column')!r}; expected {_DRIFTED} or {_NOT_DRIFTED}."
            )
        verdicts[str(params["column"])] = status == _DRIFTED

    drifts: dict[str, ColumnDrift] = {}
    for column, kind in kinds.items():
        if column not in values or column not in verdicts:
            raise RuntimeError(
                f"Evidently returned no drift result for column {column!r}; is evidently "
                "0.7.23 installed?"
            )
        method, score, limit = values[column]
        drifts[column] = ColumnDrift(
            column=column,
            kind=kind,
            method=_display_name(method, kind),
            score=score,
            threshold=limit,
            drifted=verdicts[column],
        )
    return drifts


def _display_name(method: str, kind: DriftKind) -> str:
    """Evidently reports a method it chose by display name and one it was given by id."""
    known = _METHODS.get(method)
    if known is not None:
        return known.display_name
    try:
        return _resolve_stattest(method, kind, column="")
    except DriftInputError:
        return method
