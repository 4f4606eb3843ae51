"""Evidence: champion and challenger scored on the same frozen holdout.

This module turns two models' predictions on one holdout into the numbers the gate decides
on: the primary metric's paired bounds (BCa bootstrap, or studentized jackknife t bounds on a
holdout of fewer than ``gate.small_sample_rows`` units: :mod:`challenger.stats.small`), the
declared decision-level metrics' bounds, secondary metrics with intervals, cross-checks
(McNemar mid-p, DeLong), per-slice deltas with Holm-adjusted regression tests, calibration,
and the operational indicators measured on the models loaded back from the registry
(:class:`Operational`; the latency is timed by ``challenger.gate.latency``). It also holds
:class:`Check`, the form every check of the gate takes, and the smoke test of a version
loaded back from the registry.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from challenger import metrics
from challenger.config import SliceConfig
from challenger.errors import StatisticsInputError
from challenger.problem import model_scores, predicted_labels, valid_scores
from challenger.stats import (
    SMALL_SAMPLE_UNITS,
    PairedBootstrap,
    delong_test,
    expected_calibration_error,
    holm,
    mcnemar_midp,
    metric_value,
    paired_bootstrap,
    paired_bootstraps,
)
from challenger.train.folds import time_order

#: Threads the gate's bootstraps run on (the slices, the ROC AUC, the shared sum metrics).
EVIDENCE_WORKERS = min(3, os.cpu_count() or 1)


@dataclass(frozen=True)
class Check:
    """One check of the gate, with what it saw and what it needed."""

    name: str
    passed: bool
    value: str
    threshold: str
    reason: str
    hard: bool = True  # a failure rejects (in dry_run only integrity checks still block)
    guardrail: bool = False  # slices, budgets, calibration: policy, not integrity

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass(frozen=True)
class Operational:
    """What running a model costs, measured rather than guessed (None: not measured)."""

    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    batch_ms_per_1k_rows: float | None = None
    model_size_mb: float | None = None
    training_seconds: float | None = None
    peak_memory_mb: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass(frozen=True)
class SliceResult:
    """The primary metric's paired delta within one slice of the holdout.

    Attributes:
        column: The slice column (``gate.slices``).
        value: The slice's value in it, as text.
        n_rows: Holdout rows in the slice.
        margin: The largest tolerated drop of the primary metric in the slice.
        delta: The oriented Δ on the slice (positive = challenger better); None if skipped.
        lower: Its one-sided lower bound (oriented).
        upper: Its one-sided upper bound (oriented).
        p_regression: H0: delta >= -margin; small p = confident regression.
        p_adjusted: ``p_regression`` Holm-adjusted across the judged slices.
        regressed: Holm rejects H0 on this slice: it regressed beyond its margin.
        skipped: Why the slice was reported but not judged.
    """

    column: str
    value: str
    n_rows: int
    margin: float
    delta: float | None = None
    lower: float | None = None
    upper: float | None = None
    p_regression: float | None = None
    p_adjusted: float | None = None
    regressed: bool = False
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass(frozen=True)
class Evidence:
    """What the gate sees about one champion/challenger comparison."""

    primary_metric: str
    higher_is_better: bool
    n_rows: int
    champion_version: int | None
    challenger_version: int
    challenger_value: float
    champion_value: float | None
    primary: PairedBootstrap | None
    secondary: dict[str, dict[str, float | None]] = field(default_factory=dict)
    cross_checks: dict[str, Any] = field(default_factory=dict)
    slices: tuple[SliceResult, ...] = ()
    calibration: dict[str, float | None] = field(default_factory=dict)
    operational: dict[str, Operational] = field(default_factory=dict)
    resample_unit: str = "rows"
    task: str = "binary"
    decision: dict[str, PairedBootstrap] = field(default_factory=dict)
    holdout: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "task": self.task,
            "primary_metric": self.primary_metric,
            "higher_is_better": self.higher_is_better,
            "holdout_rows": self.n_rows,
            "resample_unit": self.resample_unit,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "champion_value": self.champion_value,
            "challenger_value": self.challenger_value,
            "bootstrap": self.primary.to_dict() if self.primary else None,
            "decision_metrics": {m: b.to_dict() for m, b in self.decision.items()},
            "holdout": self.holdout,
            "secondary": self.secondary,
            "cross_checks": self.cross_checks,
            "slices": [s.to_dict() for s in self.slices],
            "calibration": self.calibration,
            "operational": {k: v.to_dict() for k, v in self.operational.items()},
        }


# ---- the smoke test --------------------------------------------------------------------------


def smoke_test(
    model: Any,
    sample: pd.DataFrame,
    version: int,
    expected_columns: list[str] | None,
    own_columns: list[str] | None,
    task: str = "binary",
) -> Check:
    """The registered version, loaded back from the registry, predicts on a sample.

    It must return finite scores of the task's shape (one probability per row, a row of
    class probabilities, or one number per row), and take the same input columns as the
    champion (when there is one).
    """
    try:
        scores = model_scores(model, sample, task)
    except Exception as exc:  # any failure to predict fails the check
        return Check(
            "smoke_test",
            False,
            "error",
            "predicts",
            f"v{version} loaded from the registry failed to predict: {exc}",
        )
    problem = valid_scores(scores, len(sample), task)
    if problem is not None:
        return Check(
            "smoke_test",
            False,
            f"shape {scores.shape}",
            "finite scores of the task's shape",
            f"v{version} returned unusable {task} scores: {problem}",
        )
    if (
        expected_columns is not None
        and own_columns is not None
        and sorted(expected_columns) != sorted(own_columns)
    ):
        missing = sorted(set(expected_columns) - set(own_columns))
        extra = sorted(set(own_columns) - set(expected_columns))
        return Check(
            "smoke_test",
            False,
            "schema differs",
            "champion's input schema",
            f"v{version}'s input schema differs from the champion's (missing {missing}, extra {extra})",
        )
    return Check(
        "smoke_test",
        True,
        f"{len(sample)} rows",
        "finite scores, champion's schema",
        f"v{version} loaded back from the registry and scored {len(sample)} rows with the champion's input schema",
    )


# ---- resampling units ------------------------------------------------------------------------


def resampling_groups(
    holdout: pd.DataFrame,
    unit: str,
    group_column: str | None,
    block_rows: int,
    timestamp: str | None,
) -> np.ndarray | None:
    """The bootstrap's resampling unit for each holdout row (None: rows are independent).

    ``groups`` keeps every row of a group (a user, a store) together; ``blocks`` cuts the
    holdout, in time order, into contiguous blocks of ``block_rows`` rows, so that serial
    correlation inside a block survives resampling (a non-overlapping block bootstrap).
    """
    if unit == "rows":
        return None
    if unit == "groups":
        if not group_column or group_column not in holdout.columns:
            raise StatisticsInputError(
                f"gate.group_column {group_column!r} is not a column of the holdout; name an existing column"
            )
        return np.asarray(holdout[group_column].astype(str).to_numpy())
    order = (
        time_order(holdout[timestamp])
        if timestamp and timestamp in holdout.columns
        else np.arange(len(holdout))
    )
    blocks = np.empty(len(holdout), dtype=np.int64)
    blocks[order] = np.arange(len(holdout)) // block_rows
    return blocks


# ---- the evidence ----------------------------------------------------------------------------


def _secondary(
    y: np.ndarray,
    challenger: np.ndarray,
    task: str,
    champion: np.ndarray | None = None,
    bootstrap: Callable[[str], PairedBootstrap] | None = None,
) -> dict[str, dict[str, float | None]]:
    """Each secondary metric of the task with its oriented Δ and bounds (None where undefined).

    Without a champion, the challenger's values only; with one, ``bootstrap`` gives a
    metric's paired bounds.
    """
    out: dict[str, dict[str, float | None]] = {}
    for m in metrics.secondary_metrics(task):
        try:
            row: dict[str, float | None] = {"challenger": metric_value(m, y, challenger)}
        except StatisticsInputError:
            continue  # undefined on this holdout (e.g. a class missing): not reported
        if champion is not None and bootstrap is not None:
            row["champion"] = metric_value(m, y, champion)  # defined where the challenger's is
            try:
                b = bootstrap(m)
                row |= {"delta": b.delta, "lower": b.lower, "upper": b.upper}
            except StatisticsInputError:
                row |= {"delta": None, "lower": None, "upper": None}
        out[m] = row
    return out


def slice_evidence(
    metric: str,
    y: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    slice_values: Mapping[str, np.ndarray],
    configs: Sequence[SliceConfig],
    *,
    confidence: float,
    n_resamples: int,
    seed: int,
    small_sample_units: int = SMALL_SAMPLE_UNITS,
    executor: Executor | None = None,
) -> tuple[SliceResult, ...]:
    """Per-slice paired deltas, with a Holm-adjusted test that no slice regressed.

    Each slice with enough rows gets a paired comparison of the primary metric (BCa, or the
    studentized bounds on a slice below ``small_sample_units`` rows). Its regression test is
    one-sided, H0: Δ ≥ −margin against Δ < −margin, with the p-value of the same method
    (:meth:`PairedBootstrap.p_value`): with no spread at all (both models alike on the slice)
    it is 1 unless Δ itself is below −margin. Holm's step-down adjustment keeps the chance of
    wrongly flagging any slice at most α = 1 − confidence however many slices there are.
    """
    pending = _submit_slices(
        metric, y, champion, challenger, slice_values, configs, confidence=confidence,
        n_resamples=n_resamples, seed=seed, small_sample_units=small_sample_units,
        executor=executor,
    )  # fmt: skip
    return _slice_results(pending, confidence)


def _slice_bootstrap(
    metric: str,
    y: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    mask: np.ndarray,
    **options: Any,
) -> PairedBootstrap | StatisticsInputError:
    try:
        return paired_bootstrap(metric, y[mask], champion[mask], challenger[mask], **options)
    except StatisticsInputError as exc:
        return exc


def _submit_slices(
    metric: str,
    y: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    slice_values: Mapping[str, np.ndarray],
    configs: Sequence[SliceConfig],
    *,
    confidence: float,
    n_resamples: int,
    seed: int,
    small_sample_units: int,
    executor: Executor | None,
) -> list[SliceResult | tuple[SliceResult, Future[PairedBootstrap | StatisticsInputError]]]:
    """Each slice, in report order: skipped already, or its bootstrap submitted."""
    options: dict[str, Any] = {
        "confidence": confidence,
        "n_resamples": max(200, n_resamples // 2),
        "seed": seed,
        "small_sample_units": small_sample_units,
    }
    pending: list[
        SliceResult | tuple[SliceResult, Future[PairedBootstrap | StatisticsInputError]]
    ] = []
    for cfg in configs:
        values = slice_values[cfg.column]
        for value in sorted(pd.unique(values).tolist(), key=str):
            mask = values == value
            n = int(mask.sum())
            base = SliceResult(cfg.column, str(value), n, cfg.margin)
            if n < cfg.min_rows:
                pending.append(
                    SliceResult(
                        **{**base.to_dict(), "skipped": f"{n} rows < min_rows {cfg.min_rows}"}
                    )
                )
                continue
            args = (metric, y, champion, challenger, mask)
            if executor is None:
                future: Future[PairedBootstrap | StatisticsInputError] = Future()
                future.set_result(_slice_bootstrap(*args, **options))
            else:
                future = executor.submit(_slice_bootstrap, *args, **options)
            pending.append((base, future))
    return pending


def _slice_results(
    pending: Sequence[
        SliceResult | tuple[SliceResult, Future[PairedBootstrap | StatisticsInputError]]
    ],
    confidence: float,
) -> tuple[SliceResult, ...]:
    """The slices' results, their regression p-values Holm-adjusted together."""
    results: list[SliceResult] = []
    judged: list[int] = []
    pvals: list[float] = []
    for entry in pending:
        if isinstance(entry, SliceResult):
            results.append(entry)
            continue
        base, future = entry
        b = future.result()
        if isinstance(b, StatisticsInputError):
            results.append(SliceResult(**{**base.to_dict(), "skipped": str(b)}))
            continue
        p = b.p_value(-base.margin, alternative="less")
        judged.append(len(results))
        pvals.append(p)
        results.append(
            SliceResult(
                base.column, base.value, base.n_rows, base.margin, b.delta, b.lower, b.upper, p
            )
        )
    if pvals:
        alpha = 1.0 - confidence
        reject, adjusted = holm(pvals, alpha)
        for i, idx in enumerate(judged):
            r = results[idx]
            results[idx] = SliceResult(
                **{**r.to_dict(), "p_adjusted": float(adjusted[i]), "regressed": bool(reject[i])}
            )
    return tuple(results)


