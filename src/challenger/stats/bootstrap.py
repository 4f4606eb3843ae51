"""The paired bootstrap the gate decides on: Δ of a metric between two models, with BCa bounds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from challenger.errors import StatisticsInputError
from challenger.stats.auc import auc_comparison, ovr_auc_comparison
from challenger.stats.inputs import (
    MIN_UNITS,
    group_codes,
    paired_metric,
    prepare,
    validate_classes,
)
from challenger.stats.resample import (
    BATCH_ELEMENTS,
    MAX_DEGENERATE_SHARE,
    MIN_RESAMPLES,
    Comparison,
    bca_bounds,
    bca_parameters,
    bootstrap_p_value,
)
from challenger.stats.small import METHOD as STUDENTIZED
from challenger.stats.small import studentized_bounds, t_p_value
from challenger.stats.sums import SumRequest, sum_comparison, sum_comparisons

# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PairedBootstrap:
    """A paired bootstrap comparison of two models on the same holdout rows.

    ``method`` is "BCa" unless BCa is degenerate, in which case the plain percentile bounds
    are reported and ``method`` is "percentile", or the holdout has fewer resampling units
    than ``small_sample_units``: then the bounds are the studentized jackknife t bounds of
    :mod:`challenger.stats.small` and ``method`` is "studentized jackknife t" (the bootstrap
    distribution is still kept, for the plots). BCa is degenerate when (1) every resample gives
    the same Δ (e.g. identical models: both bounds then equal that Δ), (2) the observed Δ
    lies outside the bootstrap distribution, so the bias correction z0 is infinite, (3) the
    jackknife is constant or undefined (e.g. a group holds every row of one class), so the
    acceleration is 0/0, or (4) the acceleration is so large that the BCa level formula
    wraps around (1 − a·(z0 + z) ≤ 0).

    Attributes:
        metric: Metric name, a primary metric of the catalogue.
        higher_is_better: Orientation of the metric's natural values.
        champion: Metric of the champion on the full holdout (natural orientation).
        challenger: Metric of the challenger on the full holdout (natural orientation).
        delta: Oriented difference; > 0 means the challenger is better.
        lower: One-sided lower confidence bound of ``delta`` at ``confidence``.
        upper: One-sided upper confidence bound of ``delta`` at ``confidence``.
        confidence: Confidence level of each one-sided bound (e.g. 0.95).
        se: Bootstrap standard error of ``delta`` (standard deviation, ddof=1).
        n_rows: Holdout rows.
        n_resamples: Resamples used; resamples where the metric is undefined (e.g. no
            positive row drawn for ROC AUC) are dropped, so this can be below the request.
        method: "BCa", "percentile" or "studentized jackknife t" (see above).
        quantiles: Percentiles 0, 1, …, 100 of the bootstrap distribution of ``delta``.
        n_groups: Groups resampled by a cluster bootstrap; None when rows were resampled.
        se_jackknife: Jackknife standard error of ``delta`` (the studentized method's).
        df: Degrees of freedom of the studentized bounds (None for the bootstrap's).
        bca: BCa's (z0, acceleration) when they are defined, for :meth:`p_value`.
        distribution: The bootstrap values of ``delta``, sorted (not serialised).
    """

    metric: str
    higher_is_better: bool
    champion: float
    challenger: float
    delta: float
    lower: float
    upper: float
    confidence: float
    se: float
    n_rows: int
    n_resamples: int
    method: str
    quantiles: tuple[float, ...]
    n_groups: int | None = None
    se_jackknife: float | None = None
    df: int | None = None
    bca: tuple[float, float] | None = None
    distribution: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def n_units(self) -> int:
        """Resampling units: groups for a cluster bootstrap, else rows."""
        return self.n_groups if self.n_groups is not None else self.n_rows

    @property
    def decision_se(self) -> float:
        """The standard error behind the bounds: the jackknife's (studentized) or the bootstrap's."""
        if self.method == STUDENTIZED and self.se_jackknife is not None:
            return self.se_jackknife
        return self.se

    @property
    def difference(self) -> tuple[float, float, float]:
        """(Δ, lower, upper) as challenger − champion in the metric's own units.

        ``delta`` is oriented (positive = the challenger is better); for a loss the natural
        difference is its negative and the bounds swap.
        """
        if self.higher_is_better:
            return self.delta, self.lower, self.upper
        return -self.delta, -self.upper, -self.lower

    def p_value(
        self, threshold: float, alternative: Literal["greater", "less"] = "greater"
    ) -> float:
        """One-sided p-value of the oriented Δ against ``threshold``, by the method of the bounds.

        ``greater``: H0 Δ ≤ threshold against Δ > threshold (the challenger is better by more
        than the threshold); ``less``: H0 Δ ≥ threshold against Δ < threshold. ``p < 1 −
        confidence`` exactly when the corresponding bound clears the threshold, up to the
        interpolation between bootstrap order statistics. With no spread at all (identical
        models) the p-value is 0 when Δ is strictly on the alternative's side, else 1.
        """
        sign = 1.0 if alternative == "greater" else -1.0
        if self.method == STUDENTIZED and self.df is not None:
            se = self.decision_se
            return t_p_value(sign * self.delta, sign * threshold, se, self.df)
        boot = self.distribution
        if boot is None or boot.size == 0:
            raise StatisticsInputError(
                "this bootstrap result keeps no distribution; compute it with paired_bootstrap"
            )
        if alternative == "greater":
            return bootstrap_p_value(threshold, boot, self.bca)
        flipped = None if self.bca is None else (-self.bca[0], -self.bca[1])
        return bootstrap_p_value(-threshold, -boot[::-1], flipped)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dictionary of every field."""
        return {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "champion": self.champion,
            "challenger": self.challenger,
            "delta": self.delta,
            "lower": self.lower,
            "upper": self.upper,
            "confidence": self.confidence,
            "se": self.se,
            "n_rows": self.n_rows,
            "n_resamples": self.n_resamples,
            "method": self.method,
            "quantiles": list(self.quantiles),
            "n_groups": self.n_groups,
            "se_jackknife": self.se_jackknife,
            "df": self.df,
            "difference": dict(zip(("value", "lower", "upper"), self.difference, strict=True))
            | {"means": "challenger - champion, in the metric's units"},
        }


# ----------------------------------------------------------------------- validation


# ------------------------------------------------------------------- metric features
#
# Every metric except ROC AUC is a function of a few sums of per-row features. Features
# are stored as (k, n) arrays so that row sums are numpy's pairwise sums (as in sklearn).


# Multiclass features: ``y`` holds class codes as floats, ``proba`` is (n, k); the hard
# prediction is the row's argmax (first column on ties, as ``np.argmax``).


# ------------------------------------------------------------------------ resampling


def paired_bootstrap(
    metric: str,
    y_true: ArrayLike,
    score_champion: ArrayLike,
    score_challenger: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    groups: ArrayLike | None = None,
    batch_size: int | None = None,
    threshold: float = 0.5,
    small_sample_units: int = 0,
) -> PairedBootstrap:
    """Paired bootstrap of the oriented difference Δ between two models on the same rows.

    Each resample draws rows (or, with ``groups``, whole groups) with replacement, and the
    same draw weights both models. Δ = metric(challenger) − metric(champion) for metrics
    where higher is better and metric(champion) − metric(challenger) for losses, so Δ > 0
    always favours the challenger. The bounds are one-sided BCa bounds (Efron 1987), the
    method of ``scipy.stats.bootstrap(..., paired=True, method="BCa")``; ``lower`` is the
    bound of ``alternative="greater"`` and ``upper`` that of ``alternative="less"``.

    Multiclass (k ≥ 3 classes): ``y_true`` holds class codes 0..k−1 and each score is an
    (n, k) matrix of class probabilities, columns in code order (``predict_proba`` with
    ``classes_`` encoded as their positions). Sum metrics use per-class sums; ROC AUC is the
    one-vs-rest macro average, bootstrapped per class on the same resamples and averaged.

    Args:
        metric: A primary metric of the catalogue (:func:`challenger.metrics.primary_metrics`).
        y_true: Labels (0/1 binary, 0..k−1 multiclass) or regression targets, one per
            holdout row.
        score_champion: Champion's probability of class 1 (binary), (n, k) class
            probabilities (multiclass; an (n, 2) matrix counts as binary and its column 1
            is used), or prediction (regression), per row.
        score_challenger: Challenger's, on the same rows in the same order and, for
            multiclass, with the same columns.
        confidence: Confidence of each one-sided bound, in (0.5, 1).
        n_resamples: Bootstrap resamples (at least ``MIN_RESAMPLES``).
        seed: Seed of the resampling generator; same seed, same result.
        groups: Optional group identifier per row (user, session, …) for a cluster
            bootstrap: whole groups are resampled and jackknifed, so rows of a group stay
            together. Use it whenever rows of a group are not independent.
        batch_size: Resamples per batch. The default keeps a batch near 2**18 weights
            (~10 MB, cache-friendly); memory grows as ~40 bytes × batch_size × rows (ROC
            AUC) or groups. Results do not depend on it beyond floating-point rounding in
            the matrix products of the sum metrics (ROC AUC is exact integer arithmetic).
        threshold: Binary accuracy, balanced accuracy and macro F1 predict class 1 where
            ``score >= threshold`` (multiclass predictions are the row argmax).
        small_sample_units: Below this many resampling units (rows, or groups) the bounds
            are the studentized jackknife t bounds (:mod:`challenger.stats.small`); 0 (the
            default) always reports BCa. The gate passes ``gate.small_sample_rows``.

    Returns:
        The observed values, Δ, its bounds, standard error and bootstrap quantiles.

    Raises:
        StatisticsInputError: Invalid metric, arrays, groups, or arguments; fewer than
            ``MIN_UNITS`` rows (groups); fewer than two rows (groups) of a class for ROC AUC
            or balanced accuracy; a constant target for R²; or more than 10 % of resamples
            where the metric is undefined.
    """
    case = _Case.checked(
        metric, y_true, score_champion, score_challenger, confidence, n_resamples, batch_size,
        groups,
    )  # fmt: skip
    if metric == "roc_auc":
        comparison = case.auc(seed, batch_size)
    else:
        rng = np.random.default_rng(seed)
        comparison = sum_comparison(
            metric, case.y, case.s0, case.s1, case.codes, case.n_units, case.sign, threshold,
            rng, n_resamples, case.sum_batch(batch_size),
        )  # fmt: skip
    return case.result(comparison, confidence, small_sample_units)


def paired_bootstraps(
    requests: Mapping[str, int],
    y_true: ArrayLike,
    score_champion: ArrayLike,
    score_challenger: ArrayLike,
    *,
    confidence: float = 0.95,
    seed: int = 0,
    groups: ArrayLike | None = None,
    threshold: float = 0.5,
    small_sample_units: int = 0,
    executor: Executor | None = None,
) -> dict[str, PairedBootstrap | StatisticsInputError]:
    """:func:`paired_bootstrap` of several metrics on the same rows, each as if called alone.

    ``requests`` maps each metric to its resamples. Every result (or the
    :class:`StatisticsInputError` its own call would raise, returned in its place) is the
    one ``paired_bootstrap(metric, ..., n_resamples=requests[metric], seed=seed)`` gives:
    the sum metrics share one stream of resample counts (:func:`sum_comparisons`; the
    shorter requests take its first resamples, which is what their own stream would draw),
    so the draws are made once, not once per metric. With an ``executor`` the ROC AUC
    comparisons and the shared sum pass run as parallel jobs (numpy releases the GIL in
    the heavy steps); the results do not depend on it.
    """
    out: dict[str, PairedBootstrap | StatisticsInputError] = {}
    cases: dict[str, _Case] = {}
    for metric, n_resamples in requests.items():
        try:
            cases[metric] = _Case.checked(
                metric, y_true, score_champion, score_challenger, confidence, n_resamples,
                None, groups,
            )  # fmt: skip
        except StatisticsInputError as exc:
            out[metric] = exc
    sums = [m for m in cases if m != "roc_auc"]

    def sums_job() -> list[Comparison]:
        first = cases[sums[0]]
        shared = [
            SumRequest(
                m, cases[m].y, cases[m].s0, cases[m].s1, cases[m].sign, threshold, requests[m]
            )
            for m in sums
        ]
        rng = np.random.default_rng(seed)
        return sum_comparisons(shared, first.codes, first.n_units, rng, first.sum_batch(None))

    jobs: dict[str, Callable[[], Any]] = {}
    if "roc_auc" in cases:
        jobs["roc_auc"] = lambda: cases["roc_auc"].auc(seed, None)
    if sums:
        jobs["sums"] = sums_job
    if executor is None:
        finished = {name: job() for name, job in jobs.items()}
    else:
        futures = {name: executor.submit(job) for name, job in jobs.items()}
        finished = {name: future.result() for name, future in futures.items()}
    comparisons: dict[str, Comparison] = dict(zip(sums, finished.get("sums", ()), strict=True))
    if "roc_auc" in finished:
        comparisons["roc_auc"] = finished["roc_auc"]
    for metric, case in cases.items():
        try:
            out[metric] = case.result(comparisons[metric], confidence, small_sample_units)
        except StatisticsInputError as exc:
            out[metric] = exc
    return {m: out[m] for m in requests}


@dataclass(frozen=True)
class _Case:
    """One metric's checked inputs: what :func:`paired_bootstrap` validates before resampling."""

    metric: str
    info: Any
    y: np.ndarray
    s0: np.ndarray
    s1: np.ndarray
    codes: np.ndarray | None
    n_units: int
    n_resamples: int

    @classmethod
    def checked(
        cls,
        metric: str,
        y_true: ArrayLike,
        score_champion: ArrayLike,
        score_challenger: ArrayLike,
        confidence: float,
        n_resamples: int,
        batch_size: int | None,
        groups: ArrayLike | None,
    ) -> _Case:
        info = paired_metric(metric)
        y, s0, s1 = prepare(metric, y_true, score_champion, score_challenger)
        multiclass = s0.ndim == 2
        if not 0.5 < confidence < 1.0:
            raise StatisticsInputError(
                f"`confidence` must be in (0.5, 1) for a one-sided bound; got {confidence}."
            )
        if n_resamples < MIN_RESAMPLES:
            raise StatisticsInputError(
                f"`n_resamples` must be at least {MIN_RESAMPLES} (a few thousand is usual); "
                f"got {n_resamples}."
            )
        if batch_size is not None and batch_size < 1:
            raise StatisticsInputError(
                f"`batch_size` must be a positive integer; got {batch_size}."
            )
        codes, n_units = group_codes(groups, y.size)
        unit = "rows" if codes is None else "groups"
        if n_units < MIN_UNITS:
            raise StatisticsInputError(
                f"A bootstrap needs at least {MIN_UNITS} {unit}; got {n_units}; use a larger holdout."
            )
        validate_classes(metric, y, codes, 2, s0.shape[1] if multiclass else None)
        if metric == "r2" and np.ptp(y) == 0.0:
            raise StatisticsInputError("r2 is undefined for a constant `y_true`; use mse or mae.")
        return cls(metric, info, y, s0, s1, codes, n_units, n_resamples)

    @property
    def sign(self) -> float:
        return 1.0 if self.info.higher_is_better else -1.0

    def sum_batch(self, batch_size: int | None) -> int:
        return batch_size or max(1, BATCH_ELEMENTS // self.n_units)

    def auc(self, seed: int, batch_size: int | None) -> Comparison:
        y, s0, s1, codes, n_units = self.y, self.s0, self.s1, self.codes, self.n_units
        batch = batch_size or max(1, BATCH_ELEMENTS // y.size)
        if s0.ndim == 2:
            return ovr_auc_comparison(y, s0, s1, codes, n_units, seed, self.n_resamples, batch)
        rng = np.random.default_rng(seed)
        return auc_comparison(y, s0, s1, codes, n_units, rng, self.n_resamples, batch)

    def result(
        self, comparison: Comparison, confidence: float, small_sample_units: int
    ) -> PairedBootstrap:
        """The bounds, standard error and quantiles of a comparison of this case."""
        metric, n_resamples, n_units, codes = (
            self.metric,
            self.n_resamples,
            self.n_units,
            self.codes,
        )
        unit = "rows" if codes is None else "groups"
        boot = comparison.bootstrap[np.isfinite(comparison.bootstrap)]
        if boot.size < (1.0 - MAX_DEGENERATE_SHARE) * n_resamples:
            raise StatisticsInputError(
                f"{metric} is undefined in {n_resamples - boot.size} of {n_resamples} resamples "
                f"(a class or all target variation missing); the holdout has too few {unit} of "
                "the rare class; use a larger holdout."
            )
        alpha = 1.0 - confidence
        jack = comparison.jackknife
        lower, upper, method = bca_bounds(comparison.delta, boot, jack, alpha)
        se = float(np.std(boot, ddof=1))
        small = studentized_bounds(comparison.delta, jack, alpha, se)
        df: int | None = None
        if n_units < small_sample_units:
            lower, upper, method, df = small.lower, small.upper, STUDENTIZED, small.df
        quantiles = np.percentile(boot, np.arange(101, dtype=np.float64))
        return PairedBootstrap(
            metric=metric,
            higher_is_better=self.info.higher_is_better,
            champion=comparison.champion,
            challenger=comparison.challenger,
            delta=comparison.delta,
            lower=lower,
            upper=upper,
            confidence=confidence,
            se=se,
            n_rows=int(self.y.size),
            n_resamples=int(boot.size),
            method=method,
            quantiles=tuple(float(q) for q in quantiles),
            n_groups=None if codes is None else n_units,
            se_jackknife=small.se,
            df=df,
            bca=bca_parameters(comparison.delta, boot, jack) if method == "BCa" else None,
            distribution=np.sort(boot),
        )
