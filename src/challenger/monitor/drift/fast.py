"""The fast drift engine: every column's statistic with vectorised numpy/scipy on all rows."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from challenger.monitor.drift.methods import FEW_VALUES, METHODS, default_method
from challenger.monitor.drift.result import ColumnDrift, DriftKind

if TYPE_CHECKING:
    pass


FloatArray = np.ndarray


_BINNED_MIN_VALUES = 20  # above this many reference values, numeric columns are binned
_KS_EXACT_MAX_N = 10_000  # scipy's ks_2samp is exact up to this size, asymptotic above


def fast_drifts(
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
        self._gaps: tuple[FloatArray, FloatArray] | None = None

    @property
    def merged(self) -> FloatArray:
        """Both samples, sorted (timsort merges the two sorted runs in linear time)."""
        if self._merged is None:
            self._merged = np.sort(np.concatenate([self.ref, self.cur]), kind="stable")
        return self._merged

    def cdf_gaps(self) -> tuple[FloatArray, FloatArray]:
        """``|F_ref - F_cur|`` at every merged value but the last, and the gaps between values."""
        if self._gaps is None:
            points = self.merged[:-1]
            f_ref = self.ref.searchsorted(points, side="right") / self.ref.size
            f_cur = self.cur.searchsorted(points, side="right") / self.cur.size
            self._gaps = (np.abs(f_ref - f_cur), np.diff(self.merged))
        return self._gaps

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
        n_reference, n_values = column.ref.size, column.n_unique_union(limit=FEW_VALUES)
    else:
        column = _Categorical(reference, current)
        n_reference, n_values = int(column.ref_counts.sum()), len(column.keys)
    if method is None:
        method = default_method(kind, n_reference, n_values)
    return verdict(name, kind, method, threshold, _SCORERS[method](column), _two_sample(column))


def verdict(
    name: str,
    kind: DriftKind,
    method: str,
    threshold: float | None,
    score: float,
    evidence: tuple[float, str, float],
) -> ColumnDrift:
    """A column's verdict under ``method`` (its threshold or the default) from its score."""
    spec = METHODS[method]
    limit = spec.default_threshold if threshold is None else float(threshold)
    if spec.p_value:
        drifted = score <= limit if spec.inclusive else score < limit
    else:
        drifted = score >= limit
    p_value, test, effect = evidence
    return ColumnDrift(
        column=name,
        kind=kind,
        method=spec.display_name,
        score=float(score),
        threshold=limit,
        drifted=bool(drifted),
        p_value=p_value,
        p_test=test,
        effect=effect,
    )


# --- the two-sample evidence the alarms use (challenger.monitor.drift.control) ------------

KS_TEST = "two-sample K-S"
HOMOGENEITY_TEST = "chi-square homogeneity"
_MIN_EXPECTED = 5.0  # categories expected this rarely on either side are pooled


def two_sample_evidence(
    kind: DriftKind, reference: pd.Series, current: pd.Series
) -> tuple[float, str, float]:
    """A valid two-sample p-value, its test's name and the effect size of one column pair.

    Numeric columns with more than five values get the K-S test and statistic; categorical
    columns (and numeric ones with few values) the chi-square test of homogeneity, rare
    categories pooled, and the total variation distance. Unlike Evidently's chi-square,
    which takes the reference's shares as exact, both sides' sampling error counts.
    """
    column = _Numeric(reference, current) if kind == "numeric" else _Categorical(reference, current)
    return _two_sample(column)


def _two_sample(column: _Numeric | _Categorical) -> tuple[float, str, float]:
    if isinstance(column, _Numeric) and column.n_unique_union(limit=FEW_VALUES) > FEW_VALUES:
        gaps, _ = column.cdf_gaps()
        return _score_ks(column), KS_TEST, float(gaps.max()) if gaps.size else 0.0
    ref_c, cur_c = column.counts()
    tvd = 0.5 * float(np.abs(ref_c / ref_c.sum() - cur_c / cur_c.sum()).sum())
    return _homogeneity(ref_c, cur_c), HOMOGENEITY_TEST, tvd


def _homogeneity(ref_c: FloatArray, cur_c: FloatArray) -> float:
    """p-value of the chi-square test that both samples share one distribution."""
    n_ref, n_cur = ref_c.sum(), cur_c.sum()
    least = (ref_c + cur_c) * min(n_ref, n_cur) / (n_ref + n_cur)
    rare = least < _MIN_EXPECTED
    if rare.any():
        ref_c = np.r_[ref_c[~rare], ref_c[rare].sum()]
        cur_c = np.r_[cur_c[~rare], cur_c[rare].sum()]
    if ref_c.size < 2:
        return 1.0
    table = np.vstack([ref_c, cur_c])
    return float(stats.chi2_contingency(table, correction=False).pvalue)


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