def _calibration(y: np.ndarray, scores: np.ndarray, who: str, task: str) -> dict[str, float | None]:
    """ECE (top-label for multiclass) and Brier score; a regression has no probabilities."""
    if task == "regression":
        return {}
    return {
        f"ece_{who}": expected_calibration_error(y, scores),
        f"brier_{who}": metric_value("brier", y, scores),
    }


def output_agreement(champion: np.ndarray, challenger: np.ndarray, task: str) -> dict[str, float]:
    """How alike the two models' outputs are on the holdout, by the catalogue's similarity measures.

    Two models can score alike and still disagree on many rows; a high-stakes swap wants
    to know. Binary: the share of rows with the same decision, the Jaccard similarity of
    the rows each flags positive, the cosine similarity of the score vectors. Multiclass:
    the share of rows with the same predicted class and the mean Euclidean distance between
    the rows' probability vectors. Regression: the cosine similarity of the predictions and
    their root-mean-square difference (Euclidean distance / √n).
    """
    if task == "regression":
        return {
            "cosine": metrics.cosine(champion, challenger),
            "rms_difference": metrics.euclidean(champion, challenger) / math.sqrt(len(champion)),
        }
    a, b = predicted_labels(champion, task), predicted_labels(challenger, task)
    out = {"same_decision_share": float(np.mean(a == b))}
    if task == "binary":
        out["jaccard_positive"] = metrics.jaccard(np.flatnonzero(a), np.flatnonzero(b))
        out["cosine"] = metrics.cosine(champion, challenger)
    else:  # the catalogue's Euclidean distance, row by row (vectorised)
        out["mean_euclidean"] = float(np.mean(np.linalg.norm(champion - challenger, axis=1)))
    return out


def cross_checks(
    y: np.ndarray, champion: np.ndarray, challenger: np.ndarray, task: str
) -> dict[str, Any]:
    """Second opinions beside the bootstrap, each from a different test.

    Classification: McNemar's mid-p test on which rows each model classifies correctly,
    and for a binary task DeLong's test of the AUC difference. Regression: the Wilcoxon
    signed-rank test (``scipy.stats.wilcoxon``) of the paired absolute errors, and the
    share of rows where the challenger's error is smaller.
    """
    out: dict[str, Any] = {"agreement": output_agreement(champion, challenger, task)}
    if task == "regression":
        from scipy.stats import wilcoxon

        diff = np.abs(y - champion) - np.abs(y - challenger)  # > 0: challenger closer
        nonzero = diff[diff != 0]
        if nonzero.size < 10:
            out["wilcoxon_abs_error"] = {"skipped": f"{nonzero.size} rows differ; need 10"}
        else:
            w = wilcoxon(nonzero)
            out["wilcoxon_abs_error"] = {
                "challenger_closer_share": float(np.mean(nonzero > 0)),
                "statistic": float(w.statistic),
                "p_value": float(w.pvalue),
            }
        return out
    labels_champ = predicted_labels(champion, task)
    labels_chal = predicted_labels(challenger, task)
    mc = mcnemar_midp(labels_champ == y, labels_chal == y)
    out["mcnemar_midp"] = {
        "champion_only_correct": mc.b,
        "challenger_only_correct": mc.c,
        "p_value": mc.p_value,
    }
    if task == "binary":
        try:
            dl = delong_test(y, champion, challenger)
            out["delong_auc"] = {"delta": dl.delta, "se": dl.se, "z": dl.z, "p_value": dl.p_value}
        except StatisticsInputError as exc:
            out["delong_auc"] = {"skipped": str(exc)}
    return out


def gather_evidence(
    y: np.ndarray,
    challenger_scores: np.ndarray,
    champion_scores: np.ndarray | None,
    *,
    primary_metric: str,
    champion_version: int | None,
    challenger_version: int,
    confidence: float,
    n_resamples: int,
    seed: int,
    groups: np.ndarray | None = None,
    resample_unit: str = "rows",
    slice_values: Mapping[str, np.ndarray] | None = None,
    slices: Sequence[SliceConfig] = (),
    operational: Mapping[str, Operational] | None = None,
    task: str = "binary",
    decision_metrics: Sequence[str] = (),
    small_sample_units: int = SMALL_SAMPLE_UNITS,
) -> Evidence:
    """Score both models' predictions on the same holdout rows.

    Args:
        y: Holdout truth as :func:`challenger.tasks.encode_target` gives it (0/1, class
            codes or floats).
        challenger_scores: The challenger's scores on the holdout
            (:func:`challenger.tasks.model_scores`).
        champion_scores: The champion's, on the same rows; None when there is no champion.
        primary_metric: The metric the gate decides on.
        champion_version: Registry version of the champion, for the record.
        challenger_version: Registry version of the challenger.
        confidence: One-sided confidence level of the bootstrap bounds.
        n_resamples: Paired bootstrap resamples.
        seed: Bootstrap seed.
        groups: Resampling unit per row (see :func:`resampling_groups`); None for rows.
        resample_unit: Its name, for the record.
        slice_values: Holdout values of each slice column.
        slices: The slices to judge.
        operational: Measured indicators of "champion" and "challenger".
        task: binary, multiclass or regression.
        decision_metrics: Decision-level metrics compared beside the primary one, on the
            same resamples (``gate.decision_metrics``).
        small_sample_units: Below this many resampling units the bounds are the
            studentized jackknife t bounds (``gate.small_sample_rows``).
    """
    y = np.asarray(y)
    higher = metrics.info(primary_metric).higher_is_better
    chal_value = metric_value(primary_metric, y, challenger_scores)
    calibration = _calibration(y, challenger_scores, "challenger", task)
    ops = dict(operational or {})
    if champion_scores is None:
        secondary = _secondary(y, challenger_scores, task)
        return Evidence(
            primary_metric,
            higher,
            len(y),
            None,
            challenger_version,
            chal_value,
            None,
            None,
            secondary,
            {},
            (),
            calibration,
            ops,
            resample_unit,
            task,
        )
    champ_value = metric_value(primary_metric, y, champion_scores)
    # Every bootstrap of the gate, as paired_bootstrap would give it alone: the decision
    # metrics on the full resamples, an informing secondary metric on half (at least 200).
    requests = {primary_metric: n_resamples} | {m: n_resamples for m in decision_metrics}
    for m in metrics.secondary_metrics(task):
        requests.setdefault(m, max(200, n_resamples // 2))
    # The slices, the ROC AUC and the shared pass of the sum metrics are independent jobs;
    # numpy releases the GIL in their heavy steps, so they run side by side.
    with ThreadPoolExecutor(max_workers=EVIDENCE_WORKERS) as pool:
        sliced = _submit_slices(
            primary_metric, y, champion_scores, challenger_scores, slice_values or {},
            slices if slice_values is not None else (), confidence=confidence,
            n_resamples=n_resamples, seed=seed, small_sample_units=small_sample_units,
            executor=pool,
        )  # fmt: skip
        boots = paired_bootstraps(
            requests,
            y,
            champion_scores,
            challenger_scores,
            confidence=confidence,
            seed=seed,
            groups=groups,
            small_sample_units=small_sample_units,
            executor=pool,
        )
        slice_results = _slice_results(sliced, confidence)

    def compare(metric: str) -> PairedBootstrap:
        found = boots[metric]
        if isinstance(found, StatisticsInputError):
            raise found
        return found

    boot = compare(primary_metric)
    decision = {m: compare(m) for m in decision_metrics if m != primary_metric}
    secondary = _secondary(y, challenger_scores, task, champion_scores, compare)
    cross = cross_checks(y, champion_scores, challenger_scores, task)
    calibration |= _calibration(y, champion_scores, "champion", task)
    return Evidence(
        primary_metric,
        higher,
        len(y),
        champion_version,
        challenger_version,
        chal_value,
        champ_value,
        boot,
        secondary,
        cross,
        slice_results,
        calibration,
        ops,
        resample_unit,
        task,
        decision,
    )
